"""A promotion in one plain sentence, as a marketer would say it: "Every 5th purchase of at
least 500.00 at any store: +100 Bonus points, burning 31 Dec".

The builder shows it at the top of the page and keeps it in sync as the form changes (the page
posts the unsaved form and gets the sentence back), the list and the calendar show it too. It
reads unsaved objects as well as saved ones: many-to-many choices come as names in
``RuleText``, not from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.money import plain, readable
from promotions.models import Condition, Promotion, Reward
from promotions.models.promotion import Trigger

WEEKDAY_SHORT = {
    1: "Mon",
    2: "Tue",
    3: "Wed",
    4: "Thu",
    5: "Fri",
    6: "Sat",
    7: "Sun",
}


@dataclass
class RuleText:
    """What the sentence is made of: the promotion, its conditions (with the names of the tiers
    each names) and rewards, and the names of its stores and tiers."""

    promotion: Promotion
    conditions: list[tuple[Condition, list[str]]] = field(default_factory=list)
    rewards: list[Reward] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)


def promotion_summary(promotion: Promotion) -> str:
    """The sentence of a saved promotion."""
    conditions = [
        (condition, [tier.name for tier in condition.tiers.all()])
        for condition in promotion.conditions.all()
    ]
    return summary(
        RuleText(
            promotion=promotion,
            conditions=conditions,
            rewards=list(promotion.rewards.all()),
            stores=[store.name for store in promotion.stores.all()],
            tiers=[tier.name for tier in promotion.tiers.all()],
        )
    )


def summary(text: RuleText) -> str:
    """``<who and when>: <what it gives>``."""
    promotion = text.promotion
    if promotion.trigger == Trigger.RECEIPT:
        subject = _purchase_subject(text)
    else:
        subject = _occasion_subject(promotion)
    audience = _audience(text)
    if audience:
        subject = f"{subject} {audience}"
    given = "; ".join(_reward_text(reward) for reward in text.rewards) or _("nothing yet")
    price = _exchange_price(promotion)
    if price:
        given = f"{given} {price}"
    return f"{subject}: {given}"


def _money(value: Decimal | None) -> str:
    return readable(value or Decimal(0), 2)


def _number(value: Decimal | None) -> str:
    return readable(value or Decimal(0))


def _ordinal(number: Decimal | int | None) -> str:
    """5th, 2nd... in English; 5-я in Russian (the translation decides)."""
    n = int(number or 0)
    if n % 100 in (11, 12, 13):
        return _("%(n)sth") % {"n": n}
    suffix = {1: _("%(n)sst"), 2: _("%(n)snd"), 3: _("%(n)srd")}.get(n % 10, _("%(n)sth"))
    return suffix % {"n": n}


def _purchase_subject(text: RuleText) -> str:
    promotion = text.promotion
    nth = next((c for c, _tiers in text.conditions if c.kind == Condition.Kind.NTH_PURCHASE), None)
    if nth is not None and nth.quantity and nth.counter_id and nth.counter.unit == "purchases":
        subject = _("Every %(nth)s purchase") % {"nth": _ordinal(nth.quantity)}
    else:
        subject = _("Every purchase")
    groups: dict[int, list[str]] = {}
    for condition, tiers in text.conditions:
        if condition is nth and subject != _("Every purchase"):
            continue
        phrase = _condition_text(condition, tiers)
        if phrase:
            groups.setdefault(condition.or_group or 1, []).append(phrase)
    if groups:
        parts = [", ".join(phrases) for _group, phrases in sorted(groups.items())]
        subject = f"{subject} {(' ' + _('or') + ' ').join(parts)}"
    subject = f"{subject} {_where(text)}"
    when = _when(promotion)
    if when:
        subject = f"{subject} {when}"
    if promotion.coupon_series_id:
        subject = f"{subject} " + _("with a coupon of %(series)s") % {
            "series": promotion.coupon_series
        }
    return subject


def _compare(condition: Condition, value: str) -> str:
    if condition.operator == Condition.Operator.LT:
        return _("under %(value)s") % {"value": value}
    return _("of at least %(value)s") % {"value": value}


def _condition_text(condition: Condition, tiers: list[str]) -> str:
    kind = condition.kind
    K = Condition.Kind
    if kind == K.RECEIPT_TOTAL:
        return _compare(condition, _money(condition.amount))
    if kind == K.LINE_COUNT:
        return _("with %(compare)s lines") % {
            "compare": _compare(condition, _number(condition.quantity))
        }
    if kind in (K.CONTAINS, K.LINE):
        what = condition.product_set.name if condition.product_set_id else "…"
        if condition.amount is not None:
            measure = _compare(condition, _money(condition.amount))
        else:
            measure = (
                _compare(condition, _number(condition.quantity or Decimal(1))) + " " + _("units")
            )
        if kind == K.LINE:
            return _("with a line of “%(set)s” %(measure)s") % {"set": what, "measure": measure}
        return _("with “%(set)s” %(measure)s") % {"set": what, "measure": measure}
    if kind == K.CUSTOMER_TIER:
        return _("for tier %(tiers)s") % {"tiers": ", ".join(tiers) or "…"}
    if kind == K.COUNTER_VALUE:
        counter = condition.counter.name if condition.counter_id else "…"
        if condition.operator == Condition.Operator.LT:
            return _("while “%(counter)s” is under %(value)s") % {
                "counter": counter,
                "value": _number(condition.quantity),
            }
        return _("once “%(counter)s” reaches %(value)s") % {
            "counter": counter,
            "value": _number(condition.quantity),
        }
    if kind == K.NTH_PURCHASE:
        counter = condition.counter.name if condition.counter_id else "…"
        return _("on every %(nth)s step of “%(counter)s”") % {
            "nth": _ordinal(condition.quantity),
            "counter": counter,
        }
    if kind == K.PROMOTION_DONE:
        step = condition.done_promotion.name if condition.done_promotion_id else "…"
        if condition.operator == Condition.Operator.LT:
            return _("before completing “%(promotion)s”") % {"promotion": step}
        return _("after “%(promotion)s”") % {"promotion": step}
    return ""


def _where(text: RuleText) -> str:
    promotion = text.promotion
    if text.stores:
        if len(text.stores) == 1:
            place = _("at %(store)s") % {"store": text.stores[0]}
        else:
            place = ngettext("at %(count)d store", "at %(count)d stores", len(text.stores)) % {
                "count": len(text.stores)
            }
    elif promotion.partner_id:
        place = _("at %(partner)s") % {"partner": promotion.partner}
    else:
        place = _("at any store")
    channels = promotion.channels or []
    if channels:
        from loyalty.models import Store

        names = dict(Store.Channel.choices)
        place = f"{place} ({', '.join(str(names.get(c, c)) for c in channels)})"
    return place


def _weekdays(days: list[int]) -> str:
    days = sorted(set(days))
    names = [_(WEEKDAY_SHORT[day]) for day in days if day in WEEKDAY_SHORT]
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{names[0]}–{names[-1]}"
    return ", ".join(names)


def _day(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if value.year == timezone.localdate().year:
        return date_format(value, "j M")
    return date_format(value, "j M Y")


def _when(promotion: Promotion) -> str:
    parts = []
    if promotion.weekdays:
        parts.append(_("on %(days)s") % {"days": _weekdays(promotion.weekdays)})
    if promotion.time_from or promotion.time_to:
        start = promotion.time_from.strftime("%H:%M") if promotion.time_from else "00:00"
        end = promotion.time_to.strftime("%H:%M") if promotion.time_to else "24:00"
        parts.append(_("%(start)s–%(end)s store time") % {"start": start, "end": end})
    starts_at = promotion.starts_at
    if starts_at is not None and starts_at <= timezone.now():
        starts_at = None  # running already: the start says nothing about the rule
    if starts_at and promotion.ends_at:
        parts.append(
            _("from %(start)s to %(end)s")
            % {"start": _day(starts_at), "end": _day(promotion.ends_at)}
        )
    elif starts_at:
        parts.append(_("from %(start)s") % {"start": _day(starts_at)})
    elif promotion.ends_at:
        parts.append(_("until %(end)s") % {"end": _day(promotion.ends_at)})
    return ", ".join(parts)


def _occasion_subject(promotion: Promotion) -> str:
    trigger = promotion.trigger
    if trigger == Trigger.DATE:
        what = promotion.get_trigger_date_display() if promotion.trigger_date else "…"
        if promotion.trigger_date == "question" and promotion.trigger_question_id:
            what = str(promotion.trigger_question)
        offset = promotion.trigger_offset_days or 0
        if offset < 0:
            return ngettext(
                "%(days)d day before the customer's %(date)s",
                "%(days)d days before the customer's %(date)s",
                -offset,
            ) % {"days": -offset, "date": what}
        if offset > 0:
            return ngettext(
                "%(days)d day after the customer's %(date)s",
                "%(days)d days after the customer's %(date)s",
                offset,
            ) % {"days": offset, "date": what}
        return _("On the customer's %(date)s") % {"date": what}
    if trigger == Trigger.REGISTRATION:
        return _("On registration")
    if trigger == Trigger.FIRST_PURCHASE:
        return _("On the first purchase")
    if trigger == Trigger.PROFILE_COMPLETED:
        return _("When the profile is completed")
    if trigger == Trigger.CONSENT:
        if promotion.trigger_channel:
            from crm.models import Consent

            channel = dict(Consent.Channel.choices).get(
                promotion.trigger_channel, promotion.trigger_channel
            )
            return _("When a consent to %(channel)s is given") % {"channel": channel}
        return _("When a consent is given")
    if trigger == Trigger.TIER_CHANGE:
        if promotion.trigger_tier_id:
            return _("On reaching tier %(tier)s") % {"tier": promotion.trigger_tier}
        return _("On moving up a tier")
    if trigger == Trigger.COUNTER:
        counter = promotion.trigger_counter.name if promotion.trigger_counter_id else "…"
        return _("When “%(counter)s” reaches %(value)s") % {
            "counter": counter,
            "value": _number(promotion.trigger_value),
        }
    if trigger == Trigger.MONTHLY:
        return _("Every month on day %(day)s") % {"day": promotion.trigger_day or "…"}
    if trigger == Trigger.EVENT:
        event = str(promotion.event_type) if promotion.event_type_id else "…"
        return _("On the event “%(event)s”") % {"event": event}
    return str(promotion.get_trigger_display())


def _audience(text: RuleText) -> str:
    promotion = text.promotion
    parts = []
    if text.tiers:
        parts.append(_("for tier %(tiers)s") % {"tiers": ", ".join(text.tiers)})
    if promotion.new_within_days:
        parts.append(
            ngettext(
                "for customers new within %(days)d day",
                "for customers new within %(days)d days",
                promotion.new_within_days,
            )
            % {"days": promotion.new_within_days}
        )
    if promotion.referred_only:
        parts.append(_("for referred customers"))
    return ", ".join(parts)


def _currency(reward: Reward) -> str:
    return reward.currency.name if reward.currency_id else _("points")


BAND_MEASURES = {
    "receipt_amount": "money",
    "quantity": "number",
    "customer_spend": "money",
}


def _banded_text(reward: Reward) -> str:
    """Bands on one line: 5 % off below 100.00, 7 % off from 100.00... (by what)."""
    from promotions.bands import bands_of

    bands = bands_of(reward.bands)
    measure = BAND_MEASURES.get(reward.band_basis, "number")
    show = _money if measure == "money" else _number
    parts = []
    for index, band in enumerate(bands):
        if index == 0 and band.lower == 0 and len(bands) > 1:
            bound = _("below %(value)s") % {"value": show(bands[1].lower)}
        else:
            bound = _("from %(value)s") % {"value": show(band.lower)}
        parts.append(f"{_kind_text(reward, band.value)} {bound}")
    basis = {
        "receipt_amount": _("by the receipt's amount"),
        "quantity": _("by units"),
        "customer_spend": _("by the customer's spend"),
    }.get(reward.band_basis, "")
    return f"{', '.join(parts)} ({basis})" if basis else ", ".join(parts)


def _reward_text(reward: Reward) -> str:
    if getattr(reward, "band_basis", "") and reward.bands:
        text = _banded_text(reward)
    else:
        text = _kind_text(reward, reward.value)
    return _tail(reward, text)


def _kind_text(reward: Reward, value: Decimal | None) -> str:
    """What the reward gives, by its kind, with ``value`` as its number."""
    R = Reward.Kind
    kind = reward.kind
    if kind == R.POINTS_PERCENT:
        text = _("%(value)s %% back in %(currency)s") % {
            "value": _number(value),
            "currency": _currency(reward),
        }
    elif kind == R.POINTS_FIXED:
        text = f"+{_number(value)} {_currency(reward)}"
    elif kind == R.POINTS_MULTIPLIER:
        target = reward.multiplier_of.name if reward.multiplier_of_id else "…"
        text = _("×%(value)s the points of “%(promotion)s”") % {
            "value": _number(value),
            "promotion": target,
        }
    elif kind == R.DISCOUNT_PERCENT:
        text = _("%(value)s %% off") % {"value": _number(value)}
    elif kind == R.DISCOUNT_FIXED:
        text = _("%(amount)s off") % {"amount": _money(value)}
    elif kind == R.SPECIAL_PRICE:
        text = _("a price of %(amount)s per unit") % {"amount": _money(value)}
    elif kind == R.EVERY_NTH:
        nth = _ordinal(reward.every_n)
        if value is not None and value >= 100:
            text = _("every %(nth)s unit free") % {"nth": nth}
        else:
            text = _("every %(nth)s unit %(value)s %% off") % {"nth": nth, "value": _number(value)}
    elif kind == R.BUNDLE_PRICE:
        text = _("%(units)s for %(amount)s") % {
            "units": reward.every_n or "…",
            "amount": _money(value),
        }
    elif kind == R.DISCOUNT_PER_UNIT:
        text = _("%(amount)s off each unit") % {"amount": _money(value)}
    elif kind == R.COUNTER_STEP:
        counter = reward.counter.name if reward.counter_id else "…"
        text = _("+%(value)s on “%(counter)s”") % {"value": _number(value), "counter": counter}
    elif kind == R.COUPON:
        text = _("a coupon %(series)s") % {"series": reward.coupon_series or "…"}
    elif kind == R.TIER:
        text = _("tier %(tier)s") % {"tier": reward.tier.name if reward.tier_id else "…"}
    else:
        text = str(reward.get_kind_display())
    return text


def _tail(reward: Reward, text: str) -> str:
    R = Reward.Kind
    kind = reward.kind
    if reward.product_set_id and kind not in (R.COUNTER_STEP, R.COUPON, R.TIER):
        text = f"{text} " + _("on “%(set)s”") % {"set": reward.product_set.name}
    if reward.favourites_only:
        text = f"{text} " + _("(favourite products only)")
    if reward.max_units:
        text = f"{text}, " + ngettext(
            "at most %(units)d unit", "at most %(units)d units", reward.max_units
        ) % {"units": reward.max_units}
    if kind in Reward.POINTS:
        text = _points_life(reward, text)
    return text


def _points_life(reward: Reward, text: str) -> str:
    if reward.beneficiary == Reward.Beneficiary.REFERRER:
        text = f"{text} " + _("to the referring friend")
    if reward.activation_delay_days:
        text = f"{text}, " + ngettext(
            "active after %(days)d day", "active after %(days)d days", reward.activation_delay_days
        ) % {"days": reward.activation_delay_days}
    if reward.expires_on:
        text = f"{text}, " + _("burning %(date)s") % {"date": _day(reward.expires_on)}
    elif reward.expires_days_after_date is not None:
        text = f"{text}, " + ngettext(
            "burning %(days)d day after the date",
            "burning %(days)d days after the date",
            reward.expires_days_after_date,
        ) % {"days": reward.expires_days_after_date}
    elif reward.expires_day_of_next_month:
        text = f"{text}, " + _("burning on day %(day)d of the next month") % {
            "day": reward.expires_day_of_next_month
        }
    elif reward.lifetime_days:
        text = f"{text}, " + ngettext(
            "burning after %(days)d day", "burning after %(days)d days", reward.lifetime_days
        ) % {"days": reward.lifetime_days}
    return text


def _exchange_price(promotion: Promotion) -> str:
    if promotion.exchange_cost is None:
        return ""
    currency = promotion.exchange_currency.name if promotion.exchange_currency_id else ""
    return _("for %(cost)s %(currency)s") % {
        "cost": plain(promotion.exchange_cost),
        "currency": currency,
    }
