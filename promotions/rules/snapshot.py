"""Compile the rules snapshot once per process; recompile when any rule changes.

A change to a promotion, a reward, a currency, a counter or a programme bumps a version stamp
in the shared cache (Redis in production, so every process sees it); a process compares its
snapshot's stamp with the cache on each use and recompiles when they differ. With a
per-process cache (no CACHE_URL) a snapshot also expires after ``LOCAL_MAX_AGE`` seconds, so
a change made in another process shows within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Max, Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils.translation import gettext_lazy

from loyalty.stamps import stamp_bump, stamp_get
from promotions.bands import bands_of
from promotions.engine.types import (
    ConditionRule,
    CounterRule,
    CurrencyRule,
    ProductSetRule,
    ProgrammeRule,
    PromotionRule,
    RewardRule,
    RulesSnapshot,
    SpendRuleRule,
    TierRule,
    TriggerRule,
)

CACHE_KEY = "promotions:rules-version"
# Told to the cashier when a currency spent in blocks cuts a spend down (translated when the
# engine fills it in, in the language of the request).
SPEND_BLOCK_NOTE = gettext_lazy(
    "Points are spent in blocks of %(block)s: %(spent)s spent on this receipt."
)
LOCAL_MAX_AGE = 30.0

_lock = threading.Lock()
_current: tuple[RulesSnapshot, float] | None = None


def snapshot_get() -> RulesSnapshot:
    """The current snapshot (compiled on first use and after every change)."""
    global _current
    version = stamp_get(CACHE_KEY)
    current = _current
    if (
        current is not None
        and current[0].version == version
        and time.monotonic() - current[1] < LOCAL_MAX_AGE
    ):
        return current[0]
    with _lock:
        snapshot = snapshot_compile(version)
        _current = (snapshot, time.monotonic())
        return snapshot


def snapshot_invalidate(**_kwargs) -> None:
    """Make every process recompile its snapshot on its next use."""
    global _current
    stamp_bump(CACHE_KEY)
    _current = None


def snapshot_compile(version: str, drafts: Iterable[int] = ()) -> RulesSnapshot:
    """Compile the rules; ``drafts``: ids of draft promotions to include as if active (the
    simulator tests them before they go live)."""
    from loyalty.models import Counter, Currency, Programme, Tier
    from promotions.models import Promotion, PromotionVersion, SpendRule

    currencies = {
        currency.pk: CurrencyRule(
            id=currency.pk,
            code=currency.code,
            decimal_places=currency.decimal_places,
            rub_rate=currency.rub_rate,
            lifetime=timedelta(days=currency.lifetime_days) if currency.lifetime_days else None,
            max_spend_percent=currency.max_spend_percent,
            spend_block=currency.spend_block,
            spend_block_note=SPEND_BLOCK_NOTE if currency.spend_block else "",
        )
        for currency in Currency.objects.all()
    }
    mains = dict(Currency.objects.filter(is_default=True).values_list("programme_id", "pk"))
    programmes = {
        programme.pk: ProgrammeRule(
            id=programme.pk,
            max_spend_percent=programme.max_spend_percent,
            min_money_payment=programme.min_money_payment,
            offline_spend_cap=programme.offline_spend_cap,
            main_currency_id=mains.get(programme.pk),
            partner_id=programme.partner_id,
            is_active=programme.is_active,
            hold_minutes=programme.hold_minutes,
            refund_shortfall_policy=programme.refund_shortfall_policy,
            offline_window_days=programme.offline_window_days,
            certificates_earn=programme.certificate_payment_earns,
            max_receipt_lines=programme.max_receipt_lines,
        )
        for programme in Programme.objects.all()
    }
    product_sets = product_sets_load()
    drafts = set(drafts)
    every = tuple(
        _promotion_rule(promotion, product_sets, as_active=promotion.pk in drafts)
        for promotion in Promotion.objects.filter(
            ~Q(status=Promotion.Status.DRAFT) | Q(pk__in=drafts)
        )
        .select_related("group")
        .prefetch_related(
            "rewards",
            "conditions__tiers",
            "stores",
            "terminals",
            "tiers",
            "segments",
            "card_batches",
        )
        .order_by("-priority", "pk")
    )
    promotions = tuple(rule for rule in every if rule.trigger is None)
    occasions = tuple(rule for rule in every if rule.trigger is not None)
    counters = tuple(
        CounterRule(
            id=counter.pk,
            code=counter.code,
            programme_id=counter.programme_id,
            unit=counter.unit,
            period=counter.period,
        )
        for counter in Counter.objects.filter(is_active=True)
    )
    tiers = tuple(
        TierRule(
            id=tier.pk,
            programme_id=tier.programme_id,
            name=tier.name,
            rank=tier.rank,
            threshold=tier.threshold,
        )
        for tier in Tier.objects.all()
    )
    spend_rules = {
        rule.pk: SpendRuleRule(
            id=rule.pk,
            product_set=product_sets.get(rule.product_set_id),
            min_receipt=rule.min_receipt,
            store_ids=frozenset(store.pk for store in rule.stores.all()),
            time_from=rule.time_from,
            time_to=rule.time_to,
            max_percent=rule.max_percent,
        )
        for rule in SpendRule.objects.prefetch_related("stores")
    }
    return RulesSnapshot(
        version=version,
        spend_rules=spend_rules,
        changed_at=PromotionVersion.objects.aggregate(last=Max("created_at"))["last"],
        tiers=tiers,
        programmes=programmes,
        currencies=currencies,
        promotions=promotions,
        occasions=occasions,
        counters=counters,
    )


def _descendants(parents: dict[int, int | None]) -> dict[int, frozenset[int]]:
    """Each category with all its subcategories (cycles, which validation forbids, are cut)."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found = {}
    for root in parents:
        seen, stack = {root}, [root]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        found[root] = frozenset(seen)
    return found


