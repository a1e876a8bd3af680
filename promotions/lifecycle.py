"""Rewards that follow a customer's life rather than a receipt (mechanics.md items 9-12, 17,
18, 22): promotions started by an occasion (registration, first purchase, profile completed,
a consent, a tier reached, a counter reaching a value, an event from the API, a date of the
customer, a day of the month).

The occasions of the core arrive through ``crm.signals.customer_occasion``, inside the
transaction of their cause; the dates through ``lifecycle_dates_run``, the daily job. Either
way a promotion rewards a customer at most once per occasion: ``TriggerFiring`` is unique per
promotion, customer and occasion key, and is inserted before anything is given, so retries,
races and re-runs of the daily job give nothing twice.

The audience, scope, period, limits and customer conditions are checked by the engine, as on
a receipt (``occasion_refusal``); the limits count the firings.
"""

from __future__ import annotations

import calendar
import logging
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from crm.models import Customer, FamilyMember, MemorableDate, ProfileAnswer, SegmentMember
from loyalty.models import (
    Account,
    Card,
    Counter,
    CounterValue,
    Partner,
    Posting,
    Terminal,
    TierMembership,
)
from loyalty.money import ZERO, quantize
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
    programme_account,
)
from promotions.chains import chain_steps_done
from promotions.counters import counter_step
from promotions.coupons import coupons_grant
from promotions.engine import CustomerFacts, ReceiptContext, period_start
from promotions.engine.evaluate import occasion_refusal
from promotions.engine.types import (
    CouponAward,
    PromotionRule,
    RewardRule,
    RulesSnapshot,
    UsageFacts,
)
from promotions.models import LifecycleRun, Promotion, TriggerFiring
from promotions.rules.snapshot import snapshot_get
from promotions.signals import occasion_rewarded

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "lifecycle"
DATES_JOB = "dates"
# A job that did not run for longer than this catches up this many days only.
CATCH_UP_DAYS = 31
# Occasions whose key is the same whenever they happen: rewarded once in a customer's life.
ONCE = {
    "registration": "registration",
    "first_purchase": "first_purchase",
    "profile_completed": "profile",
}


@dataclass(frozen=True)
class Occasion:
    kind: str
    customer: Customer
    key: str
    at: datetime
    terminal: Terminal | None = None
    anchor: date | None = None  # a date trigger's date (the birthday this year...)
    event: object | None = None
    receipt: object | None = None


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _local_zone(terminal: Terminal | None):
    if terminal is not None:
        return zoneinfo.ZoneInfo(terminal.store.timezone)
    return _zone()


# --- occasions of the core ------------------------------------------------------------------


def on_customer_occasion(sender, kind, customer, at, terminal=None, details=None, **_kwargs):
    """``crm.signals.customer_occasion`` receiver: reward what the occasion starts."""
    return occasion_fire(kind, customer, at, terminal=terminal, **(details or {}))


def occasion_fire(
    kind: str, customer: Customer, at: datetime, terminal: Terminal | None = None, **details
) -> list[TriggerFiring]:
    """Reward ``customer`` for an occasion with every promotion it starts; return the firings
    made now (nothing for an occasion already rewarded). Runs in the caller's transaction."""
    snapshot = snapshot_get()
    if kind not in snapshot.occasion_kinds or customer.is_anonymised:
        return []
    fired = []
    for rule in snapshot.occasions_of(kind):
        key = _key(rule, kind, details)
        if key is None:
            continue
        occasion = Occasion(
            kind=kind,
            customer=customer,
            key=key,
            at=at,
            terminal=terminal,
            event=details.get("event"),
            receipt=details.get("receipt"),
        )
        firing = promotion_fire(snapshot, rule, occasion)
        if firing is not None:
            fired.append(firing)
    return fired


