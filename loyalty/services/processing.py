"""Processing of purchases from the registers: calculate, confirm, cancel, refund, offline.

``calculate`` and ``confirm`` build the same receipt context and run the same pure function,
``promotions.engine.evaluate``; ``confirm`` then commits the result in one transaction:

1. look the receipt up (a retry with the same body replays the stored answer, another body is
   a conflict), before any check that depends on mutable state;
2. lock the customer's accounts in pk order (``SET LOCAL lock_timeout``: a long wait answers
   ``request_in_progress``), look the receipt up again (a duplicate that waited sees it now);
3. activate and expire the lots that are due, read what can be spent, evaluate;
4. insert the receipt (its unique key stops a racing duplicate of an anonymous receipt), its
   lines, the spend and earn postings, the postings that pay for the exchanges asked for (chips
   exchanged at the register: their accounts are among those locked in 2), per-line rewards,
   counter steps, tiers given by rewards and tier progress, and consume the hold.

Refunds and cancellations reverse what each returned line earned and spent, cumulatively, so
several partial refunds never take back more than the purchase moved. An exchange's points
come back once: on a cancel, or when every line it touched is returned (all of them for an
exchange that touched none); a tier a promotion gave is taken back on a cancel or a return of
everything, as its coupons are.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from crm.models import Customer, MemorableDate, SegmentMember
from crm.phones import normalize_phone
from crm.signals import occasion_send
from loyalty.errors import (
    CardBlocked,
    CardInactive,
    CardNotFound,
    CustomerNotFound,
    InsufficientPoints,
    LoyaltyError,
    NoProgramme,
    NothingToRefund,
    ReceiptCancelled,
    ReceiptConflict,
    ReceiptNotFound,
    ReceiptNotYetKnown,
    RefundConflict,
    RefundExceedsPurchase,
    RequestInProgress,
    SaleTimeOutOfWindow,
    UnknownLine,
)
from loyalty.locks import accounts_for_update
from loyalty.models import (
    Account,
    Card,
    CertificateHold,
    CounterValue,
    FavouriteProduct,
    Hold,
    LedgerEntry,
    Lot,
    Posting,
    Product,
    Receipt,
    ReceiptCounterEffect,
    ReceiptExchange,
    ReceiptLine,
    ReceiptLineReward,
    ReceiptTierAward,
    Refund,
    RefundLine,
    Terminal,
    TierChange,
    TierMembership,
)
from loyalty.models.tiers import LIFETIME_PERIOD_START, Counter
from loyalty.money import DECIMAL_PLACES, ZERO, line_amount, quantize
from loyalty.money import share as _share
from loyalty.services import purchase_sql
from loyalty.services.certificates import (
    certificates_answer,
    certificates_apply,
    certificates_check,
    certificates_funds,
    certificates_hold,
    certificates_redeem,
    certificates_refund,
    certificates_release,
    normalize_code,
)
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
    postings_statements,
    programme_account,
)
from loyalty.signals import tier_changed
from promotions.chains import chain_steps_done
from promotions.coupons import (
    coupons_applied,
    coupons_check,
    coupons_grant,
    coupons_hold,
    coupons_redeem,
    coupons_release,
    coupons_return,
    coupons_withdraw,
    hold_key,
    unlocks,
)
from promotions.engine import (
    SPEND_MAX,
    CustomerFacts,
    EngineResult,
    LineInput,
    ReceiptContext,
    RulesSnapshot,
    evaluate,
    period_start,
    snapshot_get,
)
from promotions.engine.history import snapshot_at
from promotions.engine.types import ExchangeOutcome, ProgrammeRule, TierAward
from promotions.usage import usage_read, usage_record, usage_settle, usage_undo

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE
FUTURE_TOLERANCE = timedelta(minutes=5)
LOCK_TIMEOUT_MS = 2000
STATEMENT_TIMEOUT_MS = 5000


# --- The request ---------------------------------------------------------------------------


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
        body = {
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
        return _digest(body)


def _digest(body) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# --- Transactions --------------------------------------------------------------------------


@contextmanager
def _money_transaction(timeouts: bool = True):
    """The outermost transaction of a money-moving service, with bounded lock waits.

    ``timeouts=False``: the caller sets them itself with its first statements (purchase_sql).
    """
    with transaction.atomic(durable=True):
        if timeouts and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true),"
                    " set_config('statement_timeout', %s, true)",
                    [str(LOCK_TIMEOUT_MS), str(STATEMENT_TIMEOUT_MS)],
                )
        yield


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None)


def _retrying[T](work: Callable[[], T]) -> T:
    """Run ``work``; retry serialization failures and deadlocks, map lock timeouts to 409."""
    for attempt in range(3):
        try:
            return work()
        except OperationalError as exc:
            state = _sqlstate(exc)
            if state in ("40001", "40P01") and attempt < 2:
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311
                continue
            if state in ("55P03", "57014"):
                raise RequestInProgress() from exc
            if connection.vendor == "sqlite" and "locked" in str(exc):
                raise RequestInProgress() from exc
            raise
    raise AssertionError("unreachable")


# --- Context -------------------------------------------------------------------------------


@dataclass
class _Sale:
    terminal: Terminal
    programme: ProgrammeRule
    snapshot: RulesSnapshot
    customer: Customer | None
    card: Card | None
    holder: purchase_sql.Holder
    facts: CustomerFacts | None = None
    fast: bool = False  # reads and writes through purchase_sql (PostgreSQL)
    # The accounts of the friend who referred the customer, by currency, locked with the
    # customer's when some promotion gives the friend points (refer-a-friend).
    referrer_accounts: dict[int, Account] = field(default_factory=dict)
    # The coupons the receipt presents, as checked (None: it presents none).
    coupons: list | None = None
    # The gift certificates that pay for it, as checked (None: it presents none).
    certificates: list | None = None


def _terminal(terminal: Terminal) -> Terminal:
    if not hasattr(terminal, "_state") or "store" not in terminal._state.fields_cache:
        terminal = Terminal.objects.select_related("store__partner").get(pk=terminal.pk)
    return terminal


ALL_FACTS = frozenset(["segments", "dates", "counters", "favourites"])


def _load(
    terminal: Terminal,
    request: PurchaseRequest,
    *,
    replay: bool,
    lots: bool,
    needs: frozenset[str] | None = None,
) -> tuple[purchase_sql.Holder, bool]:
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
    if purchase_sql.enabled():
        holder = purchase_sql.holder_load(
            card=request.card,
            phone=phone,
            skus=skus,
            partner_id=partner_id,
            replay=(terminal.pk, request.receipt_id) if replay else None,
            lots=lots,
            needs=needs,
            counters_since=_counters_since(),
        )
        holder.snapshot = snapshot
        return holder, True
    holder = purchase_sql.Holder(snapshot=snapshot)
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
        _facts_load(holder, customer, needs)
    elif lots:
        holder.lots = []
    holder.products = list(
        Product.objects.filter(sku__in=skus)
        .filter(Q(partner__isnull=True) | Q(partner_id=partner_id))
        .order_by()
        .values_list("sku", "id", "partner_id", "category_id", "brand_id", "is_gift_card")
    )
    return holder, False


def _facts_load(holder: purchase_sql.Holder, customer: Customer, needs: frozenset[str]) -> None:
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
            .filter(Q(period_start__gte=_counters_since()) | Q(period_start=LIFETIME_PERIOD_START))
            .values_list("counter_id", "period_start", "value")
        )
    if "favourites" in needs:
        holder.favourites = list(
            FavouriteProduct.objects.filter(customer=customer)
            .order_by()
            .values_list("programme_id", "product_id")
        )
    holder.needs = holder.needs | needs


def _counters_since() -> date:
    """The oldest counter period a sale may read (the longest period but lifetime: a year)."""
    return timezone.now().date() - timedelta(days=400)


def _sale(terminal: Terminal, request: PurchaseRequest, holder: purchase_sql.Holder, fast: bool):
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
            _facts_load(holder, customer, missing)
    programme = snapshot.programme_for(
        terminal.store.partner_id, card.programme_id if card is not None else None
    )
    if programme is None:
        raise NoProgramme()
    return _Sale(terminal, programme, snapshot, customer, card, holder, fast=fast)


def _line_inputs(request: PurchaseRequest, products: list[tuple]) -> tuple[LineInput, ...]:
    """The receipt's lines with what the catalogue knows of their products.

    ``products``: (sku, id, partner id, category id, brand id, is a gift card) of the shared
    catalogue and of the selling partner; a partner's own product wins over the shared
    catalogue's.
    """
    found: dict[str, tuple] = {}
    for product in products:
        if product[0] not in found or product[2] is not None:
            found[product[0]] = product
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


def _customer_facts(sale: _Sale, at: datetime, tier_id: int | None | bool = False):
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
        local_day = _local(sale.terminal, at).date()
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


def _local(terminal: Terminal, at: datetime) -> datetime:
    """The time of sale on the store's clock (promotion days and hours are store-local)."""
    import zoneinfo

    return at.astimezone(zoneinfo.ZoneInfo(terminal.store.timezone))


def _is_spendable(lot: Lot, now: datetime) -> bool:
    """Whether a lot counts towards what can be spent now (active, or due for activation)."""
    if lot.remaining == 0:
        return False
    unexpired = lot.expires_at is None or lot.expires_at > now
    if lot.state == Lot.State.ACTIVE:
        return lot.kind == Lot.Kind.DEBT or unexpired
    return lot.state == Lot.State.PENDING and lot.active_at <= now and unexpired


def _is_due(lot: Lot, now: datetime) -> bool:
    """Whether ``_mature`` has work on this lot: activation or expiry is due."""
    if lot.remaining == 0:
        return False
    if lot.state == Lot.State.PENDING:
        return lot.active_at <= now
    return (
        lot.state == Lot.State.ACTIVE
        and lot.kind == Lot.Kind.EARN
        and lot.expires_at is not None
        and lot.expires_at <= now
    )


def _open_lots(account: Account) -> list[Lot]:
    return list(Lot.objects.filter(account=account).exclude(remaining=0))


