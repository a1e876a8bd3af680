"""A sale as the registers send it, and everything known about it before the engine runs.

``PurchaseRequest`` is the request (its ``fingerprint`` makes retries safe); ``load`` reads in
a few queries (one round trip on PostgreSQL: ``processing.fastpath``) the card, the holder,
their accounts, tiers and lots, the receipt's products and what the promotions read about the
customer; ``sale_open`` checks the card and finds the programme; ``context_build`` makes the
engine's ``ReceiptContext``: the lines with their catalogue facts, the customer's facts, the
points the receipt may spend, the coupons and certificates presented."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Customer, MemorableDate, SegmentMember
from crm.phones import normalize_phone
from loyalty.errors import (
    CardBlocked,
    CardInactive,
    CardNotFound,
    CustomerNotFound,
    NoProgramme,
)
from loyalty.models import (
    Account,
    Card,
    CounterValue,
    FavouriteProduct,
    Hold,
    LedgerEntry,
    Lot,
    Product,
    Receipt,
    Terminal,
    TierMembership,
)
from loyalty.models.tiers import LIFETIME_PERIOD_START
from loyalty.money import ZERO, line_amount, quantize
from loyalty.services.certificates import (
    CertificateCheck,
    certificates_check,
    certificates_funds,
    normalize_code,
)
from loyalty.services.ledger import (
    customer_account,
)
from loyalty.services.lots import open_lots
from processing import fastpath
from promotions.chains import chain_steps_done
from promotions.coupons import (
    coupons_check,
    hold_key,
    unlocks,
)
from promotions.engine import (
    SPEND_MAX,
    CustomerFacts,
    LineInput,
    ReceiptContext,
    RulesSnapshot,
    period_start,
)
from promotions.engine.types import ProgrammeRule
from promotions.rules.history import snapshot_at
from promotions.rules.snapshot import snapshot_get

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class PurchaseLine:
    line_no: int
    sku: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True)
class PurchaseRequest:
    receipt_id: str
    lines: tuple[PurchaseLine, ...]
    sold_at: datetime | None = None
    card: str | None = None
    phone: str | None = None
    coupons: tuple[str, ...] = ()
    spend_points: Decimal | str | None = None
    exchanges: tuple[str, ...] = ()  # codes of exchange promotions the customer pays for
    # Gift certificates paying part of the receipt: (code, amount; None: as much as it can).
    certificates: tuple[tuple[str, Decimal | None], ...] = ()

    def fingerprint(self) -> str:
        """SHA-256 of the canonical body: the same purchase always gives the same digest."""
        body: dict[str, object] = {
            "receipt_id": self.receipt_id,
            "datetime": self.sold_at.astimezone(UTC).isoformat() if self.sold_at else None,
            "card": self.card,
            "phone": self.phone,
            "lines": [
                [line.line_no, line.sku, str(line.quantity.normalize()), str(quantize(line.price))]
                for line in sorted(self.lines, key=lambda line: line.line_no)
            ],
            "coupons": list(self.coupons),
            "spend_points": (
                self.spend_points
                if self.spend_points in (None, SPEND_MAX)
                else str(quantize(Decimal(self.spend_points)))
            ),
        }
        if self.exchanges:  # absent otherwise: the digests of earlier bodies stay as they were
            body["exchanges"] = list(self.exchanges)
        if self.certificates:
            body["certificates"] = [
                [normalize_code(code), None if amount is None else str(quantize(amount))]
                for code, amount in self.certificates
            ]
        return digest(body)


def digest(body) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class Sale:
    terminal: Terminal
    programme: ProgrammeRule
    snapshot: RulesSnapshot
    customer: Customer | None
    card: Card | None
    holder: fastpath.Holder
    facts: CustomerFacts | None = None
    fast: bool = False  # reads and writes through processing.fastpath (PostgreSQL)
    # The accounts of the friend who referred the customer, by currency, locked with the
    # customer's when some promotion gives the friend points (refer-a-friend).
    referrer_accounts: dict[int, Account] = field(default_factory=dict)
    # The coupons the receipt presents, as checked (None: it presents none).
    coupons: list | None = None
    # The gift certificates that pay for it, as checked (None: it presents none).
    certificates: list[CertificateCheck] | None = None
    # What the cashier is told beyond the promotions' messages.
    notes: list[str] = field(default_factory=list)

    @property
    def spends(self) -> bool:
        """Whether the card may spend points: a card handed out but not activated yet earns
        and spends nothing (its first purchase activates it; features.md, D)."""
        return self.card is None or self.card.status != Card.Status.ISSUED


def terminal_loaded(terminal: Terminal) -> Terminal:
    if not hasattr(terminal, "_state") or "store" not in terminal._state.fields_cache:
        terminal = Terminal.objects.select_related("store__partner").get(pk=terminal.pk)
    return terminal


ALL_FACTS = frozenset(["segments", "dates", "counters", "favourites"])


def load(
    terminal: Terminal,
    request: PurchaseRequest,
    *,
    replay: bool,
    lots: bool,
    needs: frozenset[str] | None = None,
) -> tuple[fastpath.Holder, bool]:
    """Everything a sale needs to know before any lock, and whether it took the SQL path:
    the receipt already stored under this id (``replay``), the card, its holder, their
    accounts and tiers, the receipt's products, (``lots``) the holder's open lots and what
    the promotions read about the customer (``needs``: by default, what the rules read)."""
    snapshot = None
    if needs is None:
        snapshot = snapshot_get()
        needs = snapshot.needs
    phone = None
    if not request.card and request.phone:
        try:
            phone = normalize_phone(request.phone)
        except Exception as exc:
            raise CustomerNotFound(phone=request.phone) from exc
    skus = {line.sku for line in request.lines}
    partner_id = terminal.store.partner_id
    if fastpath.enabled():
        holder = fastpath.holder_load(
            card=request.card,
            phone=phone,
            skus=skus,
            partner_id=partner_id,
            replay=(terminal.pk, request.receipt_id) if replay else None,
            lots=lots,
            needs=needs,
            counters_since=counters_since(),
        )
        holder.snapshot = snapshot
        return holder, True
    holder = fastpath.Holder(snapshot=snapshot)
    if replay:
        holder.replay = (
            Receipt.objects.filter(terminal=terminal, receipt_id=request.receipt_id)
            .values_list("fingerprint", "result")
            .first()
        )
    customer = None
    if request.card:
        holder.card = Card.objects.select_related("customer").filter(number=request.card).first()
        customer = holder.card.customer if holder.card is not None else None
    elif phone:
        customer = Customer.objects.filter(phone=phone).first()
    holder.customer = customer
    if customer is not None:
        holder.accounts = list(
            Account.objects.filter(kind=Account.Kind.CUSTOMER, customer=customer).order_by("pk")
        )
        holder.tiers = dict(
            TierMembership.objects.filter(customer=customer).values_list("programme_id", "tier_id")
        )
        if lots:
            holder.lots = list(
                Lot.objects.filter(account__in=[a.pk for a in holder.accounts]).exclude(remaining=0)
            )
        facts_load(holder, customer, needs)
    elif lots:
        holder.lots = []
    holder.products = list(
        Product.objects.filter(sku__in=skus)
        .filter(Q(partner__isnull=True) | Q(partner_id=partner_id))
        .order_by()
        .values_list("sku", "id", "partner_id", "category_id", "brand_id", "is_gift_card")
    )
    return holder, False


def facts_load(holder: fastpath.Holder, customer: Customer, needs: frozenset[str]) -> None:
    """Read what the promotions read about the customer (``needs``) into ``holder``."""
    if "segments" in needs:
        holder.segments = list(
            SegmentMember.objects.filter(customer=customer).values_list("segment_id", flat=True)
        )
    if "dates" in needs:
        holder.dates = list(
            MemorableDate.objects.filter(customer=customer, is_yearly=True).values_list(
                "kind", "date"
            )
        )
    if "counters" in needs:
        holder.counters = list(
            CounterValue.objects.filter(customer=customer)
            .filter(Q(period_start__gte=counters_since()) | Q(period_start=LIFETIME_PERIOD_START))
            .values_list("counter_id", "period_start", "value")
        )
    if "favourites" in needs:
        holder.favourites = list(
            FavouriteProduct.objects.filter(customer=customer)
            .order_by()
            .values_list("programme_id", "product_id")
        )
    holder.needs = holder.needs | needs


def counters_since() -> date:
    """The oldest counter period a sale may read (the longest period but lifetime: a year)."""
    return timezone.now().date() - timedelta(days=400)


def sale_open(terminal: Terminal, request: PurchaseRequest, holder: fastpath.Holder, fast: bool):
    snapshot = holder.snapshot or snapshot_get()
    customer, card = None, None
    if request.card:
        card = holder.card
        if card is None:
            raise CardNotFound(card=request.card)
        if card.status in (Card.Status.BLOCKED, Card.Status.LOST, Card.Status.REPLACED):
            raise CardBlocked(card=request.card, status=card.status)
        if card.status == Card.Status.NEW:
            raise CardInactive(card=request.card)
        customer = holder.customer
    elif request.phone:
        customer = holder.customer
        if customer is None:
            raise CustomerNotFound()
    if request.sold_at is not None and snapshot.changed_at is not None:
        # A receipt sold earlier than the last change: the rules in force when it was sold.
        snapshot = snapshot_at(request.sold_at, snapshot)
        missing = snapshot.needs - holder.needs
        if missing and customer is not None:
            # They read what no rule of now reads (a promotion changed since): read it too.
            facts_load(holder, customer, missing)
    programme = snapshot.programme_for(
        terminal.store.partner_id, card.programme_id if card is not None else None
    )
    if programme is None:
        raise NoProgramme()
    return Sale(terminal, programme, snapshot, customer, card, holder, fast=fast)


def line_inputs(request: PurchaseRequest, products: list[tuple]) -> tuple[LineInput, ...]:
    """The receipt's lines with what the catalogue knows of their products.

    ``products``: (sku, id, partner id, category id, brand id, is a gift card) of the shared
    catalogue and of the selling partner; a partner's own product wins over the shared
    catalogue's.
    """
    found: dict[str, tuple] = {}
    for row in products:
        if row[0] not in found or row[2] is not None:
            found[row[0]] = row
    inputs = []
    for line in sorted(request.lines, key=lambda line: line.line_no):
        product = found.get(line.sku)
        inputs.append(
            LineInput(
                line_no=line.line_no,
                sku=line.sku,
                quantity=line.quantity,
                price=line.price,
                amount=line_amount(line.quantity, line.price),
                product_id=product[1] if product else None,
                category_ids=frozenset([product[3]]) if product and product[3] else frozenset(),
                brand_id=product[4] if product else None,
                gift_card=bool(product and product[5]),
            )
        )
    return tuple(inputs)


def customer_facts(sale: Sale, at: datetime, tier_id: int | None | bool = False):
    """What the engine knows of the customer; ``tier_id`` as read under the lock, if it was."""
    if sale.customer is None:
        return None
    if tier_id is False:
        tier_id = sale.holder.tiers.get(sale.programme.id)
    if tier_id is None:
        # No membership yet: the customer stands in the entry tier (its first receipt counts
        # towards the next one, and the entry tier's promotions apply to it).
        tier_id = sale.snapshot.entry_tier_id(sale.programme.id)
    holder, customer = sale.holder, sale.customer
    counters = {}
    if holder.counters:
        local_day = store_local(sale.terminal, at).date()
        periods = {c.id: period_start(c.period, local_day) for c in sale.snapshot.counters}
        counters = {
            counter_id: value
            for counter_id, start, value in holder.counters
            if periods.get(counter_id) == start
        }
    return CustomerFacts(
        id=customer.pk,
        tier_id=tier_id,
        card_type=sale.card.card_type if sale.card else None,
        registered_at=customer.registered_at,
        counters=counters,
        card_batch_id=sale.card.batch_id if sale.card else None,
        referred=customer.referrer_id is not None,
        segment_ids=frozenset(holder.segments),
        birth_date=customer.birth_date,
        dates=tuple(holder.dates),
        done_promotion_ids=(
            chain_steps_done(customer.pk, sale.snapshot.chain_steps)
            if sale.snapshot.chain_steps
            else frozenset()
        ),
        favourite_product_ids=frozenset(
            product_id
            for programme_id, product_id in holder.favourites
            if programme_id == sale.programme.id
        ),
    )


def store_local(terminal: Terminal, at: datetime) -> datetime:
    """The time of sale on the store's clock (promotion days and hours are store-local)."""
    import zoneinfo

    return at.astimezone(zoneinfo.ZoneInfo(terminal.store.timezone))


