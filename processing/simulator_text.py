"""The simulator's words: why a promotion gave nothing, with the value that failed it, and
numbers and times as people read them (the locale's separators, never scientific notation,
every time with its zone)."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time
from decimal import Decimal
from functools import cached_property

from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Segment
from loyalty.models import Counter
from loyalty.money import readable
from promotions.engine import RulesSnapshot
from promotions.engine.bands import QUANTITY, RECEIPT_AMOUNT
from promotions.engine.explain import Failure
from promotions.models import ProductSet
from promotions.models.promotion import AroundDate, TriggerDate

REASONS = {
    "other_partner": gettext_lazy("another partner's promotion"),
    "not_active": gettext_lazy("not active (paused or finished)"),
    "outside_period": gettext_lazy("outside its period"),
    "other_store": gettext_lazy("not for this store"),
    "other_terminal": gettext_lazy("not for this terminal"),
    "other_channel": gettext_lazy("not for this sales channel"),
    "other_weekday": gettext_lazy("not on this day of the week"),
    "outside_hours": gettext_lazy("outside its hours"),
    "audience": gettext_lazy("not for this customer (tier)"),
    "conditions_not_met": gettext_lazy("its conditions do not hold"),
    "nothing_to_give": gettext_lazy("nothing to give on this receipt"),
    "lost_in_group_first": gettext_lazy(
        "its lines went to a higher-priority promotion of its group"
    ),
    "blocked_by_exclusive": gettext_lazy("an exclusive promotion took its lines"),
    "anonymous_customer": gettext_lazy("points need a customer"),
    "audience_segment": gettext_lazy("not for this customer (segments)"),
    "audience_card": gettext_lazy("not for this card (series or type)"),
    "audience_new": gettext_lazy("for new customers only"),
    "audience_referred": gettext_lazy("for referred customers only"),
    "outside_dates": gettext_lazy("not on the days around the customer's date"),
    "budget_spent": gettext_lazy("its budget is spent"),
    "limit_per_receipt": gettext_lazy("it gave its most for one receipt"),
    "limit_per_customer": gettext_lazy("the customer had it as many times as allowed"),
    "limit_per_customer_day": gettext_lazy("the customer had it as many times today as allowed"),
    "limit_per_day": gettext_lazy("it rewarded as many receipts today as allowed"),
    "limit_needs_customer": gettext_lazy("its limits per customer need a known customer"),
    "no_favourites": gettext_lazy("none of its lines is one of the customer's favourite products"),
    "favourites_anonymous": gettext_lazy("favourite products need a known customer"),
    "exchange_not_asked": gettext_lazy("an exchange: applies only when the register asks for it"),
    "not_enough_chips": gettext_lazy("the customer has not enough points to pay its price"),
    "coupon_not_presented": gettext_lazy("only with a coupon of its series"),
    "below_bands": gettext_lazy("below the first of its bands"),
}

# What the register is told about an exchange it asked for (pos-api.md), in words.
EXCHANGE_REASONS = {
    "unknown_exchange": gettext_lazy("no exchange promotion has this code"),
    "no_customer": gettext_lazy("an exchange needs a known customer"),
    "not_enough_chips": gettext_lazy("the customer has not enough points to pay its price"),
    "nothing_to_give": gettext_lazy("nothing to give on this receipt"),
    "limit_reached": gettext_lazy("its budget or limits are used up"),
    "not_available": gettext_lazy("not available at this store, day or hour"),
    "conditions_not_met": gettext_lazy("its conditions do not hold"),
}


def number_shown(value: Decimal | int | None, places: int | None = None) -> str:
    """``value`` with the active language's separators and ``places`` decimals (None: as many
    as it has, trailing zeros dropped); never in scientific notation."""
    if value is None:
        return "—"
    return readable(Decimal(value), places)


def money_shown(value: Decimal | None) -> str:
    return number_shown(value, 2)


def day_shown(day: date) -> str:
    """A calendar day as ``2025-06-03`` (the same in every language, never ambiguous)."""
    return day.isoformat()


def clock_shown(moment: time | None) -> str:
    return moment.strftime("%H:%M") if moment is not None else "—"


def moment_shown(moment: datetime, zone: str, *, store: bool = True) -> str:
    """A moment on a clock, labelled with that clock: the store's or the back office's."""
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    text = local.strftime("%Y-%m-%d %H:%M")
    if store:
        return _("%(moment)s store time (%(zone)s)") % {"moment": text, "zone": zone}
    return _("%(moment)s back-office time (%(zone)s)") % {"moment": text, "zone": zone}


def yearly_shown(day: date) -> str:
    """A yearly date as ``12 May`` (its month in the active language)."""
    return f"{day.day} {MONTHS[day.month]}"


def date_kind_shown(kind: str) -> str:
    labels = {**dict(TriggerDate.choices), **dict(AroundDate.choices)}
    return str(labels.get(kind, kind))


class Names:
    """Names of what the reasons mention, read once (and only when a reason mentions them)."""

    def __init__(self, snapshot: RulesSnapshot, zone: str, *, store: bool = True):
        self.snapshot = snapshot
        self.zone = zone  # the clock of the simulation: the store's, or the back office's
        self.store = store

    @cached_property
    def promotions(self) -> dict[int, str]:
        return {p.id: p.name for p in (*self.snapshot.promotions, *self.snapshot.occasions)}

    @cached_property
    def counters(self) -> dict[int, str]:
        return dict(Counter.objects.values_list("pk", "name"))

    @cached_property
    def product_sets(self) -> dict[int, str]:
        return dict(ProductSet.objects.values_list("pk", "name"))

    @cached_property
    def segments(self) -> dict[int, str]:
        return dict(Segment.objects.values_list("pk", "name"))

    def tier(self, tier_id: object) -> str:
        tier = self.snapshot.tier_by_id.get(tier_id) if isinstance(tier_id, int) else None
        return tier.name if tier is not None else _("no tier")

    def tiers(self, tier_ids) -> str:
        return ", ".join(self.tier(tier_id) for tier_id in tier_ids)

    def currency(self, currency_id: object) -> tuple[str, int]:
        currency = (
            self.snapshot.currencies.get(currency_id) if isinstance(currency_id, int) else None
        )
        return (currency.code, currency.decimal_places) if currency else ("", 2)


def why_text(reason: str, names: Names) -> str:
    """The engine's reason code in words."""
    code, _sep, other = reason.partition(":")
    if code == "lost_in_group_best":
        return _("a better promotion of its group won: %(name)s") % {
            "name": names.promotions.get(int(other), other)
        }
    if code == "target_not_fired":
        return _("the promotion it multiplies gave nothing: %(name)s") % {
            "name": names.promotions.get(int(other), other)
        }
    return str(REASONS.get(code, reason))


