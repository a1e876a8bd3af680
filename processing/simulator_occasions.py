"""Occasion promotions in the simulator: what the promotions started by an occasion of the
customer's life (registration, a date of theirs, a day of the month, an event...) would give
the chosen customer on a chosen day, or why not, in a sentence.

The checks are those of ``promotions.lifecycle`` (the occasion's date, whether it was rewarded
already, then the engine's ``occasion_refusal``: status, period, audience, limits, customer
conditions); nothing is written. Dates and days of the month are rewarded by the daily job on
the back office's clock (``settings.TIME_ZONE``); the other occasions happen at the chosen
store, on its clock.
"""

from __future__ import annotations

import calendar
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.models import Customer, FamilyMember, MemorableDate, ProfileAnswer
from loyalty.errors import CardNotFound
from loyalty.models import Card, EventType, Terminal
from loyalty.money import ZERO
from processing.simulator_text import (
    Names,
    date_kind_shown,
    day_shown,
    failures_text,
    moment_shown,
    number_shown,
    why_text,
    yearly_shown,
)
from promotions.engine import CustomerFacts, ReceiptContext, RulesSnapshot
from promotions.engine.evaluate import occasion_refusal
from promotions.engine.explain import explain_reason
from promotions.engine.types import PromotionRule, RewardRule, UsageFacts
from promotions.lifecycle import ONCE, customer_facts
from promotions.models import TriggerFiring
from promotions.models.promotion import Trigger

DAILY_JOB = frozenset(["date", "monthly"])  # rewarded by the daily job, not at a store


@dataclass
class OccasionRow:
    promotion: str
    gives: list[str] = field(default_factory=list)  # when it would reward
    refusal: str = ""  # why it would not ("": it would reward)
    note: str = ""  # what the simulation assumes (the event reported, the tier reached...)


@dataclass
class OccasionSimulation:
    occasion: str  # the occasion in words
    clock: str  # its moment, and whose clock
    rows: list[OccasionRow] = field(default_factory=list)
    refusal: str = ""  # why nothing could be simulated


def occasions_simulate(
    *,
    snapshot: RulesSnapshot,
    kind: str,
    day: date,
    terminal: Terminal,
    card: str | None,
    described: CustomerFacts,
    sale_time: time,
) -> OccasionSimulation:
    """What each promotion started by ``kind`` would give on ``day`` to the card's holder (or,
    without a card, to the ``described`` customer). ``sale_time``: the simulated sale's time
    on the store's clock, the moment of an occasion that happens at a store. Raises
    ``CardNotFound`` for a card no one has."""
    store = kind not in DAILY_JOB
    zone = terminal.store.timezone if store else settings.TIME_ZONE
    at = _moment(day, zone, sale_time if store else None)
    simulation = OccasionSimulation(
        occasion=str(dict(Trigger.choices).get(kind, kind)),
        clock=moment_shown(at, zone, store=store),
    )
    customer = None
    programme_id = None
    if card:
        found = Card.objects.select_related("customer").filter(number=card).first()
        if found is None:
            raise CardNotFound(card=card)
        if found.customer is None:
            simulation.refusal = _(
                "The card %(card)s has no holder: occasions need a customer."
            ) % {"card": card}
            return simulation
        customer, programme_id = found.customer, found.programme_id
    programme = snapshot.programme_for(terminal.store.partner_id, programme_id)
    if programme is None:
        simulation.refusal = _("No programme runs at this terminal.")
        return simulation
    facts = (
        customer_facts(
            snapshot, customer, programme.id, at.astimezone(zoneinfo.ZoneInfo(zone)).date()
        )
        if customer is not None
        else replace_registered(described, at)
    )
    names = Names(snapshot, zone, store=store)
    rules = [rule for rule in snapshot.occasions_of(kind) if rule.programme_id == programme.id]
    if not rules:
        simulation.refusal = _("No promotion of the programme is started by this occasion.")
        return simulation
    for rule in rules:
        row = OccasionRow(rule.name, note=_note(rule, names))
        row.refusal = _refusal(
            snapshot, rule, kind, day, at, terminal, store, customer, facts, names
        )
        if not row.refusal:
            row.gives = [_reward_text(rule, reward, facts, names) for reward in rule.rewards]
        simulation.rows.append(row)
    return simulation


def replace_registered(described: CustomerFacts, at: datetime) -> CustomerFacts:
    """A described customer registers at the occasion's moment unless told otherwise."""
    if described.registered_at is not None and described.registered_at <= at:
        return described
    return replace(described, registered_at=at)