def product_sets_load() -> dict[int, ProductSetRule]:
    from loyalty.models import Category
    from promotions.models import ProductSet

    below = _descendants(dict(Category.objects.values_list("pk", "parent_id")))

    def expand(ids) -> frozenset[int]:
        return frozenset().union(*(below.get(pk, {pk}) for pk in ids)) if ids else frozenset()

    rules = {}
    for product_set in ProductSet.objects.prefetch_related(
        "products",
        "categories",
        "brands",
        "lists__products",
        "excluded_products",
        "excluded_categories",
    ):
        # A product list is expanded into its products here: a sale's lines need only ids.
        listed = [p.pk for x in product_set.lists.all() for p in x.products.all()]
        rules[product_set.pk] = ProductSetRule(
            id=product_set.pk,
            product_ids=frozenset([p.pk for p in product_set.products.all()] + listed),
            category_ids=expand([c.pk for c in product_set.categories.all()]),
            brand_ids=frozenset(b.pk for b in product_set.brands.all()),
            excluded_product_ids=frozenset(p.pk for p in product_set.excluded_products.all()),
            excluded_category_ids=expand([c.pk for c in product_set.excluded_categories.all()]),
        )
    return rules


def _promotion_rule(
    promotion, product_sets: dict[int, ProductSetRule], *, as_active: bool = False
) -> PromotionRule:
    return PromotionRule(
        id=promotion.pk,
        name=promotion.name,
        programme_id=promotion.programme_id,
        partner_id=promotion.partner_id,
        status="active" if as_active else promotion.status,
        priority=promotion.priority,
        starts_at=promotion.starts_at,
        ends_at=promotion.ends_at,
        cashier_message=promotion.cashier_message,
        customer_message=promotion.customer_message,
        group_id=promotion.group_id,
        group_mode=promotion.group.mode if promotion.group_id else "all",
        exclusive=promotion.exclusive,
        store_ids=frozenset(store.pk for store in promotion.stores.all()),
        terminal_ids=frozenset(terminal.pk for terminal in promotion.terminals.all()),
        channels=frozenset(promotion.channels or ()),
        tier_ids=frozenset(tier.pk for tier in promotion.tiers.all()),
        weekdays=frozenset(int(day) for day in promotion.weekdays or ()),
        time_from=promotion.time_from,
        time_to=promotion.time_to,
        segment_ids=frozenset(segment.pk for segment in promotion.segments.all()),
        card_batch_ids=frozenset(batch.pk for batch in promotion.card_batches.all()),
        card_types=frozenset(promotion.card_types or ()),
        new_within_days=promotion.new_within_days,
        referred_only=promotion.referred_only,
        around_date=promotion.around_date,
        days_before=promotion.days_before,
        days_after=promotion.days_after,
        budget=promotion.budget,
        max_per_receipt=promotion.max_per_receipt,
        uses_per_customer=promotion.uses_per_customer,
        uses_per_customer_day=promotion.uses_per_customer_day,
        uses_per_day=promotion.uses_per_day,
        trigger=_trigger_rule(promotion),
        coupon_series_id=promotion.coupon_series_id,
        code=promotion.code,
        exchange_cost=promotion.exchange_cost,
        exchange_currency_id=promotion.exchange_currency_id,
        conditions=tuple(
            ConditionRule(
                id=condition.pk,
                or_group=condition.or_group,
                kind=condition.kind,
                operator=condition.operator,
                amount=condition.amount,
                quantity=condition.quantity,
                product_set=product_sets.get(condition.product_set_id),
                tier_ids=frozenset(tier.pk for tier in condition.tiers.all()),
                counter_id=condition.counter_id,
                promotion_id=condition.done_promotion_id,
            )
            for condition in sorted(promotion.conditions.all(), key=lambda c: (c.or_group, c.pk))
        ),
        rewards=tuple(
            RewardRule(
                id=reward.pk,
                kind=reward.kind,
                value=reward.value,
                currency_id=reward.currency_id,
                activation_delay=timedelta(days=reward.activation_delay_days),
                lifetime=timedelta(days=reward.lifetime_days) if reward.lifetime_days else None,
                product_set=product_sets.get(reward.product_set_id),
                every_n=reward.every_n,
                multiplier_of=reward.multiplier_of_id,
                expires_on=reward.expires_on,
                min_line_quantity=reward.min_line_quantity,
                counter_id=reward.counter_id,
                coupon_series=reward.coupon_series,
                spend_rule_id=reward.spend_rule_id,
                beneficiary=reward.beneficiary,
                expires_days_after_date=reward.expires_days_after_date,
                expires_day_of_next_month=reward.expires_day_of_next_month,
                favourites_only=reward.favourites_only,
                tier_id=reward.tier_id,
                max_units=reward.max_units,
                band_basis=reward.band_basis if reward.bands else "",
                bands=bands_of(reward.bands) if reward.band_basis else (),
                band_counter_id=reward.band_counter_id,
            )
            for reward in sorted(promotion.rewards.all(), key=lambda r: r.pk)
        ),
    )