def spendable(
    account: Account | None,
    now: datetime,
    terminal: Terminal,
    receipt_id: str,
    lots: list[Lot] | None = None,
) -> tuple[Decimal, dict[int, Decimal]]:
    """Points of ``account`` that this receipt may spend now: unexpired active lots (and debts)
    plus lots due for activation, less what other receipts' live holds reserve; the points of
    restricted lots apart, by spending rule (the holds reserve the unrestricted ones first).

    ``lots``: the account's open lots, if the caller read them (else they are queried)."""
    if account is None:
        return ZERO, {}
    if lots is None:
        lots = open_lots(account)
    total = ZERO
    restricted: dict[int, Decimal] = defaultdict(Decimal)
    for lot in lots:
        if lot.account_id != account.pk or not lot.counts_towards_balance(now):
            continue
        if lot.spend_rule_id is None:
            total += lot.remaining
        else:
            restricted[lot.spend_rule_id] += lot.remaining
    held = (
        Hold.objects.filter(account=account, status=Hold.Status.ACTIVE, expires_at__gt=now)
        .exclude(terminal=terminal, receipt_id=receipt_id)
        .aggregate(total=Sum("points"))["total"]
        if account.held > 0
        else ZERO
    )
    places = 4
    held = quantize(held or ZERO, places)
    free = quantize(total, places) - held
    if free < 0:  # holds reserve more than the unrestricted points: the rest from restricted
        over = -free
        for rule_id in sorted(restricted):
            take = min(over, restricted[rule_id])
            restricted[rule_id] -= take
            over -= take
    return max(free, ZERO), {k: v for k, v in restricted.items() if v > 0}


