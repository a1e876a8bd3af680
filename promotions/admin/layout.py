"""What the promotion builder shows: the fields each trigger, condition kind and reward kind
needs (the page hides the rest as the marketer chooses), and the help text of the fields whose
model says nothing.

The maps name the fields that depend on a choice; a field no map names always shows. The page
reads them as JSON (``builder_layout``) and ``static/loyalty/builder.js`` applies them, so the
rule of what shows lives here once."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from promotions.engine.bands import BANDED_KINDS
from promotions.models import Condition, Reward
from promotions.models.promotion import Trigger

OCCASIONS = [value for value in Trigger.values if value != Trigger.RECEIPT]

# Promotion fields by trigger: the occasion's own settings, and what only a receipt has.
TRIGGER_FIELDS: dict[str, list[str]] = {
    "event_type": [Trigger.EVENT],
    "trigger_counter": [Trigger.COUNTER],
    "trigger_value": [Trigger.COUNTER],
    "trigger_tier": [Trigger.TIER_CHANGE],
    "trigger_channel": [Trigger.CONSENT],
    "trigger_date": [Trigger.DATE],
    "trigger_question": [Trigger.DATE],
    "trigger_offset_days": [Trigger.DATE],
    "trigger_day": [Trigger.MONTHLY],
    **{
        name: [Trigger.RECEIPT]
        for name in (
            "coupon_series",
            "weekdays",
            "time_from",
            "time_to",
            "group",
            "exclusive",
            "max_per_receipt",
            "exchange_cost",
            "exchange_currency",
            "cashier_message",
        )
    },
}

_K = Condition.Kind
CONDITION_FIELDS: dict[str, list[str]] = {
    "operator": [
        _K.RECEIPT_TOTAL,
        _K.LINE_COUNT,
        _K.CONTAINS,
        _K.LINE,
        _K.COUNTER_VALUE,
        _K.PROMOTION_DONE,
    ],
    "amount": [_K.RECEIPT_TOTAL, _K.CONTAINS, _K.LINE],
    "quantity": [_K.LINE_COUNT, _K.CONTAINS, _K.LINE, _K.COUNTER_VALUE, _K.NTH_PURCHASE],
    "product_set": [_K.CONTAINS, _K.LINE],
    "tiers": [_K.CUSTOMER_TIER],
    "counter": [_K.COUNTER_VALUE, _K.NTH_PURCHASE],
    "done_promotion": [_K.PROMOTION_DONE],
}

_R = Reward.Kind
_ON_LINES = [
    _R.POINTS_PERCENT,
    _R.POINTS_FIXED,
    _R.DISCOUNT_PERCENT,
    _R.DISCOUNT_FIXED,
    _R.SPECIAL_PRICE,
    _R.EVERY_NTH,
    _R.BUNDLE_PRICE,
    _R.DISCOUNT_PER_UNIT,
]
_POINTS = [_R.POINTS_PERCENT, _R.POINTS_FIXED, _R.POINTS_MULTIPLIER]
REWARD_FIELDS: dict[str, list[str]] = {
    "product_set": _ON_LINES,
    "min_line_quantity": _ON_LINES,
    "favourites_only": [kind for kind in _ON_LINES if kind != _R.POINTS_FIXED],
    "every_n": [_R.EVERY_NTH, _R.BUNDLE_PRICE],
    "max_units": list(Reward.UNIT_KINDS),
    "multiplier_of": [_R.POINTS_MULTIPLIER],
    "currency": _POINTS,
    "activation_delay_days": _POINTS,
    "lifetime_days": _POINTS,
    "expires_on": _POINTS,
    "expires_days_after_date": _POINTS,
    "expires_day_of_next_month": _POINTS,
    "spend_rule": _POINTS,
    "beneficiary": _POINTS,
    **{name: sorted(BANDED_KINDS) for name in ("band_basis", "bands", "band_counter")},
    "counter": [_R.COUNTER_STEP],
    "coupon_series": [_R.COUPON],
    "tier": [_R.TIER],
}

# Fields that also depend on another field of the same row: shown only when that field holds one
# of the values (the spend counter matters only for bands by the customer's spend).
REWARD_REQUIRES: dict[str, dict[str, list[str]]] = {
    "band_counter": {"band_basis": [Reward.BandBasis.CUSTOMER_SPEND]},
}

# What the reward's one number means, by kind: the label the value field takes.
VALUE_LABELS: dict[str, str] = {
    _R.POINTS_PERCENT: _("percent of the amount paid, in points"),
    _R.POINTS_FIXED: _("points per receipt"),
    _R.POINTS_MULTIPLIER: _("factor (2: double points)"),
    _R.DISCOUNT_PERCENT: _("percent off"),
    _R.DISCOUNT_FIXED: _("amount off the receipt"),
    _R.SPECIAL_PRICE: _("price per unit"),
    _R.EVERY_NTH: _("percent off the Nth unit (100: free)"),
    _R.BUNDLE_PRICE: _("price of a set"),
    _R.DISCOUNT_PER_UNIT: _("amount off each unit"),
    _R.COUNTER_STEP: _("steps"),
    _R.COUPON: _("coupons"),
    _R.TIER: _("1"),
}

# Help for the fields whose model gives none, so that every field of the builder explains
# itself (a test walks the forms).
HELP: dict[str, dict[str, str]] = {
    "promotion": {
        "programme": _("The loyalty programme whose customers, cards and points it uses."),
        "name": _("As marketers, reports and the customer see it."),
        "description": _("Notes for colleagues: the idea, the brief, who asked for it."),
        "status": _(
            "Only an active promotion runs, and only within its dates. A draft can be tried "
            "in the simulator and the back-test."
        ),
        "trigger": _(
            "A purchase, or an occasion of the customer's life (birthday, registration, an "
            "event...). The fields below change with it."
        ),
        "partner": _("Empty: the promotion runs at every partner of the programme."),
        "starts_at": _("Store time. Empty: from the moment it is activated."),
        "ends_at": _("Store time, exclusive. Empty: until it is paused or finished."),
        "time_from": _("Store time. Empty: from the start of the day."),
        "days_before": _("How many days before the date the promotion already runs."),
        "days_after": _("How many days after the date the promotion still runs."),
        "event_type": _("For “an event”: which events."),
        "trigger_date": _("For “a date of the customer”: which of their dates."),
        "trigger_offset_days": _("-3: three days before the date; 0: on the day."),
        "budget": _(
            "Discounts plus points at their rate in money; the promotion stops giving when it "
            "is used up. Empty: no cap."
        ),
        "max_per_receipt": _("Discounts plus points at their rate, per receipt. Empty: no cap."),
        "uses_per_customer_day": _("How many purchases of one customer a day. Empty: any."),
        "cashier_message": _("Shown on the register's screen when the promotion applies."),
        "customer_message": _("Printed on the receipt or shown in the app for the customer."),
        "coupon_series": _(
            "Only receipts that present a coupon of this series get the promotion. Empty: no "
            "coupon needed."
        ),
        "group": _(
            "Promotions of one group compete on a line (the best, the first, or all add up, "
            "as the group says). Empty: combines with every other."
        ),
        "exchange_cost": _("The price in points the customer pays for the rewards."),
        "exchange_currency": _("The currency of the price, e.g. chips."),
    },
    "condition": {
        "kind": _("What is checked: the receipt, its lines, or the customer."),
        "operator": _("How the value is compared: at least (≥) or less than (<)."),
        "amount": _("Money: the receipt's amount to pay, or the amount of the set's lines."),
        "quantity": _("Units, lines, or the counter's value (N for “every Nth”)."),
        "product_set": _("The products the condition is about."),
        "tiers": _("The customer's tier must be one of these."),
        "counter": _("The customer's counter (purchases, units, amount or steps)."),
    },
    "reward": {
        "kind": _("What the promotion gives. The fields below change with it."),
        "value": _("The reward's number: its meaning follows the kind chosen."),
        "multiplier_of": _(
            "For “a multiple of another promotion's points”: that promotion (e.g. ×2)."
        ),
        "activation_delay_days": _(
            "The points are pending for this many days (e.g. until the return period ends)."
        ),
    },
}


def builder_layout() -> dict:
    """What the builder page hides and shows, for ``static/loyalty/builder.js``."""
    return {
        "promotion": {"controller": "trigger", "fields": _plain(TRIGGER_FIELDS)},
        "conditions": {"controller": "kind", "fields": _plain(CONDITION_FIELDS)},
        "rewards": {
            "controller": "kind",
            "fields": _plain(REWARD_FIELDS),
            "requires": {
                name: _plain(requirement) for name, requirement in REWARD_REQUIRES.items()
            },
            "labels": {"value": {kind: str(label) for kind, label in VALUE_LABELS.items()}},
        },
    }


def _plain(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [str(value) for value in values] for name, values in fields.items()}


def explain(form, part: str) -> None:
    """Give every field of ``form`` that has no help text the builder's."""
    for name, field in form.fields.items():
        if not field.help_text and name in HELP[part]:
            field.help_text = HELP[part][name]
