"""The receipt simulator of the admin: a test receipt through the same code as ``calculate``.

A marketer picks a terminal (hence a store and its clock), a moment, a customer (a card, or a
described customer: their tier, birthday, segments) and lines, optionally with draft
promotions and what-if spending settings to try; the answer is exactly what ``calculate``
would return with those rules, every effect of the receipt (discounts, points, counter steps,
coupons, tier moves, exchanges), and for every promotion that gave nothing the condition that
failed and the value that failed it (``promotions.engine.explain``). Nothing is written: not
to the ledger, not to the live programme, not to the rules' cache. A banded reward says
which of its bands applied and what it measured (``processing.simulator_bands``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from loyalty.models import Counter, Product, Receipt, Terminal, TierMembership
from loyalty.money import ZERO
from processing.api.answers import purchase_answer
from processing.calculate import Preview, purchase_simulate
from processing.plan import tier_money
from processing.sale import PurchaseLine, PurchaseRequest
from processing.simulator_bands import SimulatedBand, band_rows
from processing.simulator_text import (
    EXCHANGE_REASONS,
    Names,
    failures_text,
    moment_shown,
    money_shown,
    number_shown,
    why_text,
)
from processing.simulator_text import REASONS as REASONS  # the reasons in words, re-exported
from processing.tiers import tier_step
from promotions.engine import CustomerFacts, EngineResult, RulesSnapshot
from promotions.engine.explain import Explanations, explain
from promotions.rules.snapshot import snapshot_compile, snapshot_get

MAX_PRICE = Decimal("999999999999.99")  # as the registers' API (processing.api.serializers)
PRICE_PLACES = 2
QUANTITY_PLACES = 3
PRODUCTS_FOUND_MAX = 20
NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


@dataclass(frozen=True)
class WhatIf:
    """The programme's spending settings tried in the simulation only (None: the live value).

    They replace the settings in a copy of the rules the simulation alone reads; the share
    paid with points replaces the main currency's own share too, when it has one (the
    currency's share wins over the programme's at the registers)."""

    max_spend_percent: Decimal | None = None
    min_money_payment: Decimal | None = None
    certificates_earn: bool | None = None

    def __bool__(self) -> bool:
        return any(value is not None for value in vars(self).values())

    def applied(self, snapshot: RulesSnapshot) -> RulesSnapshot:
        """A copy of ``snapshot`` with these settings in every programme (a simulated receipt
        belongs to one of them)."""
        changes: dict[str, object] = {}
        if self.max_spend_percent is not None:
            changes["max_spend_percent"] = self.max_spend_percent
        if self.min_money_payment is not None:
            changes["min_money_payment"] = self.min_money_payment
        if self.certificates_earn is not None:
            changes["certificates_earn"] = self.certificates_earn
        programmes = {pk: replace(rule, **changes) for pk, rule in snapshot.programmes.items()}  # type: ignore[arg-type]
        currencies = dict(snapshot.currencies)
        if self.max_spend_percent is not None:
            for rule in snapshot.programmes.values():
                currency = currencies.get(rule.main_currency_id or 0)
                if currency is not None and currency.max_spend_percent is not None:
                    currencies[currency.id] = replace(
                        currency, max_spend_percent=self.max_spend_percent
                    )
        return replace(snapshot, programmes=programmes, currencies=currencies)


EFFECT_KINDS = {
    "discount": gettext_lazy("discount"),
    "points": gettext_lazy("points"),
    "counter": gettext_lazy("counter step"),
    "coupon": gettext_lazy("coupon"),
    "tier": gettext_lazy("tier"),
    "exchange": gettext_lazy("exchange"),
}


@dataclass
class Effect:
    """One effect of the simulated receipt, in words."""

    kind: str  # discount | points | counter | coupon | tier | exchange
    promotion: str  # the promotion's name ("": the receipt's own, e.g. a counter's step)
    text: str

    @property
    def label(self) -> str:
        return str(EFFECT_KINDS[self.kind])


@dataclass(frozen=True)
class Refusal:
    """A promotion that gave nothing: why, and the facts that failed it with their values."""

    promotion_id: int
    name: str
    why: str
    details: tuple[str, ...] = ()


@dataclass
class Simulation:
    answer: dict  # what calculate returns
    result: EngineResult
    refusals: list[Refusal]
    lines: list[dict]  # per line: the request's sku, product name, numbers as shown
    totals: dict[str, str] = field(default_factory=dict)  # as shown
    effects: list[Effect] = field(default_factory=list)
    clock: str = ""  # the moment of sale and whose clock it is
    what_if: WhatIf = field(default_factory=WhatIf)
    bands: list[SimulatedBand] = field(default_factory=list)  # the bands banded rewards gave with

    @property
    def blocked(self) -> list[tuple[int, str, str]]:
        """(promotion id, name, why) of each promotion that gave nothing."""
        return [(r.promotion_id, r.name, r.why) for r in self.refusals]


# --- reading what the marketer typed ---------------------------------------------------------


def parse_number(text: str, places: int) -> Decimal:
    """A number typed with a decimal point, or in a language that writes a decimal comma
    (Russian: "89,90") with either; at most ``places`` decimals. Thousands separators and
    exponents are refused: "1,234.50" and "1E+2" are not read as numbers.

    Raises ``ValueError`` with the sentence to show."""
    text = text.strip()
    comma = formats.get_format("DECIMAL_SEPARATOR") == ","
    if not NUMBER.match(text):
        raise ValueError(_("“%(text)s” is not a number such as 89.90.") % {"text": text})
    if "," in text and not comma:
        raise ValueError(
            _("“%(text)s”: write the decimals after a point, e.g. 89.90.") % {"text": text}
        )
    value = Decimal(text.replace(",", "."))
    if -value.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValueError(
            ngettext(
                "“%(text)s” has more than %(places)s decimal.",
                "“%(text)s” has more than %(places)s decimals.",
                places,
            )
            % {"text": text, "places": places}
        )
    return value


def parse_lines(text: str) -> list[PurchaseLine]:
    """Lines typed as ``SKU quantity price``, one per line (``#`` starts a comment); in a
    language with a decimal comma, "89,90" as well as "89.90"."""
    lines: list[PurchaseLine] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        raw = raw.split("#", 1)[0].strip()
        if not raw:
            continue
        parts = raw.split()
        if len(parts) != 3:
            errors.append(
                _("Line %(number)s: write SKU, quantity and price, e.g. “A-1 2 89.90”.")
                % {"number": number}
            )
            continue
        try:
            quantity = parse_number(parts[1], QUANTITY_PLACES)
            price = parse_number(parts[2], PRICE_PLACES)
        except ValueError as exc:
            errors.append(_("Line %(number)s: %(error)s") % {"number": number, "error": exc})
            continue
        if quantity <= 0 or price > MAX_PRICE:
            errors.append(
                _("Line %(number)s: the quantity must be above 0 and the price not negative.")
                % {"number": number}
            )
            continue
        lines.append(PurchaseLine(len(lines) + 1, parts[0], quantity, price))
    if errors:
        raise ValidationError(errors)
    if not lines:
        raise ValidationError(_("Give at least one line."))
    return lines


def catalogue(terminal: Terminal, skus: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(product id, name) by SKU, as the terminal's partner sells them: its own product of a
    SKU, else the shared catalogue's (as the registers read them)."""
    found: dict[str, tuple[int, str]] = {}
    own: set[str] = set()
    for sku, pk, name, partner_id in (
        Product.objects.filter(sku__in=set(skus))
        .filter(Q(partner__isnull=True) | Q(partner_id=terminal.store.partner_id))
        .values_list("sku", "pk", "name", "partner_id")
    ):
        if sku not in own:
            found[sku] = (pk, name)
        if partner_id is not None:
            own.add(sku)
    return found


def lines_check(lines: Sequence[PurchaseLine], terminal: Terminal) -> None:
    """Refuse SKUs the terminal's catalogue does not have (a typo would otherwise be simulated
    as a product no promotion knows)."""
    known = catalogue(terminal, [line.sku for line in lines])
    unknown = [line for line in lines if line.sku not in known]
    if unknown:
        raise ValidationError(
            [
                _("Line %(number)s: no product of the catalogue has the SKU “%(sku)s”.")
                % {"number": line.line_no, "sku": line.sku}
                for line in unknown
            ]
        )


def products_find(text: str, partner_id: int | None) -> list[dict[str, str]]:
    """Products whose SKU starts with ``text`` or whose name contains it, of the shared
    catalogue and (``partner_id``) that partner's own; any partner's for None."""
    text = text.strip()
    if not text:
        return []
    products = Product.objects.filter(is_active=True).filter(
        Q(sku__istartswith=text) | Q(name__icontains=text)
    )
    if partner_id is not None:
        products = products.filter(Q(partner__isnull=True) | Q(partner_id=partner_id))
    return [
        {"sku": sku, "name": name}
        for sku, name in products.order_by("sku", "pk").values_list("sku", "name")[
            :PRODUCTS_FOUND_MAX
        ]
    ]


def parse_favourites(text: str, terminal: Terminal) -> list[int]:
    """The ids of the products whose SKUs are typed (separated by spaces or commas), as the
    terminal's partner sells them: its own product of a SKU, else the shared catalogue's."""
    skus = list(dict.fromkeys(text.replace(",", " ").split()))
    if not skus:
        return []
    found = catalogue(terminal, skus)
    unknown = [sku for sku in skus if sku not in found]
    if unknown:
        raise ValidationError(
            _("No product of the catalogue has the SKU %(skus)s.")
            % {"skus": ", ".join(f"“{sku}”" for sku in unknown)}
        )
    return [found[sku][0] for sku in skus]


def receipt_lines_text(receipt: Receipt) -> str:
    """A past receipt's lines in the simulator's notation (never in scientific notation)."""
    return "\n".join(
        f"{line.sku} {format(line.quantity.normalize(), 'f')} {line.price}"
        for line in receipt.lines.order_by("line_no")
    )


# --- the simulation ------------------------------------------------------------------------


def simulate(
    *,
    terminal: Terminal,
    lines: list[PurchaseLine],
    sold_at: datetime | None = None,
    card: str | None = None,
    tier_id: int | None = None,
    birth_date: date | None = None,
    segment_ids: Sequence[int] = (),
    favourite_product_ids: Sequence[int] = (),
    spend_points: Decimal | str | None = None,
    exchanges: tuple[str, ...] = (),
    drafts: Sequence[int] = (),
    what_if: WhatIf | None = None,
) -> Simulation:
    """What ``calculate`` would answer, every effect of the receipt, and why each promotion
    that gave nothing did not, with the value that failed it.

    With a ``card``, the customer is the card's holder, with everything the registers know
    of them (their favourite products too); without one, a customer described by ``tier_id``,
    ``birth_date``, ``segment_ids`` and ``favourite_product_ids``. ``what_if`` settings apply
    to this simulation only. Raises ``LoyaltyError`` as calculate does (an unknown card...)."""
    what_if = what_if or WhatIf()
    request = PurchaseRequest(
        receipt_id=f"simulator-{uuid.uuid4().hex[:12]}",
        lines=tuple(lines),
        sold_at=sold_at,
        card=card or None,
        spend_points=spend_points,
        exchanges=tuple(exchanges),
    )
    snapshot = rules_for(drafts, what_if)
    described = (
        None
        if card
        else CustomerFacts(
            id=0,
            tier_id=tier_id,
            birth_date=birth_date,
            segment_ids=frozenset(segment_ids),
            favourite_product_ids=frozenset(favourite_product_ids),
            registered_at=sold_at or timezone.now(),
        )
    )
    preview = purchase_simulate(terminal, request, snapshot=snapshot, customer=described)
    answer = purchase_answer(preview.outcome)
    result = preview.result
    zone = preview.sale.terminal.store.timezone
    names = Names(snapshot, zone)
    explanations = explain(snapshot, preview.context, result)
    refusals = _refusals(result, names, explanations)
    return Simulation(
        answer=answer,
        result=result,
        refusals=refusals,
        lines=_lines(terminal, lines, result, preview.outcome.places),
        totals=_totals(result, preview.outcome.places),
        effects=_effects(preview, names, explanations),
        clock=clock_text(preview.context.at, zone, sold_at is None),
        what_if=what_if,
        bands=band_rows(snapshot, result.bands),
    )


def rules_for(drafts: Sequence[int], what_if: WhatIf) -> RulesSnapshot:
    """The rules a simulation runs: those in force (drafts added: compiled apart), with the
    what-if settings in a copy; the registers' cached rules are never changed."""
    snapshot = snapshot_compile("simulator", drafts) if drafts else snapshot_get()
    return what_if.applied(snapshot) if what_if else snapshot


def clock_text(at: datetime, zone: str, now: bool) -> str:
    """Which clock the simulated sale uses, and its moment on it."""
    values = {"moment": moment_shown(at, zone)}
    if now:
        return _("Sold now: %(moment)s, on the store's clock.") % values
    return _("Sold at %(moment)s, on the store's clock.") % values


def _refusals(result: EngineResult, names: Names, explanations: Explanations) -> list[Refusal]:
    rows: list[Refusal] = []
    seen: set[tuple[int, str]] = set()
    for pid, reason in result.blocked:
        if (pid, reason) in seen:
            continue  # refused in both walks for the same reason
        seen.add((pid, reason))
        details = failures_text(explanations.get((pid, reason), ()), names)
        name = names.promotions.get(pid, str(pid))
        rows.append(Refusal(pid, name, why_text(reason, names), tuple(details)))
    return rows


def _lines(terminal, lines, result: EngineResult, places: int) -> list[dict]:
    products = catalogue(terminal, [line.sku for line in lines])
    by_no = {line.line_no: line for line in result.lines}
    table = []
    for line in lines:
        numbers = by_no[line.line_no]
        table.append(
            {
                "line": line.line_no,
                "sku": line.sku,
                "name": products[line.sku][1] if line.sku in products else "",
                "quantity": number_shown(line.quantity),
                "price": money_shown(line.price),
                "amount": money_shown(numbers.amount),
                "discount": money_shown(numbers.discount),
                "points_spent": money_shown(numbers.points_spent),
                "to_pay": money_shown(numbers.to_pay),
                "points_earned": number_shown(numbers.points_earned, places),
            }
        )
    return table


def _totals(result: EngineResult, places: int) -> dict[str, str]:
    return {
        "total": money_shown(result.total),
        "discount": money_shown(result.discount),
        "points_spent": money_shown(result.points_spent),
        "to_pay": money_shown(result.to_pay),
        "points_earned": number_shown(result.points_earned, places),
        "spent_points": number_shown(result.spent_points, places),
    }


# --- the effects of the receipt --------------------------------------------------------------


def _effects(preview: Preview, names: Names, explanations: Explanations) -> list[Effect]:
    result = preview.result
    snapshot = preview.sale.snapshot
    effects = [
        Effect(
            "discount",
            award.name,
            _("discount %(amount)s") % {"amount": money_shown(award.amount)},
        )
        for award in result.discounts
    ]
    for award in result.awards:
        code, places = names.currency(award.currency_id)
        sentence = (
            _("+%(amount)s %(currency)s to the friend who referred the customer")
            if award.beneficiary == "referrer"
            else _("+%(amount)s %(currency)s")
        )
        effects.append(
            Effect(
                "points",
                award.name,
                sentence % {"amount": number_shown(award.amount, places), "currency": code},
            )
        )
    effects += _counter_effects(preview, names)
    for coupon in result.coupons_issued:
        effects.append(
            Effect(
                "coupon",
                names.promotions.get(coupon.promotion_id, ""),
                ngettext(
                    "%(count)s coupon of series %(series)s, issued on confirm",
                    "%(count)s coupons of series %(series)s, issued on confirm",
                    coupon.count,
                )
                % {"count": coupon.count, "series": coupon.series},
            )
        )
    effects += _tier_effects(preview, snapshot, names)
    for exchange in result.exchanges:
        effects.append(_exchange_effect(exchange, names, explanations))
    return effects


def _counter_effects(preview: Preview, names: Names) -> list[Effect]:
    steps = preview.result.counters
    if not steps:
        return []
    customer = preview.context.customer
    running = dict(customer.counters) if customer is not None else {}
    counters = dict(
        Counter.objects.filter(pk__in={s.counter_id for s in steps}).values_list("pk", "name")
    )
    effects = []
    for step in steps:
        before = running.get(step.counter_id, ZERO)
        running[step.counter_id] = before + step.delta
        values = {
            "counter": counters.get(step.counter_id, step.counter_id),
            "delta": number_shown(step.delta),
            "before": number_shown(before),
            "after": number_shown(before + step.delta),
        }
        effects.append(
            Effect(
                "counter",
                names.promotions.get(step.promotion_id, "") if step.promotion_id else "",
                _("counter %(counter)s +%(delta)s: %(before)s → %(after)s") % values,
            )
        )
    return effects


def _tier_effects(preview: Preview, snapshot: RulesSnapshot, names: Names) -> list[Effect]:
    """The tiers promotions give, then (a card's holder) where the receipt's money takes the
    customer, computed on a copy of their membership that is never saved."""
    result, sale = preview.result, preview.sale
    customer = preview.context.customer
    tiers = snapshot.tiers_of(sale.programme.id)
    if customer is None or not tiers:
        return []
    by_id = {tier.id: tier for tier in tiers}
    effects = []
    current = by_id.get(customer.tier_id) if customer.tier_id is not None else None
    for award in sorted(
        (a for a in result.tier_awards if a.tier_id in by_id),
        key=lambda a: by_id[a.tier_id].rank,
    ):
        target = by_id[award.tier_id]
        if current is not None and current.rank >= target.rank:
            continue
        effects.append(
            Effect(
                "tier",
                names.promotions.get(award.promotion_id, ""),
                _("tier %(before)s → %(after)s")
                % {"before": names.tier(current.id if current else None), "after": target.name},
            )
        )
        current = target
    if sale.customer is None:  # a described customer: no qualifying spend to move
        return effects
    membership = TierMembership.objects.filter(
        customer=sale.customer, programme_id=sale.programme.id
    ).first() or TierMembership(
        customer=sale.customer,
        programme_id=sale.programme.id,
        tier_id=tiers[-1].id,
        qualifying_amount=ZERO,
    )
    before_amount = membership.qualifying_amount
    if current is not None and current.id != membership.tier_id:  # a promotion's tier
        membership.qualifying_amount = max(current.threshold, membership.qualifying_amount)
        membership.tier_id = current.id
    start = current.id if current is not None else membership.tier_id
    name = tier_step(membership, tiers, tier_money(result))
    values = {
        "before": names.tier(start),
        "after": name,
        "amount_before": money_shown(before_amount),
        "amount_after": money_shown(membership.qualifying_amount),
    }
    sentence = (
        _("stays in tier %(after)s; qualifying spend %(amount_before)s → %(amount_after)s")
        if membership.tier_id == start
        else _(
            "tier %(before)s → %(after)s by the money paid; qualifying spend "
            "%(amount_before)s → %(amount_after)s"
        )
    )
    effects.append(Effect("tier", "", sentence % values))
    return effects


def _exchange_effect(exchange, names: Names, explanations: Explanations) -> Effect:
    name = names.promotions.get(exchange.promotion_id, "") if exchange.promotion_id else ""
    code, places = names.currency(exchange.currency_id)
    if exchange.status == "applied":
        text = _("exchange %(code)s: the customer pays %(cost)s %(currency)s") % {
            "code": exchange.code,
            "cost": number_shown(exchange.cost, places),
            "currency": code,
        }
        return Effect("exchange", name, text)
    why = str(EXCHANGE_REASONS.get(exchange.reason or "", exchange.reason))
    details = [
        text
        for (pid, _reason), failures in explanations.items()
        if pid == exchange.promotion_id
        for text in failures_text(failures, names)
    ]
    text = _("exchange %(code)s refused: %(why)s") % {
        "code": exchange.code,
        "why": "; ".join([why, *details]),
    }
    return Effect("exchange", name, text)