def _key(rule: PromotionRule, kind: str, details: dict) -> str | None:
    """The occasion's key for ``rule``, or None when the occasion is not the rule's."""
    trigger = rule.trigger
    if kind in ONCE:
        return ONCE[kind]
    if kind == "consent":
        channel = details["channel"]
        return f"consent:{channel}" if trigger.channel in ("", channel) else None
    if kind == "tier_change":
        if not details.get("up") or trigger.tier_id not in (None, details["tier_id"]):
            return None
        return f"tier:{details['tier_id']}"
    if kind == "counter":
        if trigger.counter_id != details["counter_id"] or trigger.value is None:
            return None
        if not details["before"] < trigger.value <= details["after"]:
            return None
        return f"counter:{details['period_start']}"
    if kind == "event":
        event = details["event"]
        return f"event:{event.pk}" if trigger.event_type_id == event.type_id else None
    return None


# --- one promotion, one customer, one occasion ----------------------------------------------


def promotion_fire(
    snapshot: RulesSnapshot, rule: PromotionRule, occasion: Occasion
) -> TriggerFiring | None:
    """Reward the occasion's customer with ``rule`` unless it refuses or already did."""
    customer = occasion.customer
    if _already(rule, customer, occasion.key):
        return None
    with transaction.atomic():
        limited = rule.limited
        if limited:
            # One firing at a time per limited promotion: its budget and counts hold.
            Promotion.objects.select_for_update().filter(pk=rule.id).first()
        ctx = _context(snapshot, rule, occasion, _usage(rule, occasion) if limited else None)
        reason = occasion_refusal(snapshot, rule, ctx)
        if reason is not None:
            log.debug("promotion %s refuses %s for %s: %s", rule.id, occasion.key, customer, reason)
            return None
        try:
            with transaction.atomic():
                firing = TriggerFiring.objects.create(
                    promotion_id=rule.id,
                    customer=customer,
                    key=occasion.key,
                    occurred_at=occasion.at,
                    event=occasion.event,
                    receipt=occasion.receipt,
                )
        except IntegrityError:
            return None  # a racing run rewarded it first
        given, points = _give(snapshot, rule, occasion, firing, ctx.local_date)
        if given:
            TriggerFiring.objects.filter(pk=firing.pk).update(given=given)
            firing.given = given
        occasion_rewarded.send(sender=TriggerFiring, firing=firing, rule=rule, points=points)
        return firing


def _already(rule: PromotionRule, customer: Customer, key: str) -> bool:
    return TriggerFiring.objects.filter(promotion_id=rule.id, customer=customer, key=key).exists()


def _usage(rule: PromotionRule, occasion: Occasion) -> dict[int, UsageFacts]:
    """What the promotion gave so far, counted on its firings (read under its lock)."""
    firings = TriggerFiring.objects.filter(promotion_id=rule.id)
    day = timezone.localtime(occasion.at, _local_zone(occasion.terminal)).date()
    start = datetime.combine(day, time.min, tzinfo=_local_zone(occasion.terminal))
    end = start + timedelta(days=1)
    totals = firings.aggregate(
        given=Sum("given"),
        customer_uses=Count("pk", filter=Q(customer=occasion.customer)),
        customer_day_uses=Count(
            "pk",
            filter=Q(customer=occasion.customer, fired_at__gte=start, fired_at__lt=end),
        ),
        day_uses=Count("pk", filter=Q(fired_at__gte=start, fired_at__lt=end)),
    )
    return {
        rule.id: UsageFacts(
            given=totals["given"] or ZERO,
            customer_uses=totals["customer_uses"],
            customer_day_uses=totals["customer_day_uses"],
            day_uses=totals["day_uses"],
        )
    }


def _context(snapshot, rule: PromotionRule, occasion: Occasion, usage) -> ReceiptContext:
    terminal = occasion.terminal
    zone = _local_zone(terminal)
    local = timezone.localtime(occasion.at, zone)
    return ReceiptContext(
        programme_id=rule.programme_id,
        partner_id=terminal.store.partner_id if terminal else (rule.partner_id or 0),
        store_id=terminal.store_id if terminal else 0,
        terminal_id=terminal.pk if terminal else 0,
        channel=terminal.store.channel if terminal else "",
        at=occasion.at,
        local_date=local.date(),
        local_time=local.time(),
        lines=(),
        customer=customer_facts(snapshot, occasion.customer, rule.programme_id, local.date()),
        usage=usage or {},
    )