def context_build(
    sale: Sale,
    request: PurchaseRequest,
    at: datetime,
    available: tuple[Decimal, dict[int, Decimal]],
    offline: bool,
    tier_id: int | None | bool = False,
    exchange_available: dict[int, Decimal] | None = None,
    lock_coupons: bool = False,
) -> ReceiptContext:
    holder = hold_key(sale.terminal.pk, request.receipt_id)
    terminal = sale.terminal
    coupon_series: frozenset[int] = frozenset()
    coupon_prizes: frozenset[int] = frozenset()
    if request.coupons:
        sale.coupons = coupons_check(
            request.coupons, sale.programme.id, sale.customer, at, lock=lock_coupons, holder=holder
        )
        coupon_series, coupon_prizes = unlocks(sale.coupons)
    if request.certificates:
        sale.certificates = certificates_check(
            request.certificates,
            sale.programme.id,
            terminal.store.partner_id,
            at,
            lock=lock_coupons,
            key=holder,
        )
    if not sale.spends:
        available = (ZERO, {})
        exchange_available = dict.fromkeys(exchange_available or {}, ZERO)
        if request.spend_points or request.exchanges:
            sale.notes = [
                str(_("The card is not activated yet: its points can be spent once it is."))
            ]
    sale.facts = customer_facts(sale, at, tier_id)
    local = store_local(terminal, at)
    return ReceiptContext(
        programme_id=sale.programme.id,
        partner_id=terminal.store.partner_id,
        store_id=terminal.store_id,
        terminal_id=terminal.pk,
        channel=terminal.store.channel,
        at=at,
        local_date=local.date(),
        local_time=local.time(),
        lines=line_inputs(request, sale.holder.products),
        customer=sale.facts,
        spend_requested=request.spend_points,
        points_available=available[0],
        restricted_available=available[1],
        offline=offline,
        coupons=request.coupons,
        coupon_series=coupon_series,
        coupon_prizes=coupon_prizes,
        exchanges=request.exchanges,
        exchange_available=exchange_available or {},
        certificate_funds=certificates_funds(sale.certificates),
    )


