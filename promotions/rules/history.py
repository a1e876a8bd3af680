"""The rules as they were at a past moment: a receipt sold offline (or sent with an earlier
time of sale) is evaluated with the promotion versions in force when it was sold.

Every change of a promotion made in the admin, by an action or by an import keeps a
``PromotionVersion`` (docs/promotion-format.md). For a moment ``at`` earlier than the last
version, each promotion changed since is taken as its latest version saved at or before
``at``: a promotion created after ``at`` did not exist then and is left out; one whose versions
all came later (made before versions were kept) is taken as its first version. What versions
do not hold is taken as it is now: product sets, compatibility groups' modes, spending rules,
tiers, segments and counters. The snapshots built are remembered per process, keyed by the
current rules and the versions chosen, so a batch of offline receipts compiles each once.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils.dateparse import parse_date, parse_datetime, parse_time

from promotions.bands import bands_of
from promotions.engine.types import ConditionRule, PromotionRule, RewardRule, RulesSnapshot

_lock = threading.Lock()
_built: dict[tuple, RulesSnapshot] = {}
_BUILT_MAX = 64


def snapshot_at(at: datetime, current: RulesSnapshot) -> RulesSnapshot:
    """The rules in force at ``at``; ``current`` when no promotion changed since."""
    from promotions.models import Promotion, PromotionVersion

    if current.changed_at is None or at >= current.changed_at:
        return current
    changed = set(
        PromotionVersion.objects.filter(created_at__gt=at).values_list("promotion_id", flat=True)
    )
    if not changed:
        return current
    chosen: dict[int, PromotionVersion | None] = {}
    for version in PromotionVersion.objects.filter(
        promotion_id__in=changed, created_at__lte=at
    ).order_by("promotion_id", "number"):
        chosen[version.promotion_id] = version  # the last one at or before ``at`` wins
    created = dict(Promotion.objects.filter(pk__in=changed).values_list("pk", "created_at"))
    for promotion_id in changed - chosen.keys():
        if promotion_id in created and created[promotion_id] <= at:
            chosen[promotion_id] = (
                PromotionVersion.objects.filter(promotion_id=promotion_id)
                .order_by("number")
                .first()
            )
        else:
            chosen[promotion_id] = None  # it did not exist yet (or is gone)
    key = (current.version, tuple(sorted((pid, v.pk if v else 0) for pid, v in chosen.items())))
    with _lock:
        found = _built.get(key)
    if found is not None:
        return found
    lookups = _Lookups(current)
    kept = [rule for rule in current.promotions if rule.id not in chosen]
    then = [
        rule_from_data(version.data, version.promotion_id, lookups)
        for version in chosen.values()
        if version is not None
    ]
    promotions = sorted(kept + [rule for rule in then if rule is not None], key=_walk_order)
    snapshot = replace(
        current, version=f"{current.version}@{at.isoformat()}", promotions=tuple(promotions)
    )
    with _lock:
        if len(_built) >= _BUILT_MAX:
            _built.clear()
        _built[key] = snapshot
    return snapshot


def _walk_order(rule: PromotionRule):
    return (-rule.priority, rule.id)


class _Lookups:
    """Natural keys of the exchange format to the ids the engine uses."""

    def __init__(self, current: RulesSnapshot):
        from crm.models import Segment
        from loyalty.models import (
            CardBatch,
            Counter,
            Currency,
            Partner,
            Programme,
            Store,
            Terminal,
            Tier,
        )
        from promotions.models import CompatibilityGroup, ProductSet, Promotion, SpendRule

        self.programmes = dict(Programme.objects.values_list("code", "pk"))
        self.partners = dict(Partner.objects.values_list("code", "pk"))
        self.stores = dict(Store.objects.values_list("code", "pk"))
        self.terminals = dict(Terminal.objects.values_list("code", "pk"))
        self.currencies = dict(Currency.objects.values_list("code", "pk"))
        self.tiers = {
            (p, c): pk for pk, p, c in Tier.objects.values_list("pk", "programme", "code")
        }
        self.segments = {
            (p, c): pk for pk, p, c in Segment.objects.values_list("pk", "programme", "code")
        }
        self.batches = dict(CardBatch.objects.values_list("code", "pk"))
        from promotions.models import CouponSeries

        self.coupon_series = {
            (p, c): pk for pk, p, c in CouponSeries.objects.values_list("pk", "programme", "code")
        }
        self.counters = {
            (p, c): pk for pk, p, c in Counter.objects.values_list("pk", "programme", "code")
        }
        self.groups = {
            (p, n): (pk, mode)
            for pk, p, n, mode in CompatibilityGroup.objects.values_list(
                "pk", "programme", "name", "mode"
            )
        }
        from promotions.rules.snapshot import product_sets_load

        sets = product_sets_load()
        self.product_sets = {
            (p, n): sets.get(pk)
            for pk, p, n in ProductSet.objects.values_list("pk", "programme", "name")
        }
        self.spend_rules = {
            (p, n): pk for pk, p, n in SpendRule.objects.values_list("pk", "programme", "name")
        }
        self.promotions = {}
        for pk, programme, code, name in Promotion.objects.values_list(
            "pk", "programme", "code", "name"
        ):
            self.promotions.setdefault((programme, name), pk)
            if code:
                self.promotions[(programme, code)] = pk


def _dec(value) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _moment(value, parse):
    return parse(value) if value else None


def rule_from_data(data: dict, promotion_id: int, lookups: _Lookups) -> PromotionRule | None:
    """A ``PromotionRule`` from a promotion in the exchange format (a version's data)."""
    programme = lookups.programmes.get(data.get("programme"))
    if programme is None or (data.get("trigger") or {}).get("kind", "receipt") != "receipt":
        return None  # gone, or a promotion started by an occasion, not by a receipt

    def in_programme(table, keys):
        return frozenset(pk for key in keys or () if (pk := table.get((programme, key))))

    group = lookups.groups.get((programme, data.get("group"))) if data.get("group") else None
    conditions = tuple(
        ConditionRule(
            id=-(n + 1),
            or_group=row.get("or_group", 1),
            kind=row["kind"],
            operator=row.get("operator") or "gte",
            amount=_dec(row.get("amount")),
            quantity=_dec(row.get("quantity")),
            product_set=lookups.product_sets.get((programme, row.get("product_set"))),
            tier_ids=in_programme(lookups.tiers, row.get("tiers")),
            counter_id=lookups.counters.get((programme, row.get("counter"))),
            promotion_id=lookups.promotions.get((programme, row.get("promotion"))),
        )
        for n, row in enumerate(data.get("conditions") or ())
    )
    rewards = tuple(
        RewardRule(
            id=-(n + 1),
            kind=row["kind"],
            value=Decimal(row["value"]),
            currency_id=lookups.currencies.get(row.get("currency")),
            activation_delay=timedelta(days=row.get("activation_delay_days") or 0),
            lifetime=timedelta(days=row["lifetime_days"]) if row.get("lifetime_days") else None,
            product_set=lookups.product_sets.get((programme, row.get("product_set"))),
            every_n=row.get("every_n"),
            multiplier_of=lookups.promotions.get((programme, row.get("multiplier_of"))),
            expires_on=_moment(row.get("expires_on"), parse_date),
            min_line_quantity=_dec(row.get("min_line_quantity")),
            counter_id=lookups.counters.get((programme, row.get("counter"))),
            coupon_series=row.get("coupon_series") or "",
            spend_rule_id=lookups.spend_rules.get((programme, row.get("spend_rule"))),
            beneficiary=row.get("beneficiary") or "customer",
            favourites_only=bool(row.get("favourites_only")),
            tier_id=lookups.tiers.get((programme, row.get("tier"))),
            max_units=row.get("max_units"),
            band_basis=(row.get("band_basis") or "") if row.get("bands") else "",
            bands=bands_of(row.get("bands")) if row.get("band_basis") else (),
            band_counter_id=lookups.counters.get((programme, row.get("band_counter"))),
        )
        for n, row in enumerate(data.get("rewards") or ())
    )
    return PromotionRule(
        id=promotion_id,
        name=data.get("name") or "",
        programme_id=programme,
        partner_id=lookups.partners.get(data.get("partner")),
        status=data.get("status") or "draft",
        priority=data.get("priority", 0),
        starts_at=_moment(data.get("starts_at"), parse_datetime),
        ends_at=_moment(data.get("ends_at"), parse_datetime),
        rewards=rewards,
        cashier_message=data.get("cashier_message") or "",
        group_id=group[0] if group else None,
        group_mode=group[1] if group else "all",
        exclusive=bool(data.get("exclusive")),
        store_ids=frozenset(
            pk for code in data.get("stores") or () if (pk := lookups.stores.get(code))
        ),
        terminal_ids=frozenset(
            pk for code in data.get("terminals") or () if (pk := lookups.terminals.get(code))
        ),
        channels=frozenset(data.get("channels") or ()),
        tier_ids=in_programme(lookups.tiers, data.get("tiers")),
        weekdays=frozenset(int(day) for day in data.get("weekdays") or ()),
        time_from=_moment(data.get("time_from"), parse_time),
        time_to=_moment(data.get("time_to"), parse_time),
        conditions=conditions,
        segment_ids=in_programme(lookups.segments, data.get("segments")),
        card_batch_ids=frozenset(
            pk for code in data.get("card_series") or () if (pk := lookups.batches.get(code))
        ),
        card_types=frozenset(data.get("card_types") or ()),
        new_within_days=data.get("new_within_days"),
        referred_only=bool(data.get("referred_only")),
        around_date=data.get("around_date") or "",
        days_before=data.get("days_before") or 0,
        days_after=data.get("days_after") or 0,
        budget=_dec(data.get("budget")),
        max_per_receipt=_dec(data.get("max_per_receipt")),
        uses_per_customer=data.get("uses_per_customer"),
        uses_per_customer_day=data.get("uses_per_customer_day"),
        uses_per_day=data.get("uses_per_day"),
        code=data.get("code") or "",
        exchange_cost=_dec(data.get("exchange_cost")),
        exchange_currency_id=lookups.currencies.get(data.get("exchange_currency")),
        coupon_series_id=lookups.coupon_series.get((programme, data.get("coupon_series"))),
    )


def forget() -> None:
    """Drop the snapshots built (tests)."""
    with _lock:
        _built.clear()


__all__ = ["forget", "rule_from_data", "snapshot_at"]