def customer_facts(
    snapshot: RulesSnapshot, customer: Customer, programme_id: int, day: date
) -> CustomerFacts:
    """What the engine knows of a customer, read from the database (a few queries)."""
    membership = (
        TierMembership.objects.filter(customer=customer, programme_id=programme_id)
        .values_list("tier_id", flat=True)
        .first()
    )
    card = (
        Card.objects.filter(customer=customer)
        .exclude(status__in=[Card.Status.BLOCKED])
        .order_by("-created_at", "-pk")
        .values("card_type", "batch_id")
        .first()
    ) or {}
    periods = {c.id: period_start(c.period, day) for c in snapshot.counters}
    counters = {
        counter_id: value
        for counter_id, start, value in CounterValue.objects.filter(customer=customer).values_list(
            "counter_id", "period_start", "value"
        )
        if periods.get(counter_id) == start
    }
    return CustomerFacts(
        id=customer.pk,
        tier_id=membership or snapshot.entry_tier_id(programme_id),
        card_type=card.get("card_type"),
        registered_at=customer.registered_at,
        counters=counters,
        card_batch_id=card.get("batch_id"),
        referred=customer.referrer_id is not None,
        segment_ids=frozenset(
            SegmentMember.objects.filter(customer=customer).values_list("segment_id", flat=True)
        ),
        birth_date=customer.birth_date,
        dates=tuple(
            MemorableDate.objects.filter(customer=customer, is_yearly=True).values_list(
                "kind", "date"
            )
        ),
        done_promotion_ids=chain_steps_done(customer.pk, snapshot.chain_steps),
    )


# --- what a firing gives --------------------------------------------------------------------


def _give(snapshot, rule: PromotionRule, occasion: Occasion, firing, local_day: date):
    """Post the points, step the counters and grant the coupons; return the worth given and
    the customer's points as (currency code, amount, expires at)."""
    worth = ZERO
    specs = []
    points = []
    steps = []
    for reward in rule.rewards:
        if reward.kind == "points_fixed":
            spec = _points_spec(snapshot, rule, reward, occasion, local_day)
            if spec is not None:
                specs.append(spec)
                currency = snapshot.currencies[reward.currency_id]
                worth += spec.legs[0].amount * currency.rub_rate
                if reward.beneficiary == "customer":
                    points.append((currency.code, spec.legs[0].amount, spec.legs[0].expires_at))
        elif reward.kind == "counter_step" and reward.counter_id is not None:
            steps.append((reward.counter_id, reward.value))
        elif reward.kind == "coupon":
            count = max(int(reward.value), 1)
            coupons_grant(
                None,
                occasion.customer,
                [CouponAward(rule.id, reward.coupon_series, count)],
                firing=firing,
            )
    if specs:
        postings_create(specs)
    for counter in Counter.objects.filter(pk__in=[counter_id for counter_id, _ in steps]):
        delta = sum((d for counter_id, d in steps if counter_id == counter.pk), ZERO)
        counter_step(
            counter,
            occasion.customer,
            delta,
            local_day,
            at=occasion.at,
            terminal=occasion.terminal,
        )
    return quantize(worth, 2), points


