"""The occasions of a back-test's period and what the occasion promotions give for them.

The occasions are found in the stored data as the live jobs find them (``promotions.lifecycle``):
registrations (``Customer.registered_at``), first purchases (a customer's first receipt ever),
the customers' dates (birthdays, registration anniversaries, memorable dates, children's
birthdays, dates answered in the profile) and days of the month on every day of the period in
the back office's calendar, of the customers registered by that day's start, and the events
reported through the API (``CustomerEvent``). Each
is checked by the engine as live (``occasion_refusal``: period, scope, audience, limits) and
rewarded once per promotion, customer and occasion key, with the keys live processing uses.
"""

from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Min

from crm.models import Customer
from loyalty.models import CustomerEvent, Receipt, Terminal
from loyalty.money import ZERO, quantize
from promotions.backtest import BacktestFigures, PromotionFigures, currency_figures
from promotions.backtest_facts import CustomerRow, FactsStore
from promotions.engine import ReceiptContext, RulesSnapshot
from promotions.engine.evaluate import occasion_refusal
from promotions.engine.types import PromotionRule
from promotions.lifecycle import ONCE, audience_base, dated_customers
from promotions.usage import usage_replay_count, usage_replayed


@dataclass(frozen=True)
class Found:
    """One occasion of a customer: its key (as live processing keys it) and moment."""

    customer: Customer
    key: str
    at: datetime
    terminal: Terminal | None = None


def occasions_replay(
    figures: BacktestFigures,
    accepted: dict[int, PromotionFigures],
    snapshot: RulesSnapshot,
    rules: list[PromotionRule],
    since: datetime,
    until: datetime,
    customers: set[int],
) -> int:
    """Reward the occasions of [``since``, ``until``) with ``rules``, in time order, each
    once per customer and key; add to ``accepted`` and return how many were rewarded."""
    facts = FactsStore(snapshot, frozenset(["segments", "dates"]))
    usage: dict[tuple[int, str], tuple] = {}
    rewarded = 0
    for rule in rules:
        found = sorted(_occasions(rule, since, until), key=lambda f: (f.at, f.customer.pk))
        facts.load((f.customer.pk for f in found), cards=True)
        seen: set[tuple[int, str]] = set()
        own = accepted[rule.id]
        for occasion in found:
            if (occasion.customer.pk, occasion.key) in seen:
                continue
            ctx = _context(snapshot, rule, occasion, facts)
            ctx = usage_replayed(snapshot, ctx, usage, [rule]) if rule.limited else ctx
            if occasion_refusal(snapshot, rule, ctx) is not None:
                continue
            seen.add((occasion.customer.pk, occasion.key))
            worth, points = _give(own, snapshot, rule, occasion.customer)
            for currency_id, amount in points.items():
                # Without the promotion the occasion gives nothing: all of it is a change.
                currency_figures(figures, snapshot, currency_id).points_change += amount
            usage_replay_count(snapshot, ctx, {rule.id: worth}, usage)
            own.occasions_rewarded += 1
            own.customers.add(occasion.customer.pk)
            customers.add(occasion.customer.pk)
            rewarded += 1
    return rewarded


def _give(
    own: PromotionFigures, snapshot: RulesSnapshot, rule: PromotionRule, customer: Customer
) -> tuple[Decimal, dict[int, Decimal]]:
    """Add what one firing gives, as ``lifecycle._give`` gives it; return its worth and its
    points by currency id."""
    worth = ZERO
    points: dict[int, Decimal] = {}
    for reward in rule.rewards:
        if reward.kind == "points_fixed" and reward.currency_id is not None:
            if reward.beneficiary == "referrer" and (
                customer.referrer is None or customer.referrer.is_anonymised
            ):
                continue
            currency = snapshot.currencies[reward.currency_id]
            amount = quantize(reward.value, currency.decimal_places)
            if amount <= 0:
                continue
            own.points[currency.id] = own.points.get(currency.id, ZERO) + amount
            points[currency.id] = points.get(currency.id, ZERO) + amount
            worth += amount * currency.rub_rate
        elif reward.kind == "counter_step" and reward.counter_id is not None:
            own.counter_steps += reward.value
        elif reward.kind == "coupon":
            own.coupons += max(int(reward.value), 1)
    return quantize(worth, 2), points


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _days(since: datetime, until: datetime) -> Iterator[tuple[date, datetime]]:
    """Each day of the period on the back office's calendar, with the moment its occasions
    happen: the day's start, or the period's start on its first day."""
    zone = _zone()
    day = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    while day <= last:
        yield day, max(since, datetime.combine(day, time.min, tzinfo=zone))
        day += timedelta(days=1)


def _occasions(rule: PromotionRule, since: datetime, until: datetime) -> Iterator[Found]:
    trigger = rule.trigger
    assert trigger is not None
    kind = trigger.kind
    base = audience_base(rule)
    if kind == "registration":
        for customer in base.filter(registered_at__gte=since, registered_at__lt=until):
            yield Found(customer, ONCE["registration"], customer.registered_at)
    elif kind == "first_purchase":
        firsts = (
            Receipt.objects.filter(customer__isnull=False)
            .values("customer_id")
            .annotate(first=Min("sold_at"))
            .filter(first__gte=since, first__lt=until)
        )
        wanted = {row["customer_id"]: row["first"] for row in firsts}
        receipts = (
            Receipt.objects.filter(customer_id__in=wanted)
            .select_related("terminal__store")
            .order_by("customer_id", "sold_at", "pk")
        )
        people = {c.pk: c for c in base.filter(pk__in=wanted)}
        done: set[int] = set()
        for receipt in receipts:
            person = people.get(receipt.customer_id)  # type: ignore[arg-type]
            if person is None or person.pk in done or receipt.sold_at != wanted[person.pk]:
                continue
            done.add(person.pk)
            yield Found(person, ONCE["first_purchase"], receipt.sold_at, receipt.terminal)
    elif kind == "date":
        for day, at in _days(since, until):
            occurrence = day - timedelta(days=trigger.offset_days)
            for customer, source, anchor in dated_customers(rule, occurrence):
                # Not a customer yet that day: the daily job never saw them (as for the days
                # of the month below).
                if customer.registered_at <= at:
                    yield Found(customer, f"date:{source}:{anchor.isoformat()}", at)
    elif kind == "monthly":
        for day, at in _days(since, until):
            last = calendar.monthrange(day.year, day.month)[1]
            if day.day != min(trigger.day or 1, last):
                continue
            for customer in base.filter(registered_at__lte=at):
                yield Found(customer, f"month:{day:%Y-%m}", max(at, customer.registered_at))
    elif kind == "event":
        events = (
            CustomerEvent.objects.filter(
                type_id=trigger.event_type_id,
                occurred_at__gte=since,
                occurred_at__lt=until,
                customer__in=base,
            )
            .select_related("customer__referrer", "terminal__store")
            .order_by("occurred_at", "pk")
        )
        for event in events:
            yield Found(event.customer, f"event:{event.pk}", event.occurred_at, event.terminal)


def _context(
    snapshot: RulesSnapshot, rule: PromotionRule, occasion: Found, facts: FactsStore
) -> ReceiptContext:
    """The engine's context of an occasion, as ``lifecycle._context`` builds it."""
    terminal = occasion.terminal
    zone = zoneinfo.ZoneInfo(terminal.store.timezone) if terminal is not None else _zone()
    local = occasion.at.astimezone(zone)
    person = occasion.customer
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
        customer=facts.facts(
            CustomerRow(person.pk, person.registered_at, person.birth_date, person.referrer_id),
            rule.programme_id,
            at=occasion.at,
        ),
    )