def _moment(day: date, zone: str, sale_time: time | None) -> datetime:
    """When the occasion happens: at the sale's time of ``day`` on a store's clock, or (the
    daily job) now if ``day`` is today, else that day's last moment, but never before it
    starts (as ``promotions.lifecycle.lifecycle_day_run``)."""
    tz = zoneinfo.ZoneInfo(zone)
    if sale_time is not None:
        return datetime.combine(day, sale_time, tzinfo=tz)
    start = datetime.combine(day, time.min, tzinfo=tz)
    return max(min(timezone.now(), start + timedelta(days=1, microseconds=-1)), start)


def _refusal(snapshot, rule, kind, day, at, terminal, store, customer, facts, names) -> str:
    """Why ``rule`` would not reward the customer for the occasion ("": it would)."""
    trigger = rule.trigger
    if kind == "date":
        why = _date_refusal(trigger, day, customer, facts)
        if why:
            return why
    if kind == "monthly":
        due = min(trigger.day or 1, calendar.monthrange(day.year, day.month)[1])
        if day.day != due:
            return _("it rewards on day %(due)s of the month, not on %(day)s") % {
                "due": due,
                "day": day_shown(day),
            }
    if customer is not None:
        done = _rewarded_already(rule, kind, day, customer)
        if done is not None:
            return _("the customer was rewarded for this occasion already, on %(when)s") % {
                "when": moment_shown(done, names.zone, store=names.store)
            }
    ctx = ReceiptContext(
        programme_id=rule.programme_id,
        partner_id=terminal.store.partner_id if store else (rule.partner_id or 0),
        store_id=terminal.store_id if store else 0,
        terminal_id=terminal.pk if store else 0,
        channel=terminal.store.channel if store else "",
        at=at,
        local_date=at.date(),
        local_time=at.timetz().replace(tzinfo=None),
        lines=(),
        customer=facts,
        usage=_usage(rule, customer, at) if rule.limited else {},
    )
    reason = occasion_refusal(snapshot, rule, ctx)
    if reason is None:
        return ""
    details = failures_text(explain_reason(snapshot, ctx, rule, reason), names)
    return "; ".join([why_text(reason, names), *details])


def _date_refusal(trigger, day: date, customer: Customer | None, facts: CustomerFacts) -> str:
    """Why a date trigger does not fall on ``day`` for the customer ("": it does)."""
    occurrence = day - timedelta(days=trigger.offset_days)
    kind = trigger.date
    label = date_kind_shown(kind)
    anchors = _anchors(kind, trigger, customer, facts)
    if anchors is None:
        return _("a described customer has no %(kind)s on file: give a card") % {"kind": label}
    if not anchors:
        return _("the customer has no %(kind)s on file") % {"kind": label}
    if any(_same_day(anchor, occurrence) and anchor < occurrence for anchor in anchors):
        return ""
    anchor = anchors[0]
    due = _this_year(anchor, day.year) + timedelta(days=trigger.offset_days)
    return _(
        "the customer's %(kind)s is on %(date)s: the promotion rewards it on %(due)s, "
        "not on %(day)s"
    ) % {"kind": label, "date": yearly_shown(anchor), "due": day_shown(due), "day": day_shown(day)}


def _anchors(kind: str, trigger, customer: Customer | None, facts: CustomerFacts):
    """The customer's dates of ``kind`` (None: a described customer cannot have them)."""
    if kind == "birthday":
        return [facts.birth_date] if facts.birth_date else []
    if customer is None:
        if kind in ("registration", "child_birthday", "question"):
            return None
        return [day for found, day in facts.dates if found == kind]
    if kind == "registration":
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        return [customer.registered_at.astimezone(zone).date()] if customer.registered_at else []
    if kind == "child_birthday":
        return list(
            FamilyMember.objects.filter(
                customer=customer, relation=FamilyMember.Relation.CHILD, birth_date__isnull=False
            ).values_list("birth_date", flat=True)
        )
    if kind == "question":
        return list(
            ProfileAnswer.objects.filter(
                customer=customer, question_id=trigger.question_id, value_date__isnull=False
            ).values_list("value_date", flat=True)
        )
    return list(
        MemorableDate.objects.filter(customer=customer, kind=kind, is_yearly=True).values_list(
            "date", flat=True
        )
    )


def _this_year(anchor: date, year: int) -> date:
    try:
        return anchor.replace(year=year)
    except ValueError:  # 29 February in another year: the 28th
        return date(year, 2, 28)