def _points_spec(snapshot, rule, reward: RewardRule, occasion: Occasion, local_day: date):
    customer = occasion.customer
    if reward.beneficiary == "referrer":
        customer = customer.referrer
        if customer is None or customer.is_anonymised:
            return None
    currency = snapshot.currencies[reward.currency_id]
    amount = quantize(reward.value, currency.decimal_places)
    if amount <= 0:
        return None
    now = timezone.now()
    active_at = occasion.at + reward.activation_delay
    expires_at = _expiry(reward, occasion, local_day, currency.lifetime)
    if expires_at is not None and expires_at <= max(now, active_at):
        log.info("promotion %s: points for %s would burn before use", rule.id, occasion.key)
        return None
    account = customer_account(customer, _currency(reward.currency_id))
    partner = _partner(rule, occasion)
    other = (
        partner_account(partner, reward.currency_id)
        if partner is not None
        else programme_account(reward.currency_id, Account.Purpose.MARKETING)
    )
    terminal = occasion.terminal
    return PostingSpec(
        kind=Posting.Kind.WELCOME if occasion.kind == "registration" else Posting.Kind.REWARD,
        cause=Posting.Cause.PROMOTION,
        actor=Actor.for_terminal(terminal) if terminal else Actor.system(SYSTEM_ACTOR),
        legs=[
            Leg(
                account=account,
                amount=amount,
                bucket="pending" if active_at > now else "active",
                active_at=active_at,
                expires_at=expires_at,
                spend_rule_id=reward.spend_rule_id,
            ),
            Leg(account=other, amount=-amount),
        ],
        partner=partner,
        cause_ref=f"promotion:{rule.id}:{occasion.key}"[:128],
        description=rule.name[:300],
        occurred_at=occasion.at,
    )


def _currency(currency_id: int):
    from loyalty.models import Currency

    return Currency.objects.get(pk=currency_id)


def _partner(rule: PromotionRule, occasion: Occasion) -> Partner | None:
    if rule.partner_id is not None:
        return Partner.objects.get(pk=rule.partner_id)
    if occasion.terminal is not None:
        return occasion.terminal.store.partner
    return None


def _end_of(day: date, zone) -> datetime:
    """The moment a day ends: points that burn "after" a day are spendable all that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def _expiry(
    reward: RewardRule, occasion: Occasion, local_day: date, currency_lifetime=None
) -> datetime | None:
    zone = _local_zone(occasion.terminal)
    candidates = []
    if reward.lifetime is not None:
        candidates.append(occasion.at + reward.lifetime)
    if reward.expires_on is not None:
        candidates.append(_end_of(reward.expires_on, zone))
    if reward.expires_days_after_date is not None and occasion.anchor is not None:
        candidates.append(
            _end_of(occasion.anchor + timedelta(days=reward.expires_days_after_date), zone)
        )
    if reward.expires_day_of_next_month is not None:
        year, month = (
            (local_day.year + 1, 1)
            if local_day.month == 12
            else (local_day.year, local_day.month + 1)
        )
        last = calendar.monthrange(year, month)[1]
        candidates.append(
            _end_of(date(year, month, min(reward.expires_day_of_next_month, last)), zone)
        )
    if not candidates and currency_lifetime is not None:
        # The reward sets no life of its own: the currency's default lifetime.
        candidates.append(occasion.at + currency_lifetime)
    return min(candidates) if candidates else None


# --- the daily job: dates of the customers and days of the month ------------------------------


def lifecycle_dates_run(today: date | None = None) -> dict[str, int]:
    """Reward the dates due on every day since the last run up to ``today`` (the programme's
    calendar), each day once: a job that did not run for three days gives the missed days'
    rewards now, a second run on the same day gives nothing. Returns days run and firings."""
    zone = _zone()
    today = today or timezone.localtime(timezone.now(), zone).date()
    last = (
        LifecycleRun.objects.filter(job=DATES_JOB)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    start = last + timedelta(days=1) if last else today
    start = max(start, today - timedelta(days=CATCH_UP_DAYS - 1))
    days = fired = 0
    day = start
    while day <= today:
        count = lifecycle_day_run(day)
        LifecycleRun.objects.get_or_create(job=DATES_JOB, day=day, defaults={"rewarded": count})
        days += 1
        fired += count
        day += timedelta(days=1)
    return {"days": days, "rewarded": fired}


def lifecycle_day_run(day: date) -> int:
    """Reward the dates due on ``day``; returns the number of firings made now."""
    snapshot = snapshot_get()
    zone = _zone()
    # Today: now. A missed day: its last moment (the promotion must have been in force then).
    start = datetime.combine(day, time.min, tzinfo=zone)
    at = min(timezone.now(), start + timedelta(days=1, microseconds=-1))
    at = max(at, start)
    fired = 0
    for rule in snapshot.occasions_of("date"):
        occurrence = day - timedelta(days=rule.trigger.offset_days)
        for customer, source, anchor in dated_customers(rule, occurrence):
            occasion = Occasion(
                kind="date",
                customer=customer,
                key=f"date:{source}:{anchor.isoformat()}",
                at=at,
                anchor=anchor,
            )
            if promotion_fire(snapshot, rule, occasion) is not None:
                fired += 1
    for rule in snapshot.occasions_of("monthly"):
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day != min(rule.trigger.day or 1, last):
            continue
        for customer in audience_base(rule).filter(registered_at__lte=at):
            occasion = Occasion(
                kind="monthly",
                customer=customer,
                key=f"month:{day:%Y-%m}",
                at=max(at, customer.registered_at),
            )
            if promotion_fire(snapshot, rule, occasion) is not None:
                fired += 1
    return fired


def audience_base(rule: PromotionRule):
    """Customers who may be in the promotion's audience (the engine checks the rest)."""
    customers = Customer.objects.filter(is_anonymised=False).select_related("referrer")
    if rule.segment_ids:
        customers = customers.filter(segment_memberships__segment_id__in=rule.segment_ids)
    if rule.referred_only:
        customers = customers.filter(referrer__isnull=False)
    return customers.distinct().order_by("pk")