def _trigger_rule(promotion) -> TriggerRule | None:
    if promotion.trigger == "receipt":
        return None
    return TriggerRule(
        kind=promotion.trigger,
        event_type_id=promotion.event_type_id,
        counter_id=promotion.trigger_counter_id,
        value=promotion.trigger_value,
        tier_id=promotion.trigger_tier_id,
        channel=promotion.trigger_channel,
        date=promotion.trigger_date,
        question_id=promotion.trigger_question_id,
        offset_days=promotion.trigger_offset_days,
        day=promotion.trigger_day,
    )


def connect_signals() -> None:
    from loyalty.models import Category, Counter, Currency, ProductList, Programme, Tier
    from promotions.models import (
        CompatibilityGroup,
        Condition,
        ProductSet,
        Promotion,
        PromotionVersion,
        Reward,
        SpendRule,
    )

    for through in (
        Promotion.stores.through,
        Promotion.terminals.through,
        Promotion.tiers.through,
        Promotion.segments.through,
        Promotion.card_batches.through,
        SpendRule.stores.through,
        Condition.tiers.through,
        ProductSet.products.through,
        ProductSet.categories.through,
        ProductSet.brands.through,
        ProductSet.lists.through,
        ProductSet.excluded_products.through,
        ProductSet.excluded_categories.through,
        ProductList.products.through,
    ):
        m2m_changed.connect(
            snapshot_invalidate, sender=through, dispatch_uid=f"rules-m2m-{through.__name__}"
        )
    for model in (
        Promotion,
        Reward,
        Condition,
        CompatibilityGroup,
        SpendRule,
        PromotionVersion,
        ProductSet,
        ProductList,
        Category,
        Currency,
        Counter,
        Programme,
        Tier,
    ):
        post_save.connect(snapshot_invalidate, sender=model, dispatch_uid=f"rules-{model.__name__}")
        post_delete.connect(
            snapshot_invalidate, sender=model, dispatch_uid=f"rules-del-{model.__name__}"
        )