def _spendable(
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
        lots = _open_lots(account)
    total = ZERO
    restricted: dict[int, Decimal] = defaultdict(Decimal)
    for lot in lots:
        if lot.account_id != account.pk or not _is_spendable(lot, now):
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


def _context(
    sale: _Sale,
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
    coupon_series = coupon_prizes = frozenset()
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
    sale.facts = _customer_facts(sale, at, tier_id)
    local = _local(terminal, at)
    return ReceiptContext(
        programme_id=sale.programme.id,
        partner_id=terminal.store.partner_id,
        store_id=terminal.store_id,
        terminal_id=terminal.pk,
        channel=terminal.store.channel,
        at=at,
        local_date=local.date(),
        local_time=local.time(),
        lines=_line_inputs(request, sale.holder.products),
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


def _exchange_currencies(sale: _Sale, request: PurchaseRequest) -> set[int]:
    """The currencies of the exchange promotions the request asks for (none: no query)."""
    if not request.exchanges:
        return set()
    exchanges = sale.snapshot.exchanges
    return {
        promotion.exchange_currency_id
        for code in request.exchanges
        if (promotion := exchanges.get((sale.programme.id, code))) is not None
    }


def _exchange_available(
    sale: _Sale,
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
    for currency_id in _exchange_currencies(sale, request):
        account = accounts.get(currency_id)
        if currency_id == sale.programme.main_currency_id:
            found[currency_id] = available[0] + sum(available[1].values(), ZERO)
        elif account is None:
            found[currency_id] = ZERO
        else:
            own = _open_lots(account) if lots is None else lots
            found[currency_id] = sum(
                (
                    lot.remaining
                    for lot in own
                    if lot.account_id == account.pk and _is_spendable(lot, now)
                ),
                ZERO,
            )
    return found


def _main_account(sale: _Sale, create: bool) -> Account | None:
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


# --- Rendering -----------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return str(quantize(value, DECIMAL_PLACES))


def _points(value: Decimal, places: int) -> str:
    return str(quantize(value, places))


def _render(
    receipt_id: str,
    status: str,
    sale: _Sale,
    result: EngineResult,
    balance_before: Decimal,
    balance_after: Decimal,
    pending_after: Decimal,
    tier: str | None | bool = False,
) -> dict:
    places = (
        sale.snapshot.currencies[result.main_currency_id].decimal_places
        if result.main_currency_id
        else DECIMAL_PLACES
    )
    paying = sale.certificates is not None
    if paying:
        certificates_apply(sale.certificates, result.certificate_paid)
    if tier is False:
        tier = None
    if tier is None and sale.customer is not None:
        facts = sale.facts
        if facts is not None:
            names = {t.id: t.name for t in sale.snapshot.tiers_of(sale.programme.id)}
            tier = names.get(facts.tier_id)
        else:
            tier = (
                TierMembership.objects.filter(
                    customer=sale.customer, programme_id=sale.programme.id
                )
                .values_list("tier__name", flat=True)
                .first()
            )
    promotions = [
        {
            "id": award.promotion_id,
            "name": award.name,
            "effect": "discount",
            "amount": _money(award.amount),
        }
        for award in result.discounts
    ] + [
        {
            "id": award.promotion_id,
            "name": award.name,
            "effect": "points",
            "amount": _points(
                award.amount, sale.snapshot.currencies[award.currency_id].decimal_places
            ),
            "currency": sale.snapshot.currencies[award.currency_id].code,
            **({"to": "referrer"} if award.beneficiary == "referrer" else {}),
        }
        for award in result.awards
    ]
    return {
        "receipt_id": receipt_id,
        "status": status,
        "customer": (
            {"id": sale.customer.public_id, "tier": tier} if sale.customer is not None else None
        ),
        "total": _money(result.total),
        "discount": _money(result.discount),
        "points_spent": _money(result.points_spent),
        "to_pay": _money(result.to_pay),
        "points_earned": _points(result.points_earned, places),
        "balance": {
            "before": _points(balance_before, places),
            "after": _points(balance_after, places),
            "pending": _points(pending_after, places),
        },
        "lines": [
            {
                "line": line.line_no,
                "amount": _money(line.amount),
                "discount": _money(line.discount),
                "points_spent": _money(line.points_spent),
                "to_pay": _money(line.to_pay),
                "points_earned": _points(line.points_earned, places),
                **({"certificate_paid": _money(line.certificate_paid)} if paying else {}),
            }
            for line in result.lines
        ],
        "promotions": promotions,
        "coupons": coupons_applied(sale.coupons, _coupon_series_fired(sale, result))
        if sale.coupons
        else [],
        "messages": result.messages,
        **(
            {"exchanges": [_exchange_entry(sale, outcome) for outcome in result.exchanges]}
            if result.exchanges
            else {}
        ),
        **(
            {
                "certificate_paid": _money(result.certificate_paid),
                "to_pay_in_money": _money(result.to_pay - result.certificate_paid),
                "certificates": certificates_answer(sale.certificates),
            }
            if paying
            else {}
        ),
    }


def _exchange_entry(sale: _Sale, outcome: ExchangeOutcome) -> dict:
    """An exchange in the answer: applied with its price, or rejected with the reason."""
    entry: dict = {"code": outcome.code, "status": outcome.status}
    if outcome.promotion_id is not None:
        currency = sale.snapshot.currencies[outcome.currency_id]
        entry["promotion_id"] = outcome.promotion_id
        entry["currency"] = currency.code
        entry["cost"] = _points(outcome.cost, currency.decimal_places)
    if outcome.reason is not None:
        entry["reason"] = outcome.reason
    return entry


def _exchanged_main(result: EngineResult) -> Decimal:
    """What the applied exchanges take from the main-currency balance."""
    return sum((o.cost for o in result.exchanged if o.currency_id == result.main_currency_id), ZERO)


def _coupon_series_fired(sale: _Sale, result: EngineResult) -> dict[int, int]:
    """The promotions that fired and require a coupon, with their series (those coupons are
    used)."""
    fired = result.fired() | {award.promotion_id for award in result.discounts}
    fired |= {award.promotion_id for award in result.awards}
    fired |= {award.promotion_id for award in result.coupons_issued}
    return {
        promotion.id: promotion.coupon_series_id
        for promotion in sale.snapshot.promotions
        if promotion.id in fired and promotion.coupon_series_id is not None
    }


def _earned_split(result: EngineResult, at: datetime, now: datetime) -> tuple[Decimal, Decimal]:
    """(active now, pending) parts of the main-currency points the result earns."""
    active = pending = ZERO
    for award in result.awards:
        if award.currency_id != result.main_currency_id or award.beneficiary != "customer":
            continue
        if at + award.activation_delay > now:
            pending += award.amount
        else:
            active += award.amount
    return active, pending


# --- Calculate -----------------------------------------------------------------------------


def purchase_calculate(terminal: Terminal, request: PurchaseRequest, *, hold: bool = False) -> dict:
    """Preview a receipt; with ``hold`` also reserve the points it spends for this receipt id."""
    terminal = _terminal(terminal)
    holder, fast = _load(terminal, request, replay=False, lots=not hold)
    sale = _sale(terminal, request, holder, fast)
    if hold and (sale.customer is not None or request.certificates):
        now = timezone.now()
        at = request.sold_at or now
        return _retrying(lambda: _calculate_and_hold(sale, request, at, now))
    return _preview(sale, request)[0]


def purchase_preview(
    terminal: Terminal,
    request: PurchaseRequest,
    *,
    snapshot: RulesSnapshot | None = None,
    customer: CustomerFacts | None = None,
) -> tuple[dict, EngineResult]:
    """What ``calculate`` answers for ``request``, and the engine's result with its reasons,
    for the simulator: with another ``snapshot`` (drafts included) and, without a card or a
    phone, a described ``customer`` (their tier; no balance). Writes nothing."""
    terminal = _terminal(terminal)
    holder, fast = _load(terminal, request, replay=False, lots=True, needs=ALL_FACTS)
    sale = _sale(terminal, request, holder, fast)
    if snapshot is not None:
        sale.snapshot = snapshot
    return _preview(sale, request, customer)


def _preview(sale: _Sale, request: PurchaseRequest, customer: CustomerFacts | None = None):
    now = timezone.now()
    at = request.sold_at or now
    account = _main_account(sale, create=False)
    available = _spendable(account, now, sale.terminal, request.receipt_id, sale.holder.lots)
    exchange_available = (
        _exchange_available(
            sale,
            request,
            now,
            available,
            {a.currency_id: a for a in sale.holder.accounts},
            sale.holder.lots,
        )
        if request.exchanges
        else None
    )
    context = _context(
        sale, request, at, available, offline=False, exchange_available=exchange_available
    )
    if sale.customer is None and customer is not None:
        context = replace(context, customer=customer)
        sale.facts = customer
    result = evaluate(sale.snapshot, usage_read(sale.snapshot, context))
    return _calculated(sale, request, result, account, at, now), result


def _calculated(sale, request, result, account, at, now) -> dict:
    balance = account.balance if account else ZERO
    pending = account.pending if account else ZERO
    active, delayed = _earned_split(result, at, now)
    return _render(
        request.receipt_id,
        "calculated",
        sale,
        result,
        balance,
        balance - result.spent_points - _exchanged_main(result) + active,
        pending + delayed,
    )


def _calculate_and_hold(sale: _Sale, request: PurchaseRequest, at, now) -> dict:
    account = _main_account(sale, create=True)
    with _money_transaction():
        if account is not None:
            account = accounts_for_update([account.pk]).get()
        available = _spendable(account, now, sale.terminal, request.receipt_id)
        exchange_available = (
            _exchange_available(
                sale,
                request,
                now,
                available,
                {a.currency_id: a for a in sale.holder.accounts},
                None,
            )
            if request.exchanges
            else None
        )
        context = _context(
            sale,
            request,
            at,
            available,
            offline=False,
            exchange_available=exchange_available,
            lock_coupons=True,
        )
        result = evaluate(sale.snapshot, usage_read(sale.snapshot, context))
        _hold_release(sale.terminal, request.receipt_id, Hold.Status.RELEASED, now)
        until = now + timedelta(minutes=sale.programme.hold_minutes)
        coupons_release(hold_key(sale.terminal.pk, request.receipt_id))
        held_coupons = (
            coupons_hold(
                sale.coupons,
                _coupon_series_fired(sale, result),
                hold_key(sale.terminal.pk, request.receipt_id),
                until,
            )
            if sale.coupons
            else []
        )
        certificates_release(hold_key(sale.terminal.pk, request.receipt_id))
        answer = _calculated(sale, request, result, account, at, now)  # applies certificates
        held_certificates = (
            certificates_hold(
                sale.certificates, hold_key(sale.terminal.pk, request.receipt_id), until
            )
            if sale.certificates
            else []
        )
        if result.spent_points > 0 and account is not None:
            Hold.objects.create(
                account=account,
                terminal=sale.terminal,
                receipt_id=request.receipt_id,
                points=result.spent_points,
                expires_at=now + timedelta(minutes=sale.programme.hold_minutes),
                created_at=now,
            )
            Account.objects.filter(pk=account.pk).update(held=F("held") + result.spent_points)
        answer["hold"] = {
            "points": str(result.spent_points if account is not None else ZERO),
            "expires_at": until.isoformat()
            if result.spent_points > 0 or held_coupons or held_certificates
            else None,
            "coupons": held_coupons,
            **({"certificates": held_certificates} if sale.certificates is not None else {}),
        }
        return answer


def _hold_release(terminal: Terminal, receipt_id: str, status: str, now: datetime) -> Hold | None:
    """Close the active hold of a receipt (its account must be locked by the caller)."""
    hold = Hold.objects.filter(
        terminal=terminal, receipt_id=receipt_id, status=Hold.Status.ACTIVE
    ).first()
    if hold is None:
        return None
    Hold.objects.filter(pk=hold.pk).update(status=status, closed_at=now)
    Account.objects.filter(pk=hold.account_id).update(held=Greatest(F("held") - hold.points, 0))
    return hold


# --- Confirm -------------------------------------------------------------------------------


class _Duplicate(Exception):
    """A racing duplicate committed the same receipt first."""


def _replay(terminal: Terminal, receipt_id: str, fingerprint: str) -> dict | None:
    receipt = Receipt.objects.filter(terminal=terminal, receipt_id=receipt_id).first()
    if receipt is None:
        return None
    if receipt.fingerprint != fingerprint:
        raise ReceiptConflict(receipt_id=receipt_id)
    return receipt.result


def purchase_confirm(
    terminal: Terminal, request: PurchaseRequest, *, offline: bool = False
) -> dict:
    """Commit a purchase once per (terminal, receipt id); a retry replays the first answer."""
    terminal = _terminal(terminal)
    fingerprint = request.fingerprint()
    holder, fast = _load(terminal, request, replay=True, lots=False)
    replayed = _replayed(holder.replay, request.receipt_id, fingerprint)
    if replayed is not None:
        return replayed
    sale = _sale(terminal, request, holder, fast)
    now = timezone.now()
    at = request.sold_at or now
    if offline:
        if at > now + FUTURE_TOLERANCE or at < now - timedelta(
            days=sale.programme.offline_window_days
        ):
            raise SaleTimeOutOfWindow(datetime=at.isoformat())
    elif request.sold_at and request.sold_at > now + FUTURE_TOLERANCE:
        raise SaleTimeOutOfWindow(datetime=at.isoformat())

    def attempt() -> dict:
        try:
            return _confirm(sale, request, fingerprint, at, offline)
        except IntegrityError:
            # An anonymous receipt has no account to lock: its duplicate meets the unique key.
            replayed = _replay(terminal, request.receipt_id, fingerprint)
            if replayed is None:
                raise
            return replayed
        except _Duplicate:
            replayed = _replay(terminal, request.receipt_id, fingerprint)
            if replayed is None:  # pragma: no cover - the duplicate rolled back; try again
                raise RequestInProgress() from None
            return replayed

    return _retrying(attempt)


def _replayed(found: tuple[str, dict] | None, receipt_id: str, fingerprint: str) -> dict | None:
    """The stored answer of a receipt (fingerprint, result) read earlier, or a conflict."""
    if found is None:
        return None
    if found[0] != fingerprint:
        raise ReceiptConflict(receipt_id=receipt_id)
    return found[1]


def _referrer_accounts(sale: _Sale) -> list[Account]:
    """The referrer's accounts a confirm must lock: when some promotion of the rules in force
    gives points to the friend who referred this customer (opened on first use)."""
    from loyalty.models import Currency

    customer = sale.customer
    if customer is None or customer.referrer_id is None or not sale.snapshot.rewards_referrers:
        return []
    referrer = Customer.objects.filter(pk=customer.referrer_id, is_anonymised=False).first()
    if referrer is None:
        return []
    ids = {
        reward.currency_id
        for promotion in sale.snapshot.promotions
        if promotion.programme_id == sale.programme.id
        for reward in promotion.rewards
        if reward.beneficiary == "referrer" and reward.currency_id is not None
    }
    return [
        customer_account(referrer, currency) for currency in Currency.objects.filter(pk__in=ids)
    ]


def _open_accounts(sale: _Sale, request: PurchaseRequest) -> list[Account]:
    """The customer's accounts in every currency the programme moves, opened on first use,
    and those the asked-for exchanges are paid from (locked with them: two receipts paying
    with the same last chips queue on the account's row)."""
    from loyalty.models import Currency

    if sale.customer is None:
        return []
    ids = sale.snapshot.reward_currency_ids(sale.programme.id)
    paying = _exchange_currencies(sale, request) - ids  # no account: nothing to pay with
    accounts = [a for a in sale.holder.accounts if a.currency_id in ids | paying]
    missing = ids - {account.currency_id for account in accounts}
    if missing:
        for currency in Currency.objects.filter(pk__in=missing):
            accounts.append(customer_account(sale.customer, currency))
    return accounts


@dataclass
class _Locked:
    """The state of a confirm under its locks."""

    accounts: dict[int, Account]  # by currency id
    lots: list[Lot] | None  # the open lots of the locked accounts, when read with the locks
    membership: TierMembership | None = None  # read and locked with them (SQL path)
    tier_id: int | None | bool = False  # the tier under the locks; False: not read


def _lock(sale: _Sale, request: PurchaseRequest, fingerprint: str, accounts, actor, now):
    """Lock the accounts, replay a duplicate that committed meanwhile, mature the due lots."""
    terminal = sale.terminal
    tiers = sale.snapshot.tiers_of(sale.programme.id)
    membership = sale.customer is not None and bool(tiers)
    if sale.fast:
        found = purchase_sql.lock(
            account_ids=[a.pk for a in accounts],
            terminal_id=terminal.pk,
            receipt_id=request.receipt_id,
            lock_timeout_ms=LOCK_TIMEOUT_MS,
            statement_timeout_ms=STATEMENT_TIMEOUT_MS,
            membership=(sale.customer.pk, sale.programme.id) if membership else None,
        )
        replayed = _replayed(found.replay, request.receipt_id, fingerprint)
        state = _Locked(
            {a.currency_id: a for a in found.accounts.values()}, found.lots, found.membership
        )
        if membership:
            state.tier_id = found.membership.tier_id if found.membership else None
    else:
        # One lock statement in pk order, the referrer's accounts among the customer's.
        everything = list(accounts_for_update(a.pk for a in accounts))
        mine = sale.customer.pk if sale.customer is not None else None
        state = _Locked(
            {account.currency_id: account for account in everything if account.customer_id == mine},
            None,
        )
        sale.referrer_accounts = {
            account.currency_id: account for account in everything if account.customer_id != mine
        }
        replayed = _replay(terminal, request.receipt_id, fingerprint)
        if sale.customer is not None:
            # Read under the account locks: a purchase that moved the tier has committed.
            state.tier_id = (
                TierMembership.objects.filter(
                    customer=sale.customer, programme_id=sale.programme.id
                )
                .values_list("tier_id", flat=True)
                .first()
            )
    if replayed is not None:
        return None, replayed
    # The accounts points are taken from: the main one, and those paying for exchanges.
    paying = {sale.programme.main_currency_id} | _exchange_currencies(sale, request)
    ids = [a.pk for currency_id, a in state.accounts.items() if currency_id in paying]
    if not ids:
        return state, None
    if state.lots is not None:
        due = any(lot.account_id in ids and _is_due(lot, now) for lot in state.lots)
        if due:
            _mature(ids, now, actor, receipt=None)
    else:
        due = any(_mature(ids, now, actor, receipt=None))
    if due:
        for account in accounts_for_update(ids):
            state.accounts[account.currency_id] = account
        state.lots = None
    return state, None


def _confirm(sale: _Sale, request: PurchaseRequest, fingerprint: str, at, offline: bool) -> dict:
    terminal = sale.terminal
    actor = Actor.for_terminal(terminal)
    if sale.customer is None and sale.card is not None:
        sale.customer = _customer_for_unbound_card(sale.card)
        sale.fast = False
    accounts = _open_accounts(sale, request)
    referrer_accounts = _referrer_accounts(sale)
    if referrer_accounts:
        sale.fast = False  # the SQL path locks the customer's accounts only
    with _money_transaction(timeouts=not sale.fast):
        now = timezone.now()
        state, replayed = _lock(
            sale, request, fingerprint, accounts + referrer_accounts, actor, now
        )
        if replayed is not None:
            return replayed
        locked = state.accounts
        main = locked.get(sale.programme.main_currency_id)
        main_lots = (
            [lot for lot in state.lots if lot.account_id == main.pk]
            if main is not None and state.lots is not None
            else None
        )
        available = _spendable(main, now, terminal, request.receipt_id, main_lots)
        exchange_lots = None
        exchange_available = None
        if request.exchanges:
            exchange_lots = _exchange_lots(sale, request, state)
            exchange_available = _exchange_available(
                sale, request, now, available, locked, exchange_lots
            )
        # Budgets and limits: evaluate, lock the usage of the limited promotions involved,
        # evaluate again with it (no unlocked read first: what it gave would be read again).
        context = _context(
            sale,
            request,
            at,
            available,
            offline,
            state.tier_id,
            exchange_available,
            lock_coupons=True,
        )
        result = evaluate(sale.snapshot, context)
        context, result, usage = usage_settle(sale.snapshot, context, result)

        # The spend's legs first: an offline receipt may spend more than the lots hold.
        spend = None
        if result.spent_points > 0 and main is not None:
            spend = _spend_posting(sale, main, result.spent_by_rule, now, actor, at, main_lots)
        exchanges = _exchange_specs(sale, result, locked, exchange_lots, spend, now, actor, at)
        shortfall = spend[1] if spend else ZERO
        debt_policy = sale.programme.refund_shortfall_policy == "debt"
        active_earned, delayed_earned = _earned_split(result, at, now)
        balance_before = main.balance if main else ZERO
        taken = result.spent_points - (ZERO if debt_policy else shortfall)
        taken += _exchanged_main(result)
        sql_writes = (
            sale.fast
            and not shortfall
            and (main is None or main_lots is not None)
            and not result.tier_awards  # a tier reward moves the membership through the ORM
        )
        membership, move, awarded = None, None, []
        if sale.customer is None:
            tier = None
        elif sql_writes and state.membership is not None:
            membership = state.membership
            before = (membership.tier_id, membership.qualifying_amount)
            tier = _tier_step(
                membership, sale.snapshot.tiers_of(sale.programme.id), _tier_money(result)
            )
            move = _tier_move(membership, *before, TierChange.Reason.PURCHASE)
        else:
            # A tier reward first: the customer stands at its threshold, then the receipt's
            # money counts towards the next tier as any receipt's does.
            awarded = _tier_awards_give(sale.customer, sale.programme.id, result.tier_awards)
            tier, move = _tier_progress(
                sale.customer, sale.programme.id, _tier_money(result), TierChange.Reason.PURCHASE
            )
        answer = _render(
            request.receipt_id,
            Receipt.Status.CONFIRMED,
            sale,
            result,
            balance_before,
            balance_before - taken + active_earned,
            (main.pending if main else ZERO) + delayed_earned,
            tier=tier,
        )
        receipt_fields = {
            "terminal_id": terminal.pk,
            "store_id": terminal.store_id,
            "partner_id": terminal.store.partner_id,
            "receipt_id": request.receipt_id,
            "status": Receipt.Status.CONFIRMED,
            "customer_id": sale.customer.pk if sale.customer else None,
            "card_id": sale.card.pk if sale.card else None,
            "currency_id": result.main_currency_id if sale.customer else None,
            "sold_at": at,
            "recorded_at": now,
            "is_offline": offline,
            "total": result.total,
            "discount": result.discount,
            "points_spent": result.points_spent,
            "to_pay": result.to_pay,
            "points_earned": result.points_earned,
            "spent_points": result.spent_points,
            "tier_amount": _tier_money(result) if sale.customer else ZERO,
            "is_flagged": shortfall > 0,
            "offline_shortfall": shortfall,
            "fingerprint": fingerprint,
            "result": answer,
        }
        line_fields = [
            {
                "line_no": line.line_no,
                "sku": inp.sku,
                "product_id": inp.product_id,
                "quantity": inp.quantity,
                "price": inp.price,
                "amount": line.amount,
                "discount": line.discount,
                "points_spent": line.points_spent,
                "to_pay": line.to_pay,
                "points_earned": line.points_earned,
                "spent_points": line.spent_points,
                "refunded_quantity": ZERO,
            }
            for line, inp in zip(result.lines, context.lines, strict=True)
        ]
        specs = [spec for _outcome, spec in exchanges]
        if sql_writes:
            receipt = _write_sql(
                sale,
                result,
                receipt_fields,
                line_fields,
                state,
                membership,
                spend,
                specs,
                actor,
                at,
                now,
            )
        else:
            receipt = _write_orm(
                sale, result, receipt_fields, line_fields, locked, spend, specs, actor, at, now
            )
        stepped = []
        if sale.customer is not None:
            stepped = _counters_step(sale, receipt, result)
            coupons_grant(receipt, sale.customer, result.coupons_issued)
        if exchanges:
            _exchanges_record(receipt, exchanges)
        for award, change in awarded:
            award.receipt = receipt
            award.save()
            if change is not None:
                _tier_record(change, receipt)
        if move is not None:
            _tier_record(move, receipt)
        usage_record(receipt, sale.snapshot, context, result, usage)
        if sale.coupons:
            coupons_redeem(
                receipt, sale.customer, sale.coupons, _coupon_series_fired(sale, result), now
            )
        if sale.certificates:
            certificates_redeem(
                receipt,
                sale.certificates,
                {line.line_no: line.certificate_paid for line in result.lines},
                terminal,
                now,
                hold_key(terminal.pk, request.receipt_id),
            )
        if sale.customer is not None and sale.snapshot.occasion_kinds:
            _occasions(sale, receipt, stepped, at)
        if main is not None and main.held > 0:
            _hold_release(terminal, request.receipt_id, Hold.Status.CONSUMED, now)
        return answer


def _tier_money(result: EngineResult) -> Decimal:
    """What a purchase adds to the customer's tier progress: the money paid, gift cards sold
    apart (a gift card's money counts when it pays)."""
    return result.to_pay - result.gift_cards


def _write_orm(sale, result, receipt_fields, line_fields, locked, spend, exchanges, actor, at, now):
    """Write a confirmed purchase through the ORM (SQLite, and the rare turns on PostgreSQL).

    ``exchanges``: the postings that pay for the exchanges applied."""
    receipt = Receipt.objects.create(**receipt_fields)
    lines = ReceiptLine.objects.bulk_create(
        [ReceiptLine(receipt=receipt, **fields) for fields in line_fields]
    )
    line_by_no = {line.line_no: line for line in lines}
    if sale.customer is not None:
        if spend is not None:
            spend[0].receipt = receipt
        for spec in exchanges:
            spec.receipt = receipt
        _post_purchase(sale, receipt, result, locked, line_by_no, actor, at, now, spend, exchanges)
    if sale.card is not None and sale.card.status == Card.Status.ISSUED:
        Card.objects.filter(pk=sale.card.pk, status=Card.Status.ISSUED).update(
            status=Card.Status.ACTIVE, activated_at=now
        )
    return receipt


def _write_sql(
    sale, result, receipt_fields, line_fields, state, membership, spend, exchanges, actor, at, now
):
    """Write a confirmed purchase in two round trips (ids, then every row): see purchase_sql."""
    locked = state.accounts
    specs = [spend[0]] if spend is not None else []
    specs += exchanges
    earn_specs = _earn_specs(sale, None, result, locked, actor, at, now)
    specs += [spec for _award, spec in earn_specs]
    entries = sum(len(spec.legs) for spec in specs)
    ids = purchase_sql.ids_take(lines=len(line_fields), postings=len(specs), entries=entries)
    receipt = Receipt(pk=ids.receipt, customer_id=receipt_fields["customer_id"])
    for spec in specs:
        spec.receipt = receipt
    statements = purchase_sql.receipt_statements(
        {"id": ids.receipt, **receipt_fields},
        [
            {"id": line_id, "receipt_id": ids.receipt, **fields}
            for line_id, fields in zip(ids.lines, line_fields, strict=True)
        ],
    )
    line_ids = {
        fields["line_no"]: line_id for line_id, fields in zip(ids.lines, line_fields, strict=True)
    }
    if specs:
        lots = {lot.pk: lot for lot in state.lots}
        by_pk = {account.pk: account for account in locked.values()}
        statements += postings_statements(
            specs,
            locked=by_pk,
            lots=lots,
            currencies=sale.snapshot.currencies,
            posting_ids=ids.postings,
            entry_ids=ids.entries,
        )
    statements += purchase_sql.rewards_statement(
        [
            (
                line_ids[reward.line_no],
                None,
                reward.promotion_id,
                reward.effect,
                reward.currency_id,
                reward.amount,
                reward.lot_id,
            )
            for reward in _line_rewards(result, earn_specs)
        ]
    )
    if membership is not None:
        statements.append(purchase_sql.membership_statement(membership))
    if sale.card is not None and sale.card.status == Card.Status.ISSUED:
        statements.append(purchase_sql.card_activation_statement(sale.card.pk, now))
    purchase_sql.run(statements)
    for account in locked.values():
        _settle_debts(account, actor, receipt, now)
    return receipt


def _customer_for_unbound_card(card: Card) -> Customer:
    """An issued card sold without registration: its points need an owner, so make one."""
    customer = Customer.objects.create(source=Customer.Source.POS)
    bound = Card.objects.filter(pk=card.pk, customer__isnull=True).update(customer=customer)
    if not bound:
        customer.delete()
        card.refresh_from_db()
        return card.customer
    card.customer = customer
    return customer


def _spend_posting(sale, main, by_rule, now, actor, at, lots=None) -> tuple[PostingSpec, Decimal]:
    """The spend posting of the points ``by_rule`` (spending rule id, None for unrestricted:
    points) from ``main``'s lots, and the part no lot covered."""
    partner = sale.terminal.store.partner
    points = sum(by_rule.values(), ZERO)
    legs, shortfall = _spend_legs(main, by_rule, now, lots)
    currency = main.currency_id
    legs.append(Leg(account=partner_account(partner, currency), amount=points))
    if shortfall:
        if sale.programme.refund_shortfall_policy == "debt":
            Account.objects.filter(pk=main.pk).update(
                debt_limit=Greatest(F("debt_limit"), -(main.balance - points))
            )
            legs.append(Leg(account=main, amount=-shortfall))
        else:
            legs.append(
                Leg(
                    account=programme_account(currency, Account.Purpose.SHORTFALL),
                    amount=-shortfall,
                )
            )
    spec = PostingSpec(
        kind=Posting.Kind.SPEND,
        cause=Posting.Cause.RECEIPT,
        actor=actor,
        legs=legs,
        partner=partner,
        occurred_at=at,
    )
    return spec, shortfall


def _exchange_lots(sale: _Sale, request: PurchaseRequest, state: _Locked) -> list[Lot]:
    """The open lots of the accounts the asked-for exchanges are paid from, read under their
    locks (with the others of the confirm when it read them already)."""
    if state.lots is not None:
        return state.lots
    paying = _exchange_currencies(sale, request)
    ids = [a.pk for currency_id, a in state.accounts.items() if currency_id in paying]
    return list(Lot.objects.filter(account_id__in=ids).exclude(remaining=0)) if ids else []


def _exchange_specs(
    sale, result, locked, lots, spend, now, actor, at
) -> list[tuple[ExchangeOutcome, PostingSpec]]:
    """The posting that pays for each exchange applied: its price taken from the customer's
    lots of the exchange currency, first-expiring first (after what the receipt's spend
    takes from them), to the selling partner's account, as a spend would go.

    Raises ``InsufficientPoints`` if the lots do not hold the price (the engine was given
    what they hold, so only a bug gets here)."""
    if not result.exchanged:
        return []
    partner = sale.terminal.store.partner
    taken: dict[int, Decimal] = defaultdict(Decimal)
    if spend is not None:
        for leg in spend[0].legs:
            if leg.lot is not None:
                taken[leg.lot.pk] -= leg.amount
    specs = []
    for outcome in result.exchanged:
        account = locked.get(outcome.currency_id)
        if account is None:
            raise InsufficientPoints(currency=outcome.currency_id)
        legs = lots_take_legs(account, outcome.cost, now, lots, taken)
        legs.append(Leg(account=partner_account(partner, account.currency_id), amount=outcome.cost))
        spec = PostingSpec(
            kind=Posting.Kind.EXCHANGE,
            cause=Posting.Cause.RECEIPT,
            actor=actor,
            legs=legs,
            partner=partner,
            cause_ref=f"exchange:{outcome.code}"[:128],
            occurred_at=at,
        )
        specs.append((outcome, spec))
    return specs


def lots_take_legs(
    account: Account,
    points: Decimal,
    now: datetime,
    lots: list[Lot],
    taken: dict[int, Decimal] | None = None,
) -> list[Leg]:
    """Legs taking ``points`` from the account's active, unexpired lots, whatever their
    spending rule (a spending rule says where points pay money; an exchange or a manual debit
    pays none), the first-expiring first (invariant L6); ``taken``: what other legs already
    take, by lot. Raises ``InsufficientPoints`` when the lots do not cover ``points``."""
    if taken is None:
        taken = defaultdict(Decimal)
    candidates = sorted(
        (
            lot
            for lot in lots
            if lot.account_id == account.pk
            and lot.state == Lot.State.ACTIVE
            and lot.kind == Lot.Kind.EARN
            and lot.remaining > 0
            and (lot.expires_at is None or lot.expires_at > now)
        ),
        key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.entry_id),
    )
    legs, left = [], points
    for lot in candidates:
        if left <= 0:
            break
        take = min(lot.remaining - taken[lot.pk], left)
        if take <= 0:
            continue
        legs.append(Leg(account=account, amount=-take, lot=lot))
        taken[lot.pk] += take
        left -= take
    if left > 0:
        raise InsufficientPoints(account=account.pk, balance=str(account.balance))
    return legs


def _exchanges_record(receipt: Receipt, exchanges) -> None:
    """Keep what the purchase exchanged, so that a cancel gives the points back once."""
    ReceiptExchange.objects.bulk_create(
        [
            ReceiptExchange(
                receipt=receipt,
                promotion_id=outcome.promotion_id,
                code=outcome.code,
                currency_id=outcome.currency_id,
                cost=outcome.cost,
                lines=list(outcome.lines),
                posting_id=spec.entries[0].posting.pk,
            )
            for outcome, spec in exchanges
        ]
    )


def _earn_specs(sale, receipt, result, locked, actor, at, now) -> list[tuple[object, PostingSpec]]:
    """One earn posting per award: a lot on the customer's account against the partner's."""
    partner = sale.terminal.store.partner
    earn_specs = []
    for award in result.awards:
        if award.beneficiary == "referrer":
            account = sale.referrer_accounts.get(award.currency_id)
            if account is None:
                continue  # the referrer is gone (anonymised): nobody to give them to
        else:
            account = locked[award.currency_id]
        active_at = at + award.activation_delay
        lifetime = award.lifetime
        if lifetime is None and award.expires_on is None:  # the reward leaves it to the currency
            lifetime = sale.snapshot.currencies[award.currency_id].lifetime
        expires_at = at + lifetime if lifetime else None
        if award.expires_on is not None:
            # Spendable through the whole last day on the store's calendar.
            zone = _local(sale.terminal, at).tzinfo
            burns = datetime.combine(
                award.expires_on + timedelta(days=1), datetime.min.time(), tzinfo=zone
            )
            expires_at = min(expires_at, burns) if expires_at else burns
        bucket = PENDING if active_at > now else ACTIVE
        currency = award.currency_id
        spec = PostingSpec(
            kind=Posting.Kind.EARN,
            cause=Posting.Cause.RECEIPT,
            actor=actor,
            legs=[
                Leg(
                    account=account,
                    amount=award.amount,
                    bucket=bucket,
                    active_at=active_at,
                    expires_at=expires_at,
                    spend_rule_id=award.spend_rule_id,
                ),
                Leg(account=partner_account(partner, currency), amount=-award.amount),
            ],
            partner=partner,
            receipt=receipt,
            cause_ref=f"promotion:{award.promotion_id}",
            occurred_at=at,
        )
        earn_specs.append((award, spec))
    return earn_specs


@dataclass(frozen=True)
class _LineReward:
    line_no: int
    promotion_id: int
    effect: str
    currency_id: int | None
    amount: Decimal
    lot_id: int | None


def _line_rewards(result, earn_specs) -> list[_LineReward]:
    """Per line and per promotion, what the purchase gave (the earn specs must be written)."""
    rewards = []
    for award, spec in earn_specs:
        lot_id = spec.entries[0].pk
        for line_no, amount in award.per_line.items():
            rewards.append(
                _LineReward(
                    line_no,
                    award.promotion_id,
                    ReceiptLineReward.Effect.POINTS,
                    award.currency_id,
                    amount,
                    lot_id,
                )
            )
    for award in result.discounts:
        for line_no, amount in award.per_line.items():
            rewards.append(
                _LineReward(
                    line_no,
                    award.promotion_id,
                    ReceiptLineReward.Effect.DISCOUNT,
                    None,
                    amount,
                    None,
                )
            )
    return rewards


def _post_purchase(
    sale, receipt, result, locked, line_by_no, actor, at, now, spend, exchanges
) -> None:
    specs: list[PostingSpec] = [spend[0]] if spend is not None else []
    specs += exchanges
    earn_specs = _earn_specs(sale, receipt, result, locked, actor, at, now)
    specs += [spec for _award, spec in earn_specs]
    postings_create(specs, savepoint=False)
    ReceiptLineReward.objects.bulk_create(
        [
            ReceiptLineReward(
                line=line_by_no[reward.line_no],
                promotion_id=reward.promotion_id,
                effect=reward.effect,
                currency_id=reward.currency_id,
                amount=reward.amount,
                lot_id=reward.lot_id,
            )
            for reward in _line_rewards(result, earn_specs)
        ]
    )
    for account in [*locked.values(), *sale.referrer_accounts.values()]:
        _settle_debts(account, Actor.for_terminal(sale.terminal), receipt, now)


def _spend_legs(
    account: Account,
    by_rule: dict[int | None, Decimal],
    now: datetime,
    lots: list[Lot] | None = None,
) -> tuple[list[Leg], Decimal]:
    """Legs taking the points ``by_rule`` from the account's lots: the points of a spending
    rule from its own lots, the unrestricted ones (None) from lots without a rule; each
    first-expiring first (invariant L6).

    Returns the legs and the part no lot could cover (only an offline receipt has one).
    ``lots``: the account's open lots read under its lock, if the caller has them.
    """
    if lots is None:
        lots = _open_lots(account)
    candidates = sorted(
        (
            lot
            for lot in lots
            if lot.account_id == account.pk
            and lot.state == Lot.State.ACTIVE
            and lot.kind == Lot.Kind.EARN
            and lot.remaining > 0
            and (lot.expires_at is None or lot.expires_at > now)
        ),
        key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.entry_id),
    )
    legs = []
    short = ZERO
    for rule_id, points in by_rule.items():
        left = points
        for lot in candidates:
            if left <= 0:
                break
            if lot.spend_rule_id != rule_id:
                continue
            take = min(lot.remaining, left)
            legs.append(Leg(account=account, amount=-take, lot=lot))
            left -= take
        short += max(left, ZERO)
    return legs, short


def _settle_debts(account: Account, actor: Actor, receipt: Receipt | None, now: datetime) -> None:
    """Pay the account's debt lots from its active earned lots (a refund's debt is repaid first)."""
    if account.debt_limit <= 0 and account.balance >= 0:
        return  # no debt was ever allowed on this account, so it has none
    debts = list(
        Lot.objects.filter(account=account, kind=Lot.Kind.DEBT, remaining__lt=0).order_by(
            "entry_id"
        )
    )
    if not debts:
        return
    lots = list(
        Lot.objects.filter(
            account=account, state=Lot.State.ACTIVE, kind=Lot.Kind.EARN, remaining__gt=0
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "entry_id")
    )
    legs = []
    for debt in debts:
        owed = -debt.remaining
        for lot in lots:
            if owed <= 0:
                break
            take = min(owed, lot.remaining)
            if take <= 0:
                continue
            lot.remaining -= take
            owed -= take
            legs.append(Leg(account=account, amount=-take, lot=lot))
            legs.append(Leg(account=account, amount=take, lot=debt))
    if legs:
        postings_create(
            [
                PostingSpec(
                    kind=Posting.Kind.TRANSFER,
                    cause=Posting.Cause.RECEIPT if receipt else Posting.Cause.ACTIVATION_RUN,
                    actor=actor,
                    legs=legs,
                    receipt=receipt,
                    description="debt repaid from new points",
                )
            ]
        )


def _counters_step(sale: _Sale, receipt: Receipt, result: EngineResult) -> list[tuple]:
    """Step the customer's counters; return (counter id, period start, before, after) of each
    (the customer's accounts are locked: nothing else steps them meanwhile)."""
    effects = []
    stepped = []
    for step in result.counters:
        value, _made = CounterValue.objects.get_or_create(
            counter_id=step.counter_id, customer=sale.customer, period_start=step.period_start
        )
        CounterValue.objects.filter(pk=value.pk).update(value=F("value") + step.delta)
        effects.append(ReceiptCounterEffect(receipt=receipt, value=value, delta=step.delta))
        stepped.append((step.counter_id, step.period_start, value.value, value.value + step.delta))
    ReceiptCounterEffect.objects.bulk_create(effects)
    return stepped


def _occasions(sale: _Sale, receipt: Receipt, stepped: list[tuple], at: datetime) -> None:
    """Tell the promotions waiting for them about the purchase's occasions: the customer's
    first purchase, counters stepped (their rewards join this transaction)."""
    kinds = sale.snapshot.occasion_kinds
    customer, terminal = sale.customer, sale.terminal
    waiting = sale.snapshot.occasions_of("first_purchase") if "first_purchase" in kinds else []
    if customer.referrer_id is None:  # refer-a-friend rewards wait only for referred customers
        waiting = [rule for rule in waiting if not rule.referred_only]
    if waiting:
        earlier = (
            Receipt.objects.filter(customer=customer)
            .exclude(pk=receipt.pk)
            .exclude(status=Receipt.Status.CANCELLED)
        )
        if not earlier.exists():
            occasion_send("first_purchase", customer, at, terminal=terminal, receipt=receipt)
    if "counter" in kinds:
        for counter_id, start, before, after in stepped:
            occasion_send(
                "counter",
                customer,
                at,
                terminal=terminal,
                counter_id=counter_id,
                period_start=start,
                before=before,
                after=after,
            )


def _tier_step(membership: TierMembership, tiers, delta: Decimal) -> str | None:
    """Move a membership's qualifying spend by ``delta`` and re-rank it (unless the tier was
    set by hand); return the tier's name. Changes the instance only: the caller saves it."""
    if not delta:
        return next((t.name for t in tiers if t.id == membership.tier_id), None)
    membership.qualifying_amount = max(membership.qualifying_amount + delta, ZERO)
    name = next((t.name for t in tiers if t.id == membership.tier_id), tiers[-1].name)
    if not membership.is_manual:
        tier = next((t for t in tiers if membership.qualifying_amount >= t.threshold), tiers[-1])
        if tier.id != membership.tier_id or membership.pk is None:
            membership.tier_id = tier.id
            membership.since = timezone.now()
        name = tier.name
    return name


def _tier_progress(
    customer: Customer, programme_id: int, delta: Decimal, reason: str
) -> tuple[str | None, TierChange | None]:
    """Move the customer's qualifying spend by ``delta`` and re-rank their tier; return its
    name and, when the tier moved, the change to record (unsaved: see ``_tier_record``)."""
    tiers = snapshot_get().tiers_of(programme_id)
    if not tiers:
        return None, None
    membership = (
        TierMembership.objects.select_for_update(of=("self",))
        .filter(customer=customer, programme_id=programme_id)
        .first()
    )
    if not delta:
        return (_tier_step(membership, tiers, delta) if membership else None), None
    if membership is None:
        # A first purchase: entering the entry tier is no change; entering a higher one is.
        membership = TierMembership(
            customer=customer, programme_id=programme_id, tier_id=tiers[-1].id
        )
        membership.qualifying_amount = ZERO
    before = (membership.tier_id if membership.pk else None, membership.qualifying_amount)
    name = _tier_step(membership, tiers, delta)
    membership.save()
    return name, _tier_move(membership, *before, reason)


def _tier_move(
    membership: TierMembership, from_tier_id: int | None, amount_before: Decimal, reason: str
) -> TierChange | None:
    """The change of ``membership``'s tier from ``from_tier_id``, or None if it stayed."""
    if membership.tier_id == from_tier_id or (
        from_tier_id is None
        and membership.tier_id == snapshot_get().entry_tier_id(membership.programme_id)
    ):
        return None
    return TierChange(
        customer_id=membership.customer_id,
        programme_id=membership.programme_id,
        from_tier_id=from_tier_id,
        to_tier_id=membership.tier_id,
        reason=reason,
        qualifying_amount_before=amount_before,
        qualifying_amount_after=membership.qualifying_amount,
        changed_at=membership.since,
    )


def _tier_record(change: TierChange, receipt: Receipt | None = None) -> None:
    """Insert ``change`` and tell the outer apps once the transaction commits."""
    change.receipt = receipt
    change.save()
    snapshot = snapshot_get()
    if "tier_change" in snapshot.occasion_kinds:
        # Up: from no tier (entering the entry tier is never recorded) or to a higher one.
        thresholds = {tier.id: tier.threshold for tier in snapshot.tiers}
        up = change.from_tier_id is None or thresholds.get(
            change.to_tier_id, ZERO
        ) > thresholds.get(change.from_tier_id, ZERO)
        occasion_send(
            "tier_change",
            change.customer,
            change.changed_at,
            tier_id=change.to_tier_id,
            up=up,
            receipt=receipt,
        )
    transaction.on_commit(lambda: tier_changed.send(sender=TierChange, change=change))


def _tier_awards_give(
    customer: Customer, programme_id: int, awards: list[TierAward]
) -> list[tuple[ReceiptTierAward, TierChange | None]]:
    """Move the customer up to the tiers of ``awards`` (the lowest first): each raises their
    qualifying spend to its tier's threshold, so the ranking keeps them there and the
    nightly review treats them as anyone who reached it. A tier they already hold (or one
    below) gives nothing. Returns, unsaved, the record of each move for the refunds and the
    change to record (see ``_tier_record``)."""
    tiers = {tier.id: tier for tier in snapshot_get().tiers_of(programme_id)}
    targets = sorted((a for a in awards if a.tier_id in tiers), key=lambda a: tiers[a.tier_id].rank)
    if not targets:
        return []
    membership = (
        TierMembership.objects.select_for_update(of=("self",))
        .filter(customer=customer, programme_id=programme_id)
        .first()
    )
    if membership is None:  # a first purchase: the customer stands in the entry tier
        entry = min(tiers.values(), key=lambda tier: tier.threshold)
        membership = TierMembership(customer=customer, programme_id=programme_id, tier_id=entry.id)
        membership.qualifying_amount = ZERO
    given = []
    for award in targets:
        target = tiers[award.tier_id]
        current = tiers.get(membership.tier_id)
        if current is not None and current.rank >= target.rank:
            continue
        before = (membership.tier_id if membership.pk else None, membership.qualifying_amount)
        added = max(target.threshold - membership.qualifying_amount, ZERO)
        membership.qualifying_amount += added
        membership.tier_id = target.id
        membership.since = timezone.now()
        membership.save()
        record = ReceiptTierAward(
            promotion_id=award.promotion_id,
            programme_id=programme_id,
            from_tier_id=before[0],
            to_tier_id=target.id,
            amount_added=added,
        )
        given.append((record, _tier_move(membership, *before, TierChange.Reason.PROMOTION)))
    return given


def _tier_awards_undo(
    receipt: Receipt, refund: Refund, now: datetime, customer_id: int | None
) -> None:
    """Take back, once, the tiers promotions gave with ``receipt``: the qualifying spend goes
    down by what each added and, if the customer is still in the tier it gave, the tier
    follows the spend (a tier set by hand goes back to where it was)."""
    awards = list(ReceiptTierAward.objects.filter(receipt=receipt, undone_by__isnull=True))
    for award in sorted(awards, key=lambda a: a.pk, reverse=True):
        membership = (
            TierMembership.objects.select_for_update(of=("self",))
            .filter(customer_id=customer_id, programme_id=award.programme_id)
            .first()
        )
        if membership is not None:
            tiers = snapshot_get().tiers_of(award.programme_id)
            before = (membership.tier_id, membership.qualifying_amount)
            membership.qualifying_amount = max(
                membership.qualifying_amount - award.amount_added, ZERO
            )
            if membership.tier_id == award.to_tier_id and tiers:
                if membership.is_manual:
                    membership.tier_id = award.from_tier_id or tiers[-1].id
                else:
                    membership.tier_id = next(
                        (t.id for t in tiers if membership.qualifying_amount >= t.threshold),
                        tiers[-1].id,
                    )
                if membership.tier_id != before[0]:
                    membership.since = now
            membership.save(update_fields=["qualifying_amount", "tier_id", "since"])
            change = _tier_move(membership, *before, TierChange.Reason.REFUND)
            if change is not None:
                _tier_record(change, receipt)
        award.undone_by = refund
        award.save(update_fields=["undone_by"])


# --- Activation and expiry -----------------------------------------------------------------


def _mature(account_ids, now: datetime, actor: Actor, receipt=None) -> tuple[int, int]:
    """Activate the due pending lots and expire the due active lots of locked accounts.

    Returns (lots activated, lots expired). Idempotent: a lot that was handled has nothing due.
    """
    due = list(
        Lot.objects.filter(account_id__in=list(account_ids))
        .exclude(remaining=0)
        .filter(
            Q(state=Lot.State.PENDING, active_at__lte=now)
            | Q(state=Lot.State.ACTIVE, kind=Lot.Kind.EARN, expires_at__lte=now)
        )
        .select_related("account__currency")
    )
    if not due:
        return 0, 0
    specs = []
    activated = [lot for lot in due if lot.state == Lot.State.PENDING]
    by_account = defaultdict(list)
    for lot in activated:
        by_account[lot.account_id].append(lot)
    for lots in by_account.values():
        legs = []
        for lot in lots:
            legs.append(Leg(account=lot.account, amount=-lot.remaining, bucket=PENDING, lot=lot))
            legs.append(Leg(account=lot.account, amount=lot.remaining, bucket=ACTIVE, lot=lot))
        specs.append(
            PostingSpec(
                kind=Posting.Kind.ACTIVATE,
                cause=Posting.Cause.ACTIVATION_RUN,
                actor=actor,
                legs=legs,
                occurred_at=now,
            )
        )
    if specs:
        postings_create(specs, savepoint=False)
    expiring = [
        lot
        for lot in due
        if lot.expires_at is not None and lot.expires_at <= now and lot.kind == Lot.Kind.EARN
    ]
    fresh = {lot.pk: lot for lot in Lot.objects.filter(pk__in=[lot.pk for lot in expiring])}
    specs = []
    by_account = defaultdict(list)
    for lot in expiring:
        current = fresh[lot.pk]
        if current.remaining > 0 and current.state == Lot.State.ACTIVE:
            by_account[lot.account_id].append((lot.account, current))
    for pairs in by_account.values():
        account = pairs[0][0]
        legs = [Leg(account=account, amount=-lot.remaining, lot=lot) for _a, lot in pairs]
        legs.append(
            Leg(
                account=programme_account(account.currency, Account.Purpose.EXPIRED),
                amount=sum((lot.remaining for _a, lot in pairs), ZERO),
            )
        )
        specs.append(
            PostingSpec(
                kind=Posting.Kind.EXPIRE,
                cause=Posting.Cause.EXPIRY_RUN,
                actor=actor,
                legs=legs,
                occurred_at=now,
                cause_ref=now.date().isoformat(),
            )
        )
    if specs:
        postings_create(specs, savepoint=False)
    for account_id in {lot.account_id for lot in activated}:
        _settle_debts(Account.objects.get(pk=account_id), actor, receipt, now)
    return len(activated), sum(len(pairs) for pairs in by_account.values())


def lots_mature(now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Activate every due pending lot and expire every due lot, one account per transaction.

    Safe to run twice and concurrently with purchases: each account is locked, and what was
    already handled is no longer due.
    """
    now = now or timezone.now()
    actor = Actor.system("lots_mature")
    totals = {"accounts": 0, "activated": 0, "expired": 0}
    last = 0
    while True:
        account_ids = list(
            Lot.objects.filter(account_id__gt=last)
            .exclude(remaining=0)
            .filter(
                Q(state=Lot.State.PENDING, active_at__lte=now)
                | Q(state=Lot.State.ACTIVE, kind=Lot.Kind.EARN, expires_at__lte=now)
            )
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:batch]
        )
        if not account_ids:
            return totals
        for account_id in account_ids:

            def work(account_id=account_id):
                with _money_transaction():
                    list(accounts_for_update([account_id]))
                    return _mature([account_id], now, actor)

            activated, expired = _retrying(work)
            totals["accounts"] += 1
            totals["activated"] += activated
            totals["expired"] += expired
        last = account_ids[-1]


def holds_expire(now: datetime | None = None) -> int:
    """Close the holds whose time is up and give their points back to the balance."""
    now = now or timezone.now()
    count = 0
    for hold in Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now).order_by("pk"):

        def work(hold=hold):
            with _money_transaction():
                list(accounts_for_update([hold.account_id]))
                closed = Hold.objects.filter(pk=hold.pk, status=Hold.Status.ACTIVE).update(
                    status=Hold.Status.EXPIRED, closed_at=now
                )
                if closed:
                    Account.objects.filter(pk=hold.account_id).update(
                        held=Greatest(F("held") - hold.points, 0)
                    )
                return closed

        count += _retrying(work)
    # Gift certificate holds reserve nothing once expired; their rows go.
    CertificateHold.objects.filter(expires_at__lte=now).delete()
    return count


# --- Reading a purchase --------------------------------------------------------------------


def _receipt_find(terminal: Terminal, receipt_id: str) -> Receipt | None:
    """The terminal's receipt, else the partner's only receipt with this id (a return made at
    another register of the same partner). Another partner's receipts are never found."""
    receipt = Receipt.objects.filter(terminal=terminal, receipt_id=receipt_id).first()
    if receipt is not None:
        return receipt
    found = list(
        Receipt.objects.filter(partner_id=terminal.store.partner_id, receipt_id=receipt_id)[:2]
    )
    return found[0] if len(found) == 1 else None


def purchase_get(terminal: Terminal, receipt_id: str) -> dict:
    """The committed purchase as confirm returned it, with its current status and refunds."""
    terminal = _terminal(terminal)
    receipt = _receipt_find(terminal, receipt_id)
    if receipt is None:
        raise ReceiptNotFound(receipt_id=receipt_id)
    return _with_refunds(receipt)


def _with_refunds(receipt: Receipt) -> dict:
    answer = dict(receipt.result)
    answer["status"] = receipt.status
    answer["refunds"] = [refund.result for refund in receipt.refunds.order_by("pk")]
    return answer


# --- Refund and cancel ---------------------------------------------------------------------


def purchase_cancel(terminal: Terminal, receipt_id: str) -> dict:
    """Void a purchase: reverse everything its refunds have not, release its hold. Idempotent."""
    terminal = _terminal(terminal)
    receipt = _receipt_find(terminal, receipt_id)
    if receipt is None:
        released = _retrying(lambda: _cancel_hold_only(terminal, receipt_id))
        if released:
            return {"receipt_id": receipt_id, "status": "cancelled", "hold_released": True}
        raise ReceiptNotYetKnown(receipt_id=receipt_id)
    fingerprint = _digest({"cancel": receipt_id})
    return _retrying(lambda: _refund(terminal, receipt, Refund.Kind.CANCEL, "", fingerprint, None))


def _cancel_hold_only(terminal: Terminal, receipt_id: str) -> bool:
    hold = Hold.objects.filter(
        terminal=terminal, receipt_id=receipt_id, status=Hold.Status.ACTIVE
    ).first()
    coupons = coupons_release(hold_key(terminal.pk, receipt_id))
    coupons += certificates_release(hold_key(terminal.pk, receipt_id))
    if hold is None:
        return coupons > 0
    with _money_transaction():
        list(accounts_for_update([hold.account_id]))
        return _hold_release(terminal, receipt_id, Hold.Status.RELEASED, timezone.now()) is not None


def purchase_refund(
    terminal: Terminal,
    receipt_id: str,
    refund_id: str,
    lines: list[tuple[int, Decimal]] | None,
) -> dict:
    """Return ``lines`` (line number, quantity) of a purchase, or all that is left; once per id."""
    terminal = _terminal(terminal)
    fingerprint = _digest(
        {
            "receipt_id": receipt_id,
            "lines": None
            if lines is None
            else sorted([no, str(Decimal(qty).normalize())] for no, qty in lines),
        }
    )
    existing = Refund.objects.filter(
        terminal=terminal, refund_id=refund_id, kind=Refund.Kind.REFUND
    ).first()
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise RefundConflict(refund_id=refund_id)
        return existing.result
    receipt = _receipt_find(terminal, receipt_id)
    if receipt is None:
        raise ReceiptNotYetKnown(receipt_id=receipt_id)
    return _retrying(
        lambda: _refund(terminal, receipt, Refund.Kind.REFUND, refund_id, fingerprint, lines)
    )


class _MergedMeanwhile(Exception):
    """A customer of the refund was merged while the refund waited for the account locks."""


def _refund(terminal, receipt, kind, refund_id, fingerprint, requested) -> dict:
    # A merge that committed while the refund waited for its locks moved the points on: read
    # again which accounts hold them (merges are rare; a third one in a row raises).
    for _attempt in range(2):
        try:
            return _refund_once(terminal, receipt, kind, refund_id, fingerprint, requested)
        except _MergedMeanwhile:
            continue
    return _refund_once(terminal, receipt, kind, refund_id, fingerprint, requested)


def _refund_once(terminal, receipt, kind, refund_id, fingerprint, requested) -> dict:
    customer_accounts = (
        list(
            Account.objects.filter(kind=Account.Kind.CUSTOMER, customer_id=receipt.customer_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if receipt.customer_id
        else []
    )
    # Points the purchase gave the customer's referrer are taken back from the referrer.
    others = (
        ReceiptLineReward.objects.filter(line__receipt=receipt, lot__isnull=False)
        .exclude(lot__account__customer_id=receipt.customer_id)
        .values_list("lot__account_id", flat=True)
        .distinct()
    )
    # A merge moved the points of a merged customer's accounts on: what the refund takes back
    # or gives back goes to the kept customer's account of the same currency.
    moved_to = _merged_accounts({*customer_accounts, *others})
    holder = receipt.customer
    while holder is not None and holder.merged_into_id is not None:
        holder = holder.merged_into
    customer_accounts = sorted({*customer_accounts, *others, *moved_to.values()})
    with _money_transaction():
        locked = {a.pk: a for a in accounts_for_update(customer_accounts)}
        redirect = {gone: locked[keep] for gone, keep in moved_to.items()}
        if (
            Account.objects.filter(pk__in=list(locked), customer__merged_into__isnull=False)
            .exclude(pk__in=list(redirect))
            .exists()
        ):
            raise _MergedMeanwhile
        receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
        # Again under the locks: a racing duplicate may have committed while we waited.
        if kind == Refund.Kind.CANCEL:
            done = Refund.objects.filter(receipt=receipt, kind=Refund.Kind.CANCEL).first()
            if done is not None:
                return done.result
        else:
            done = Refund.objects.filter(
                terminal=terminal, refund_id=refund_id, kind=Refund.Kind.REFUND
            ).first()
            if done is not None:
                if done.fingerprint != fingerprint:
                    raise RefundConflict(refund_id=refund_id)
                return done.result
            if receipt.status == Receipt.Status.CANCELLED:
                raise ReceiptCancelled(receipt_id=receipt.receipt_id)
        lines = {
            line.line_no: line for line in receipt.lines.select_for_update().order_by("line_no")
        }
        plan = _refund_plan(lines, requested, kind)
        now = timezone.now()
        refund = Refund.objects.create(
            receipt=receipt,
            terminal=terminal,
            kind=kind,
            refund_id=refund_id,
            fingerprint=fingerprint,
            created_at=now,
        )
        movement = _refund_lines(receipt, refund, lines, plan)
        legs, totals = _refund_legs(receipt, refund, movement, locked, now, redirect)
        if legs:
            postings_create(
                [
                    PostingSpec(
                        kind=Posting.Kind.REFUND
                        if kind == Refund.Kind.REFUND
                        else Posting.Kind.REVERSAL,
                        cause=Posting.Cause.REFUND,
                        cause_ref=refund_id or "cancel",
                        actor=Actor.for_terminal(terminal),
                        legs=legs,
                        partner=receipt.partner,
                        receipt=receipt,
                        occurred_at=now,
                    )
                ]
            )
        for account in locked.values():
            _settle_debts(account, Actor.for_terminal(terminal), receipt, now)
        _counters_undo(receipt, refund, lines)
        fraction_money = movement["to_pay"]
        if receipt.customer_id and receipt.tier_amount:
            undone = _tier_undo(receipt, movement["to_pay"])
            if undone:
                _name, move = _tier_progress(
                    holder, _programme_of(receipt), -undone, TierChange.Reason.REFUND
                )
                if move is not None:
                    _tier_record(move, receipt)
        fully = all(line.refunded_quantity >= line.quantity for line in lines.values())
        whole = fully or kind == Refund.Kind.CANCEL
        usage_undo(receipt, refund, whole)
        given_back = _exchanges_return(receipt, refund, lines, locked, now)
        certificates_back, _cash = certificates_refund(
            receipt, refund, movement["moved"], terminal, now, cancel=kind == Refund.Kind.CANCEL
        )
        if whole:
            coupons_withdraw(receipt)
            coupons_return(receipt, now)
            _tier_awards_undo(receipt, refund, now, holder.pk if holder else None)
        if kind == Refund.Kind.CANCEL:
            receipt.status = Receipt.Status.CANCELLED
            _hold_release(receipt.terminal, receipt.receipt_id, Hold.Status.RELEASED, now)
        else:
            receipt.status = Receipt.Status.REFUNDED if fully else Receipt.Status.PARTIALLY_REFUNDED
        Receipt.objects.filter(pk=receipt.pk).update(status=receipt.status)
        main = next(
            (
                a
                for a in locked.values()
                if a.currency_id == receipt.currency_id
                and holder is not None
                and a.customer_id == holder.pk
            ),
            None,
        )
        if main is not None:
            main.refresh_from_db(fields=["balance", "pending"])
        refund.amount = movement["amount"]
        refund.to_pay = fraction_money
        refund.points_returned = totals["returned"]
        refund.points_reversed = totals["reversed"]
        refund.shortfall = totals["shortfall"]
        refund.debt = totals["debt"]
        refund.result = {
            "receipt_id": receipt.receipt_id,
            "refund_id": refund_id or None,
            "kind": kind,
            "status": receipt.status,
            "amount": _money(refund.amount),
            "to_pay": _money(refund.to_pay),
            "points_returned": str(refund.points_returned),
            "points_reversed": str(refund.points_reversed),
            "shortfall": str(refund.shortfall),
            "debt": str(refund.debt),
            "lines": movement["lines"],
            "balance": (
                {"after": str(main.balance), "pending": str(main.pending)} if main else None
            ),
            **({"exchanges_returned": given_back} if given_back else {}),
            **(
                {
                    "certificates_returned": certificates_back,
                    "money_back": _money(
                        fraction_money
                        - sum(
                            (
                                Decimal(entry["amount"])
                                for entry in certificates_back
                                if entry["to"] == "certificate"
                            ),
                            ZERO,
                        )
                    ),
                }
                if certificates_back
                else {}
            ),
        }
        refund.save()
        return refund.result


def _exchanges_return(receipt, refund, lines, locked, now) -> list[dict]:
    """Give back the points of the receipt's exchanges whose lines are all returned now (every
    line of the receipt for an exchange that touched none; any exchange on a cancel): each
    by a posting that reverses the one that paid for it, once (``returned_by``; the caller
    holds the receipt's lock). Returns what was given back, for the answer."""
    exchanges = list(
        ReceiptExchange.objects.filter(receipt=receipt, returned_by__isnull=True)
        .select_related("currency", "posting")
        .order_by("pk")
    )
    if not exchanges:
        return []
    cancel = refund.kind == Refund.Kind.CANCEL
    due = [
        exchange
        for exchange in exchanges
        if cancel
        or all(
            lines[no].refunded_quantity >= lines[no].quantity
            for no in (exchange.lines or lines)
            if no in lines
        )
    ]
    if not due:
        return []
    entries = (
        LedgerEntry.objects.filter(posting_id__in=[x.posting_id for x in due])
        .select_related("account")
        .order_by("pk")
    )
    lots = Lot.objects.in_bulk([e.lot_id for e in entries if e.lot_id is not None])
    legs_of = defaultdict(list)
    for entry in entries:
        account = locked.get(entry.account_id) or entry.account
        lot = lots.get(entry.lot_id) if entry.lot_id is not None else None
        legs_of[entry.posting_id].append(Leg(account=account, amount=-entry.amount, lot=lot))
    actor = Actor.for_terminal(refund.terminal)
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.EXCHANGE,
                cause=Posting.Cause.REFUND,
                cause_ref=refund.refund_id or "cancel",
                actor=actor,
                legs=legs_of[exchange.posting_id],
                partner=receipt.partner,
                receipt=receipt,
                reverses=exchange.posting,
                description=f"exchange {exchange.code} given back"[:300],
                occurred_at=now,
            )
            for exchange in due
        ]
    )
    for exchange in due:
        exchange.returned_by = refund
        exchange.save(update_fields=["returned_by"])
    return [
        {
            "code": exchange.code,
            "currency": exchange.currency.code,
            "points": str(quantize(exchange.cost, exchange.currency.decimal_places)),
        }
        for exchange in due
    ]


def _programme_of(receipt: Receipt) -> int:
    if receipt.currency_id:
        from loyalty.models import Currency

        return Currency.objects.values_list("programme_id", flat=True).get(pk=receipt.currency_id)
    sale_programme = snapshot_get().programme_for(receipt.partner_id)
    return sale_programme.id


def _refund_plan(lines, requested, kind) -> dict[int, Decimal]:
    """Quantities to return per line number; raises on unknown lines and over-returns."""
    if requested is None:
        plan = {
            no: line.quantity - line.refunded_quantity
            for no, line in lines.items()
            if line.quantity > line.refunded_quantity
        }
        if not plan and kind == Refund.Kind.REFUND:
            raise NothingToRefund()
        return plan
    plan: dict[int, Decimal] = {}
    for no, quantity in requested:
        if no not in lines:
            raise UnknownLine(line=no)
        plan[no] = plan.get(no, ZERO) + Decimal(quantity)
    for no, quantity in plan.items():
        line = lines[no]
        if quantity <= 0 or line.refunded_quantity + quantity > line.quantity:
            raise RefundExceedsPurchase(
                line=no,
                bought=str(line.quantity),
                returned=str(line.refunded_quantity),
                asked=str(quantity),
            )
    return plan


def _refund_lines(receipt, refund, lines, plan) -> dict:
    """Write the refund's lines: each field's cumulative share minus what earlier refunds took."""
    totals = {"amount": ZERO, "to_pay": ZERO, "lines": [], "rewards": [], "moved": {}}
    refund_lines = []
    places = {c.id: c.decimal_places for c in snapshot_get().currencies.values()}
    spent_places = places.get(receipt.currency_id, DECIMAL_PLACES)
    rewards = defaultdict(list)
    for reward in ReceiptLineReward.objects.filter(line__receipt=receipt).order_by("pk"):
        rewards[reward.line_id].append(reward)
    for no, quantity in sorted(plan.items()):
        line = lines[no]
        before, after = line.refunded_quantity, line.refunded_quantity + quantity

        def delta(value, places=DECIMAL_PLACES, line=line, before=before, after=after):
            return _share(value, after, line.quantity, places) - _share(
                value, before, line.quantity, places
            )

        moved = RefundLine(
            refund=refund,
            line=line,
            quantity=quantity,
            amount=delta(line.amount),
            discount=delta(line.discount),
            points_spent=delta(line.points_spent),
            to_pay=delta(line.to_pay),
            spent_points=delta(line.spent_points, spent_places),
            points_earned=ZERO,
        )
        for reward in rewards[line.pk]:
            if reward.refund_id is not None or reward.amount <= 0:
                continue
            part = delta(reward.amount, places.get(reward.currency_id, DECIMAL_PLACES))
            if not part:
                continue
            totals["rewards"].append((reward, part))
            if reward.effect == ReceiptLineReward.Effect.POINTS and (
                reward.currency_id == receipt.currency_id
            ):
                moved.points_earned += part
        refund_lines.append(moved)
        line.refunded_quantity = after
        totals["moved"][no] = (before, after, line.quantity)
        totals["amount"] += moved.amount
        totals["to_pay"] += moved.to_pay
        totals["lines"].append(
            {
                "line": no,
                "quantity": str(quantity),
                "amount": _money(moved.amount),
                "discount": _money(moved.discount),
                "points_spent": _money(moved.points_spent),
                "to_pay": _money(moved.to_pay),
                "points_earned": str(moved.points_earned),
            }
        )
    RefundLine.objects.bulk_create(refund_lines)
    for line in lines.values():
        ReceiptLine.objects.filter(pk=line.pk).update(refunded_quantity=line.refunded_quantity)
    ReceiptLineReward.objects.bulk_create(
        [
            ReceiptLineReward(
                line=reward.line,
                refund=refund,
                promotion_id=reward.promotion_id,
                effect=reward.effect,
                currency_id=reward.currency_id,
                amount=-part,
                lot_id=reward.lot_id,
            )
            for reward, part in totals["rewards"]
        ]
    )
    totals["spent_points"] = sum((line.spent_points for line in refund_lines), ZERO)
    return totals


def _merged_accounts(account_ids) -> dict[int, int]:
    """For each of these customer accounts whose customer was merged into another, the account
    of the same currency of the customer that holds the points now (the last of a chain)."""
    moved: dict[int, int] = {}
    for account in Account.objects.filter(
        pk__in=account_ids, customer__merged_into__isnull=False
    ).select_related("customer__merged_into", "currency"):
        keep = account.customer.merged_into
        while keep.merged_into_id is not None:
            keep = keep.merged_into
        moved[account.pk] = customer_account(keep, account.currency).pk
    return moved


def _refund_legs(receipt, refund, movement, locked, now, redirect) -> tuple[list[Leg], dict]:
    """Legs that take back the earned points and give back the spent ones.

    ``redirect`` maps the account of a merged customer to the locked account that holds its
    points now: the points a merge moved are taken back there (the lot the merge opened with
    this receipt first), and spent points are given back there as new lots that keep the
    expiry and spending rule of the lots they were spent from.
    """
    totals = {"returned": ZERO, "reversed": ZERO, "shortfall": ZERO, "debt": ZERO}
    legs: list[Leg] = []
    if not locked:
        return legs, totals
    by_currency = {
        account.currency_id: account
        for account in locked.values()
        if account.customer_id == receipt.customer_id
    }
    policy = snapshot_get().programmes.get(_programme_of(receipt))
    debt_policy = policy is not None and policy.refund_shortfall_policy == "debt"
    partner = receipt.partner

    # 1. Earned points: from the lot they opened, then from other lots, then shortfall or debt.
    per_lot: dict[int, Decimal] = defaultdict(Decimal)
    for reward, part in movement["rewards"]:
        if reward.effect == ReceiptLineReward.Effect.POINTS and reward.lot_id:
            per_lot[reward.lot_id] += part
    lots = Lot.objects.in_bulk(list(per_lot))
    taken_from: dict[int, Decimal] = defaultdict(Decimal)
    for lot_id, wanted in sorted(per_lot.items()):
        lot = lots[lot_id]
        account = locked[lot.account_id]
        is_receipt_customers = (
            account.currency_id == receipt.currency_id
            and account.customer_id == receipt.customer_id
        )
        currency = account.currency
        take = min(wanted, lot.remaining)
        if take > 0:
            legs.append(
                Leg(
                    account=account,
                    amount=-take,
                    bucket=PENDING if lot.state == Lot.State.PENDING else ACTIVE,
                    lot=lot,
                )
            )
            taken_from[lot.pk] += take
        left = wanted - take
        if left > 0 and account.pk in redirect:
            account = redirect[account.pk]
            moved = Lot.objects.filter(
                account=account,
                receipt=receipt,
                entry__posting__cause=Posting.Cause.MERGE,
                remaining__gt=0,
            ).order_by("entry_id")
            for successor in moved:
                room = successor.remaining - taken_from[successor.pk]
                if left <= 0:
                    break
                if room <= 0:
                    continue
                take = min(room, left)
                bucket = PENDING if successor.state == Lot.State.PENDING else ACTIVE
                legs.append(Leg(account=account, amount=-take, bucket=bucket, lot=successor))
                taken_from[successor.pk] += take
                left -= take
        if left > 0:
            others = (
                Lot.objects.filter(
                    account=account, state=Lot.State.ACTIVE, kind=Lot.Kind.EARN, remaining__gt=0
                )
                .exclude(pk=lot.pk)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .order_by(F("expires_at").asc(nulls_last=True), "entry_id")
            )
            for other in others:
                room = other.remaining - taken_from[other.pk]
                if left <= 0:
                    break
                if room <= 0:
                    continue
                take = min(room, left)
                legs.append(Leg(account=account, amount=-take, lot=other))
                taken_from[other.pk] += take
                left -= take
        moved = wanted - left
        if left > 0 and debt_policy:
            balance_after = (
                account.balance
                - sum(
                    (
                        -leg.amount
                        for leg in legs
                        if leg.account.pk == account.pk and leg.bucket == ACTIVE
                    ),
                    ZERO,
                )
                - left
            )
            Account.objects.filter(pk=account.pk).update(
                debt_limit=Greatest(F("debt_limit"), -balance_after)
            )
            legs.append(Leg(account=account, amount=-left))
            totals["debt"] += left
            moved = wanted
        elif left > 0:
            legs.append(
                Leg(
                    account=programme_account(currency, Account.Purpose.SHORTFALL),
                    amount=-left,
                )
            )
            totals["shortfall"] += left
            moved = wanted
        legs.append(Leg(account=partner_account(partner, currency), amount=moved))
        if is_receipt_customers:
            totals["reversed"] += wanted

    # 2. Spent points go back to the lots they came from, latest-expiring first; the part an
    # offline receipt spent beyond the balance goes back to whoever covered it.
    to_return = movement["spent_points"]
    main = by_currency.get(receipt.currency_id)
    if to_return > 0 and main is not None:
        currency = main.currency
        holder = redirect.get(main.pk, main)
        sources = _spend_sources(receipt, main, holder)
        partner_leg = Leg(account=partner_account(partner, currency), amount=-to_return)
        left = to_return
        for target, room in sources:
            if left <= 0:
                break
            give = min(room, left)
            if give <= 0:
                continue
            if target == "shortfall":
                legs.append(
                    Leg(
                        account=programme_account(currency, Account.Purpose.SHORTFALL),
                        amount=give,
                    )
                )
            elif holder is main:
                legs.append(Leg(account=main, amount=give, lot=target))
            else:
                legs.append(
                    Leg(
                        account=holder,
                        amount=give,
                        expires_at=target.expires_at,
                        spend_rule_id=target.spend_rule_id,
                    )
                )
            left -= give
        if left > 0:  # pragma: no cover - the shares never exceed what was spent
            raise RefundExceedsPurchase(points=str(left))
        legs.append(partner_leg)
        totals["returned"] += to_return
    return legs, totals


def _spend_sources(
    receipt: Receipt, account: Account, holder: Account | None = None
) -> list[tuple[object, Decimal]]:
    """Where the receipt's spent points came from, minus what refunds gave back, in the order
    they are given back: the covered shortfall first, then the lots latest-expiring first.

    ``holder``: the account that took ``account``'s points in a merge; what refunds gave back
    there (as new lots) is taken off the lots in the same order."""
    spent = LedgerEntry.objects.filter(
        posting__receipt=receipt,
        posting__kind=Posting.Kind.SPEND,
        account=account,
        amount__lt=0,
    ).order_by("pk")
    returned = defaultdict(Decimal)
    for lot_id, amount in LedgerEntry.objects.filter(
        posting__receipt=receipt,
        posting__kind__in=[Posting.Kind.REFUND, Posting.Kind.REVERSAL],
        account=account,
        amount__gt=0,
    ).values_list("lot_id", "amount"):
        returned[lot_id] += amount
    sources: list[tuple[object, Decimal]] = []
    if receipt.offline_shortfall and receipt.currency_id:
        covered = (
            LedgerEntry.objects.filter(
                posting__receipt=receipt,
                posting__kind__in=[Posting.Kind.REFUND, Posting.Kind.REVERSAL],
                account__kind=Account.Kind.PROGRAMME,
                account__purpose=Account.Purpose.SHORTFALL,
                amount__gt=0,
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        shortfall_paid_by_programme = LedgerEntry.objects.filter(
            posting__receipt=receipt,
            posting__kind=Posting.Kind.SPEND,
            account__kind=Account.Kind.PROGRAMME,
        ).exists()
        if shortfall_paid_by_programme:
            sources.append(("shortfall", receipt.offline_shortfall - quantize(covered, 4)))
    lots = Lot.objects.in_bulk([entry.lot_id or entry.pk for entry in spent])
    for entry in reversed(list(spent)):
        lot = lots[entry.lot_id or entry.pk]
        room = -entry.amount - returned[lot.pk]
        if room > 0:
            sources.append((lot, room))
            returned[lot.pk] = ZERO
    if holder is not None and holder.pk != account.pk:
        given = (
            LedgerEntry.objects.filter(
                posting__receipt=receipt,
                posting__kind__in=[Posting.Kind.REFUND, Posting.Kind.REVERSAL],
                posting__cause=Posting.Cause.REFUND,
                account=holder,
                lot__isnull=True,
                amount__gt=0,
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        rest = []
        for source, room in sources:
            if isinstance(source, Lot) and given > 0:
                off = min(room, given)
                room, given = room - off, given - off
            if room > 0:
                rest.append((source, room))
        sources = rest
    return sources


def _counters_undo(receipt: Receipt, refund: Refund, lines) -> None:
    effects = list(
        ReceiptCounterEffect.objects.filter(receipt=receipt, refund__isnull=True).select_related(
            "value__counter"
        )
    )
    if not effects:
        return
    taken = defaultdict(Decimal)
    for value_id, delta in ReceiptCounterEffect.objects.filter(
        receipt=receipt, refund__isnull=False
    ).values_list("value_id", "delta"):
        taken[value_id] += -delta
    quantity = sum((line.quantity for line in lines.values()), ZERO)
    refunded_quantity = sum((line.refunded_quantity for line in lines.values()), ZERO)
    refunded_money = (
        RefundLine.objects.filter(refund__receipt=receipt).aggregate(total=Sum("to_pay"))["total"]
        or ZERO
    )
    fully = refunded_quantity >= quantity
    undo = []
    for effect in effects:
        unit = effect.value.counter.unit
        if unit in (Counter.Unit.PURCHASES, Counter.Unit.STEPS):
            target = effect.delta if fully else ZERO
        elif unit == Counter.Unit.AMOUNT:
            target = (
                effect.delta
                if fully
                else _share(effect.delta, quantize(refunded_money), receipt.to_pay or Decimal(1), 4)
            )
        else:
            target = _share(effect.delta, refunded_quantity, quantity, 4)
        step = target - taken[effect.value_id]
        if step > 0:
            CounterValue.objects.filter(pk=effect.value_id).update(
                value=Greatest(F("value") - step, 0)
            )
            undo.append(
                ReceiptCounterEffect(
                    receipt=receipt, refund=refund, value=effect.value, delta=-step
                )
            )
    ReceiptCounterEffect.objects.bulk_create(undo)


def _tier_undo(receipt: Receipt, this_refund: Decimal) -> Decimal:
    """The part of the receipt's tier progress that this refund takes back (cumulative)."""
    after = quantize(
        RefundLine.objects.filter(refund__receipt=receipt).aggregate(total=Sum("to_pay"))["total"]
        or ZERO
    )
    whole = receipt.to_pay or Decimal(1)
    return _share(receipt.tier_amount, after, whole, 2) - _share(
        receipt.tier_amount, after - this_refund, whole, 2
    )


# --- Offline -------------------------------------------------------------------------------


def purchases_offline(
    terminal: Terminal, requests: list[PurchaseRequest | LoyaltyError]
) -> list[dict]:
    """Confirm receipts sold while the register was offline, each once and on its own.

    An item that fails answers its error and does not stop the others. Items arrive in sale
    order; the rules in force at each time of sale apply; the balance never rejects a sale.
    """
    results = []
    for item in requests:
        if isinstance(item, LoyaltyError):
            results.append(_item_error(getattr(item, "receipt_id", None), item))
            continue
        try:
            result = purchase_confirm(terminal, item, offline=True)
        except LoyaltyError as exc:
            results.append(_item_error(item.receipt_id, exc))
        else:
            results.append({"receipt_id": item.receipt_id, "status": "ok", "result": result})
    return results


def _item_error(receipt_id, exc: LoyaltyError) -> dict:
    return {
        "receipt_id": receipt_id,
        "status": "error",
        "error": {
            "code": exc.code,
            "status": exc.status,
            "detail": str(exc.detail),
            **({"errors": exc.details["errors"]} if "errors" in exc.details else {}),
        },
    }