def _same_day(field: str, occurrence: date) -> Q:
    """Dates whose yearly occurrence falls on ``occurrence`` (29 February on 28 February in
    other years)."""
    q = Q(**{f"{field}__month": occurrence.month, f"{field}__day": occurrence.day})
    if occurrence.month == 2 and occurrence.day == 28 and not calendar.isleap(occurrence.year):
        q |= Q(**{f"{field}__month": 2, f"{field}__day": 29})
    return q


def dated_customers(rule: PromotionRule, occurrence: date):
    """(customer, the date's source, the date this year) whose date falls on ``occurrence``."""
    kind = rule.trigger.date
    base = audience_base(rule)
    if kind == "birthday":
        for customer in base.filter(_same_day("birth_date", occurrence)).filter(
            birth_date__lt=occurrence
        ):
            yield customer, "birthday", occurrence
    elif kind == "registration":
        # Date parts of a moment are read in the programme's time zone (settings.TIME_ZONE).
        for customer in base.filter(_same_day("registered_at", occurrence)).filter(
            registered_at__date__lt=occurrence
        ):
            yield customer, "registration", occurrence
    elif kind == "child_birthday":
        children = FamilyMember.objects.filter(
            _same_day("birth_date", occurrence),
            relation=FamilyMember.Relation.CHILD,
            birth_date__lte=occurrence,
            customer__in=base,
        ).select_related("customer", "customer__referrer")
        for child in children.order_by("customer_id", "pk"):
            yield child.customer, f"child{child.pk}", occurrence
    elif kind == "question":
        answers = ProfileAnswer.objects.filter(
            _same_day("value_date", occurrence),
            question_id=rule.trigger.question_id,
            value_date__lte=occurrence,
            customer__in=base,
        ).select_related("customer", "customer__referrer")
        for answer in answers.order_by("customer_id"):
            yield answer.customer, f"q{rule.trigger.question_id}", occurrence
    else:
        dates = MemorableDate.objects.filter(
            _same_day("date", occurrence),
            kind=kind,
            is_yearly=True,
            date__lte=occurrence,
            customer__in=base,
        ).select_related("customer", "customer__referrer")
        for found in dates.order_by("customer_id", "pk"):
            yield found.customer, f"{kind}{found.pk}", occurrence