def failures_text(failures: tuple[Failure, ...], names: Names) -> list[str]:
    """Each failure in words; the conditions of several groups are named by their group."""
    groups = {f.params.get("group") for f in failures if "group" in f.params}
    texts = []
    for failure in failures:
        text = failure_text(failure, names)
        if len(groups) > 1:
            text = _("group %(group)s: %(text)s") % {"group": failure.params["group"], "text": text}
        texts.append(text)
    return texts


def failure_text(failure: Failure, names: Names) -> str:  # noqa: C901 (one branch per fact)
    """One failure in words, with the value that failed it."""
    p = failure.params
    code = failure.code
    if code == "period":
        start = moment_shown(p["starts_at"], names.zone, store=names.store)
        sold = moment_shown(p["at"], names.zone, store=names.store)
        if p["ends_at"] is None:
            return _("sold %(sold)s; it starts %(start)s") % {"sold": sold, "start": start}
        end = moment_shown(p["ends_at"], names.zone, store=names.store)
        return _("sold %(sold)s; it runs from %(start)s to %(end)s") % {
            "sold": sold,
            "start": start,
            "end": end,
        }
    if code == "weekday":
        return _("not on %(day)s (only %(days)s)") % {
            "day": WEEKDAYS[p["day"] - 1],
            "days": ", ".join(str(WEEKDAYS[d - 1]) for d in p["days"]),
        }
    if code == "hours":
        sentence = (
            _("%(time)s is outside %(from)s-%(to)s store time")
            if names.store
            else _("%(time)s is outside %(from)s-%(to)s back-office time")
        )
        return sentence % {
            "time": clock_shown(p["time"]),
            "from": clock_shown(p["from"]) if p["from"] else "00:00",
            "to": clock_shown(p["to"]) if p["to"] else "24:00",
        }
    if code in ("tier", "customer_tier"):
        if p["anonymous"]:
            return _("no customer; only tier %(tiers)s") % {"tiers": names.tiers(p["tier_ids"])}
        if p["tier_id"] is None:
            return _("the customer has no tier; only %(tiers)s") % {
                "tiers": names.tiers(p["tier_ids"])
            }
        return _("tier %(tier)s not in %(tiers)s") % {
            "tier": names.tier(p["tier_id"]),
            "tiers": names.tiers(p["tier_ids"]),
        }
    if code == "new":
        if p["registered_at"] is None:
            return _(
                "no registration date; only customers registered in the last %(days)s days"
            ) % {"days": p["days"]}
        return _("registered %(when)s, more than %(days)s days before the sale") % {
            "when": moment_shown(p["registered_at"], names.zone, store=names.store),
            "days": p["days"],
        }
    if code == "date":
        return _date_text(p)
    if code == "budget":
        return _("budget %(budget)s used up (%(given)s given)") % {
            "budget": money_shown(p["budget"]),
            "given": money_shown(p["given"]),
        }
    if code == "limit_per_receipt":
        return _("at most %(limit)s per receipt, reached") % {"limit": money_shown(p["limit"])}
    if code in ("limit_per_customer", "limit_per_customer_day", "limit_per_day"):
        sentence = {
            "limit_per_customer": _("limit %(limit)s per customer reached (%(used)s used)"),
            "limit_per_customer_day": _(
                "limit %(limit)s per customer a day reached (%(used)s today)"
            ),
            "limit_per_day": _("limit %(limit)s receipts a day reached (%(used)s today)"),
        }[code]
        return sentence % {"limit": p["limit"], "used": p["used"]}
    if code == "bands":
        return _bands_text(p, names)
    if code == "chips":
        currency, places = names.currency(p["currency_id"])
        return _("costs %(cost)s %(currency)s, the customer has %(available)s") % {
            "cost": number_shown(p["cost"], places),
            "currency": currency,
            "available": number_shown(p["available"], places),
        }
    return _condition_text(failure, names)