def exchange_currencies(sale: Sale, request: PurchaseRequest) -> set[int]:
    """The currencies of the exchange promotions the request asks for (none: no query)."""
    if not request.exchanges:
        return set()
    exchanges = sale.snapshot.exchanges
    return {
        promotion.exchange_currency_id
        for code in request.exchanges
        if (promotion := exchanges.get((sale.programme.id, code))) is not None
        and promotion.exchange_currency_id is not None  # all: an exchange has its currency
    }


def exchange_funds(
    sale: Sale,
    request: PurchaseRequest,
    now: datetime,
    available: tuple[Decimal, dict[int, Decimal]],
    accounts: dict[int, Account],
    lots: list[Lot] | None,
) -> dict[int, Decimal]:
    """Points the customer can pay the asked-for exchanges with, by currency: in the main
    currency what ``available`` says the receipt may spend (holds of other receipts left
    out), in another every spendable lot. ``accounts`` by currency id; ``lots``: the open lots
    of those accounts if the caller read them (else they are queried)."""
    if sale.customer is None:
        return {}
    found: dict[int, Decimal] = {}
    for currency_id in exchange_currencies(sale, request):
        account = accounts.get(currency_id)
        if currency_id == sale.programme.main_currency_id:
            found[currency_id] = available[0] + sum(available[1].values(), ZERO)
        elif account is None:
            found[currency_id] = ZERO
        else:
            own = open_lots(account) if lots is None else lots
            found[currency_id] = sum(
                (
                    lot.remaining
                    for lot in own
                    if lot.account_id == account.pk and lot.counts_towards_balance(now)
                ),
                ZERO,
            )
    return found


def main_account(sale: Sale, create: bool) -> Account | None:
    if sale.customer is None or sale.programme.main_currency_id is None:
        return None
    for account in sale.holder.accounts:
        if account.currency_id == sale.programme.main_currency_id:
            return account
    if create:
        from loyalty.models import Currency

        return customer_account(
            sale.customer, Currency.objects.get(pk=sale.programme.main_currency_id)
        )
    return None