def _same_day(anchor: date, occurrence: date) -> bool:
    return _this_year(anchor, occurrence.year) == occurrence


def _rewarded_already(rule, kind: str, day: date, customer: Customer) -> datetime | None:
    """When the customer was rewarded by ``rule`` for this very occasion, if they were."""
    firings = TriggerFiring.objects.filter(promotion_id=rule.id, customer=customer)
    if kind in ONCE:
        firings = firings.filter(key=ONCE[kind])
    elif kind == "date":
        occurrence = day - timedelta(days=rule.trigger.offset_days)
        firings = firings.filter(key__startswith="date:", key__endswith=occurrence.isoformat())
    elif kind == "monthly":
        firings = firings.filter(key=f"month:{day:%Y-%m}")
    else:
        return None
    return firings.order_by("fired_at").values_list("fired_at", flat=True).first()


def _usage(rule: PromotionRule, customer: Customer | None, at: datetime) -> dict[int, UsageFacts]:
    """What the promotion gave so far, counted on its firings (as ``promotions.lifecycle``)."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(at.astimezone(zone).date(), time.min, tzinfo=zone)
    end = start + timedelta(days=1)
    mine = Q(customer=customer) if customer is not None else Q(pk__in=[])
    today = Q(fired_at__gte=start, fired_at__lt=end)
    totals = TriggerFiring.objects.filter(promotion_id=rule.id).aggregate(
        given=Sum("given"),
        customer_uses=Count("pk", filter=mine),
        customer_day_uses=Count("pk", filter=mine & today),
        day_uses=Count("pk", filter=today),
    )
    return {
        rule.id: UsageFacts(
            given=totals["given"] or ZERO,
            customer_uses=totals["customer_uses"],
            customer_day_uses=totals["customer_day_uses"],
            day_uses=totals["day_uses"],
        )
    }


def _note(rule: PromotionRule, names: Names) -> str:
    """What the simulation assumes happened, for the occasions that carry a detail."""
    trigger = rule.trigger
    if trigger is None:
        return ""
    if trigger.kind == "event" and trigger.event_type_id is not None:
        event = EventType.objects.filter(pk=trigger.event_type_id).first()
        return _("as if an event “%(type)s” was reported") % {
            "type": event.code if event else trigger.event_type_id
        }
    if trigger.kind == "counter" and trigger.counter_id is not None:
        return _("as if the counter %(counter)s reached %(value)s") % {
            "counter": names.counters.get(trigger.counter_id, trigger.counter_id),
            "value": number_shown(trigger.value),
        }
    if trigger.kind == "tier_change":
        if trigger.tier_id is None:
            return _("as if the customer moved up a tier")
        return _("as if the customer reached the tier %(tier)s") % {
            "tier": names.tier(trigger.tier_id)
        }
    if trigger.kind == "consent" and trigger.channel:
        return _("as if the customer consented to %(channel)s") % {"channel": trigger.channel}
    return ""


def _reward_text(rule, reward: RewardRule, facts: CustomerFacts, names: Names) -> str:
    """What one reward of an occasion gives (``promotions.lifecycle._give``), in words."""
    if reward.kind == "points_fixed":
        code, places = names.currency(reward.currency_id)
        text = _("+%(amount)s %(currency)s") % {
            "amount": number_shown(reward.value, places),
            "currency": code,
        }
        if reward.beneficiary == "referrer":
            if not facts.referred:
                return _("nothing: no friend referred the customer")
            text = _("%(points)s to the friend who referred the customer") % {"points": text}
        if reward.lifetime is not None:
            text = ngettext(
                "%(points)s, burning after %(days)s day",
                "%(points)s, burning after %(days)s days",
                reward.lifetime.days,
            ) % {"points": text, "days": reward.lifetime.days}
        elif reward.expires_on is not None:
            text = _("%(points)s, burning after %(day)s") % {
                "points": text,
                "day": day_shown(reward.expires_on),
            }
        return text
    if reward.kind == "counter_step" and reward.counter_id is not None:
        return _("counter %(counter)s +%(delta)s") % {
            "counter": names.counters.get(reward.counter_id, reward.counter_id),
            "delta": number_shown(reward.value),
        }
    if reward.kind == "coupon":
        count = max(int(reward.value), 1)
        return ngettext(
            "%(count)s coupon of series %(series)s",
            "%(count)s coupons of series %(series)s",
            count,
        ) % {"count": count, "series": reward.coupon_series}
    return _("nothing: a reward of this kind gives only on a receipt")