def _bands_text(p, names: Names) -> str:
    """A banded reward's measure below its first band: "receipt 99.99 < 100.00, its first
    band"."""
    if p["basis"] == QUANTITY:
        name = names.product_sets.get(p["product_set_id"], _("any product"))
        subject = _("units of “%(set)s”") % {"set": name}
        value, lower = number_shown(p["measure"]), number_shown(p["lower"])
    else:
        subject = _("receipt") if p["basis"] == RECEIPT_AMOUNT else _("the customer's spend")
        value, lower = money_shown(p["measure"]), money_shown(p["lower"])
    return _("%(subject)s %(value)s < %(lower)s, where its first band starts") % {
        "subject": subject,
        "value": value,
        "lower": lower,
    }


def _date_text(p) -> str:
    kind = date_kind_shown(p["kind"])
    if p["anonymous"]:
        return _("no customer: the days around a %(kind)s need one") % {"kind": kind}
    if not p["anchors"]:
        return _("the customer has no %(kind)s on file") % {"kind": kind}
    return _(
        "%(kind)s on %(dates)s: %(day)s is not from %(before)s days before to %(after)s days after"
    ) % {
        "kind": kind,
        "dates": ", ".join(yearly_shown(day) for day in p["anchors"]),
        "day": day_shown(p["day"]),
        "before": p["before"],
        "after": p["after"],
    }


def _compared(p, subject: str, value: str, threshold: str) -> str:
    """``subject value < threshold`` for "at least", ``... not below ...`` for "less than"."""
    values = {"subject": subject, "value": value, "threshold": threshold}
    if p["operator"] == "lt":
        return _("%(subject)s %(value)s, not below %(threshold)s") % values
    return _("%(subject)s %(value)s < %(threshold)s") % values


def _condition_text(failure: Failure, names: Names) -> str:
    p = failure.params
    code = failure.code
    if code == "receipt_total":
        return _compared(p, _("receipt"), money_shown(p["value"]), money_shown(p["threshold"]))
    if code == "line_count":
        return _compared(p, _("lines"), number_shown(p["value"]), number_shown(p["threshold"]))
    if code in ("contains", "line"):
        name = names.product_sets.get(p["product_set_id"], _("any product"))
        shown = money_shown if p["by_amount"] else number_shown
        if code == "line" and p["value"] is None:
            return _("no line of “%(set)s”") % {"set": name}
        subject = (
            _("products of “%(set)s”") if code == "contains" else _("best line of “%(set)s”")
        ) % {"set": name}
        return _compared(p, subject, shown(p["value"]), shown(p["threshold"]))
    if code in ("counter_value", "nth_purchase"):
        counter = names.counters.get(p["counter_id"], str(p["counter_id"]))
        if p["anonymous"]:
            return _("counter %(counter)s: no customer") % {"counter": counter}
        values = {
            "counter": counter,
            "before": number_shown(p["before"]),
            "value": number_shown(p["value"]),
            "threshold": number_shown(p["threshold"]),
        }
        if code == "nth_purchase":
            return (
                _("counter %(counter)s goes %(before)s → %(value)s: no multiple of %(threshold)s")
                % values
            )
        if p["operator"] == "lt":
            return _("counter %(counter)s %(value)s, not below %(threshold)s") % values
        return _("counter %(counter)s %(value)s of %(threshold)s") % values
    if code == "promotion_done":
        name = names.promotions.get(p["promotion_id"], str(p["promotion_id"]))
        if p["operator"] == "lt":
            return _("chain step “%(name)s” already completed") % {"name": name}
        return _("chain step “%(name)s” not completed") % {"name": name}
    return code
