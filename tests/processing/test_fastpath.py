"""The purchase hot path on PostgreSQL (processing.fastpath) against the ORM path.

Two customers of one coalition live the same story, one through the SQL path and one through
the ORM path: purchases that earn in two currencies (and a delayed part), spend, pay stars for
an exchange, cross a tier threshold, activate an issued card, meet lots due for activation and
expiry, come back as a replay, a partial refund and a cancel. Every answer and every row the two wrote (receipts,
lines, postings, entries, lots, line rewards, accounts, tiers) must be the same, ids and clock
stamps aside. The SQL path must also keep to its round trips.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import (
    Account,
    Card,
    LedgerEntry,
    Lot,
    Posting,
    Receipt,
    ReceiptExchange,
    ReceiptLine,
    ReceiptLineReward,
    Refund,
    TierChange,
    TierMembership,
)
from processing import fastpath
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion, Reward
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CardFactory,
    CurrencyFactory,
    ProductFactory,
    TierFactory,
)
from tests.factories.processing import coalition
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
D = Decimal

LINES = [(f"SKU-{n}", str(q), p) for n, q, p in [
    (1, 1, "89.90"), (2, 2, "45.50"), (3, "0.750", "320.00"), (4, 1, "15.90"), (5, 3, "59.00"),
    (6, 1, "129.00"), (7, "1.250", "80.00"), (8, 1, "249.90"), (9, 2, "34.90"), (10, 1, "99.00"),
    (11, 4, "12.50"), (12, 1, "199.00"), (13, "0.350", "150.00"), (14, 1, "64.90"), (15, 2, "82.50"),
]]  # fmt: skip


@pytest.fixture
def world():
    world = coalition(percent="5", lifetime_days=30)
    stars = CurrencyFactory(programme=world.programme, code="stars", is_default=False)
    for name, currency, delay in (("Stars", stars, 0), ("Points a day later", world.currency, 1)):
        promotion = Promotion.objects.create(
            programme=world.programme,
            name=name,
            status=Promotion.Status.ACTIVE,
            starts_at=timezone.now() - timedelta(days=365),
        )
        Reward.objects.create(
            promotion=promotion,
            kind=Reward.Kind.POINTS_PERCENT,
            value=D("1"),
            currency=currency,
            activation_delay_days=delay,
        )
    TierFactory(programme=world.programme, rank=1, threshold=D("0"), code="base", name="Base")
    TierFactory(programme=world.programme, rank=2, threshold=D("3000"), code="gold", name="Gold")
    for n in range(1, 8):  # half of the lines are in the catalogue
        ProductFactory(sku=f"SKU-{n}", partner=None)
    deal = Promotion.objects.create(
        programme=world.programme,
        name="5 % off for 5 stars",
        code="STAR-DEAL",
        status=Promotion.Status.ACTIVE,
        starts_at=timezone.now() - timedelta(days=365),
        exchange_cost=D("5"),
        exchange_currency=stars,
    )
    Reward.objects.create(promotion=deal, kind=Reward.Kind.DISCOUNT_PERCENT, value=D("5"))
    world.stars = stars
    snapshot_invalidate()
    return world


def _request(card: str, receipt_id: str, lines=LINES, **kw) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card,
        lines=tuple(
            PurchaseLine(line_no=n, sku=sku, quantity=D(q), price=D(p))
            for n, (sku, q, p) in enumerate(lines, start=1)
        ),
        **kw,
    )


def _story(world, card: str, tag: str) -> list:
    """The same sale history for one card; returns every answer (customer ids masked)."""
    answers = []
    t = world.terminal
    answers.append(calculate_answer(t, _request(card, f"{tag}-1")))
    answers.append(confirm_answer(t, _request(card, f"{tag}-1")))
    answers.append(confirm_answer(t, _request(card, f"{tag}-1")))  # a replay
    answers.append(calculate_answer(t, _request(card, f"{tag}-2", spend_points="max")))
    answers.append(confirm_answer(t, _request(card, f"{tag}-2", spend_points="max")))
    deal = {"spend_points": "10.00", "exchanges": ("STAR-DEAL",)}
    answers.append(confirm_answer(t, _request(card, f"{tag}-3", **deal)))
    answers.append(purchase_refund(t, f"{tag}-1", f"{tag}-F1", [(2, D("1")), (5, D("2"))]))
    answers.append(purchase_cancel(t, f"{tag}-2"))
    # two days later the delayed points are due for activation, 40 days later points expire
    later = timezone.now() + timedelta(days=2)
    with mock.patch("django.utils.timezone.now", return_value=later):
        answers.append(confirm_answer(t, _request(card, f"{tag}-4", spend_points="max")))
    later = timezone.now() + timedelta(days=40)
    with mock.patch("django.utils.timezone.now", return_value=later):
        answers.append(confirm_answer(t, _request(card, f"{tag}-5", spend_points="max")))
    answers.append(purchase_cancel(t, f"{tag}-3"))  # gives the stars back
    for answer in answers:
        if answer.get("customer"):
            answer["customer"]["id"] = "masked"
        if "receipt_id" in answer:
            answer["receipt_id"] = answer["receipt_id"].split("-", 1)[1]
        if answer.get("refund_id"):
            answer["refund_id"] = answer["refund_id"].split("-", 1)[1]
    return answers


# Ids are replaced by their order; clock stamps differ between the two runs by design (the
# lifetime of a lot, expires_at - active_at, is compared instead).
DROPPED = {"id", "entry_id", "recorded_at", "created_at", "updated_at", "since", "activated_at"}
CLOCK = {"sold_at", "occurred_at", "active_at", "expires_at", "changed_at"}


def _rows(model, queryset, order=("pk",)) -> list[dict]:
    fields = [f.attname for f in model._meta.concrete_fields]
    return list(queryset.order_by(*order).values(*fields))


def _dump(customer) -> dict:
    """Everything the customer's purchases wrote, with ids replaced by their order of creation."""
    receipts = _rows(Receipt, Receipt.objects.filter(customer=customer))
    receipt_ids = {row["id"]: n for n, row in enumerate(receipts)}
    lines = _rows(ReceiptLine, ReceiptLine.objects.filter(receipt__customer=customer))
    line_ids = {row["id"]: n for n, row in enumerate(lines)}
    postings = _rows(Posting, Posting.objects.filter(receipt__customer=customer))
    posting_ids = {row["id"]: n for n, row in enumerate(postings)}
    entries = _rows(LedgerEntry, LedgerEntry.objects.filter(posting__receipt__customer=customer))
    entry_ids = {row["id"]: n for n, row in enumerate(entries)}
    lots = _rows(Lot, Lot.objects.filter(account__customer=customer), order=("entry_id",))
    rewards = _rows(
        ReceiptLineReward, ReceiptLineReward.objects.filter(line__receipt__customer=customer)
    )
    refund_ids = {
        pk: n
        for n, pk in enumerate(
            Refund.objects.filter(receipt__customer=customer)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    }
    accounts = _rows(Account, Account.objects.filter(customer=customer), order=("currency_id",))
    account_ids = {row["id"]: n for n, row in enumerate(accounts)}
    tiers = _rows(TierMembership, TierMembership.objects.filter(customer=customer))
    tier_changes = _rows(TierChange, TierChange.objects.filter(customer=customer))
    exchanges = _rows(ReceiptExchange, ReceiptExchange.objects.filter(receipt__customer=customer))

    def clean(rows, **maps):
        out = []
        for row in rows:
            if row.get("active_at") and row.get("expires_at"):
                row["lifetime"] = row["expires_at"] - row["active_at"]
            row = {k: v for k, v in row.items() if k not in DROPPED | CLOCK}
            for column, mapping in maps.items():
                if row.get(column) is not None:
                    row[column] = mapping.get(row[column], "outside")
            for column in ("receipt_id",):
                if isinstance(row.get(column), str):
                    row[column] = row[column].split("-", 1)[1]
            row.pop("fingerprint", None)
            row.pop("customer_id", None)
            row.pop("card_id", None)
            if isinstance(row.get("result"), dict) and row["result"].get("customer"):
                row["result"] = {**row["result"], "customer": None, "receipt_id": None}
            if row.get("cause_ref", "").startswith(("R", "S")):  # refund ids carry the tag
                row["cause_ref"] = row["cause_ref"].split("-", 1)[-1]
            out.append(row)
        return out

    return {
        "receipts": clean(receipts),
        "lines": clean(lines, receipt_id=receipt_ids),
        "postings": clean(postings, receipt_id=receipt_ids, reverses_id=posting_ids),
        "entries": clean(entries, posting_id=posting_ids, lot_id=entry_ids, account_id=account_ids),
        "lots": clean(lots, receipt_id=receipt_ids, account_id=account_ids),
        "rewards": clean(rewards, line_id=line_ids, lot_id=entry_ids, refund_id=refund_ids),
        "accounts": clean(accounts),
        "tiers": clean(tiers),
        "tier_changes": clean(tier_changes, receipt_id=receipt_ids),
        "exchanges": clean(
            exchanges,
            receipt_id=receipt_ids,
            posting_id=posting_ids,
            returned_by_id=refund_ids,
            promotion_id={},
        ),
    }


def test_the_sql_path_writes_what_the_orm_path_writes(world, settings, assert_ledger_consistent):
    # given two customers of the same coalition
    other = CustomerFactory()
    other_card = ActiveCardFactory(customer=other, programme=world.programme)
    # when one lives the story through the SQL path and the other through the ORM path
    settings.POS_SQL_PATH = True
    assert fastpath.enabled()
    fast = _story(world, world.card.number, "S")
    settings.POS_SQL_PATH = False
    assert not fastpath.enabled()
    slow = _story(world, other_card.number, "R")
    # then every answer and every row is the same
    assert fast == slow
    assert fast[1]["customer"]["tier"] == "Base"
    assert fast[4]["customer"]["tier"] == "Gold"
    assert fast[5]["exchanges"][0]["status"] == "applied"
    assert fast[-1]["exchanges_returned"][0]["code"] == "STAR-DEAL"
    assert TierChange.objects.filter(customer=world.customer, to_tier__code="gold").count() == 1
    kinds = (Posting.Kind.ACTIVATE, Posting.Kind.EXPIRE, Posting.Kind.SPEND, Posting.Kind.EXCHANGE)
    for kind in kinds:
        made = [
            Posting.objects.filter(kind=kind, entries__account__customer=who).distinct().count()
            for who in (world.customer, other)
        ]
        assert made[0] == made[1] > 0, (kind, made)  # the story met each of them
    fast_rows, slow_rows = _dump(world.customer), _dump(other)
    for table, rows in fast_rows.items():
        for n, (a, b) in enumerate(zip(rows, slow_rows[table], strict=True)):
            differ = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
            assert not differ, f"{table}[{n}]: {differ}"
    assert_ledger_consistent()


def test_the_sql_path_activates_an_issued_card_and_serves_anonymous_receipts(
    world, settings, assert_ledger_consistent
):
    settings.POS_SQL_PATH = True
    issued = CardFactory(customer=world.customer, programme=world.programme, status="issued")
    confirm_answer(world.terminal, _request(issued.number, "I-1"))
    issued.refresh_from_db()
    assert issued.status == Card.Status.ACTIVE
    assert issued.activated_at is not None
    anonymous = PurchaseRequest(
        receipt_id="A-1", lines=(PurchaseLine(1, "SKU-1", D("1"), D("10.00")),)
    )
    answer = confirm_answer(world.terminal, anonymous)
    assert answer["customer"] is None
    assert answer["points_earned"] == "0.00"
    assert confirm_answer(world.terminal, anonymous) == answer
    assert Receipt.objects.filter(receipt_id="A-1").count() == 1
    assert_ledger_consistent()


def test_calculate_is_one_round_trip_and_confirm_four(
    world, settings, django_capture_on_commit_callbacks
):
    settings.POS_SQL_PATH = True
    # opens the accounts; its commit lets the process keep the partner's and programme's
    with django_capture_on_commit_callbacks(execute=True):
        confirm_answer(world.terminal, _request(world.card.number, "W-0"))
    with CaptureQueriesContext(connection) as calc:
        calculate_answer(world.terminal, _request(world.card.number, "W-1"))
    with CaptureQueriesContext(connection) as confirm:
        confirm_answer(world.terminal, _request(world.card.number, "W-1", spend_points="max"))
    assert len(calc.captured_queries) == 1, [q["sql"][:80] for q in calc.captured_queries]
    # before the lock; under the locks; ids; every row (the test's transaction makes the
    # service's BEGIN and COMMIT a savepoint and its release); W-1 takes the customer to Gold,
    # and a move to another tier (rare: once per tier) is recorded in one more statement
    sent = [q["sql"] for q in confirm.captured_queries if "SAVEPOINT" not in q["sql"]]
    moves = [sql for sql in sent if sql.startswith('INSERT INTO "loyalty_tierchange"')]
    assert len(moves) == 1
    assert len(sent) - len(moves) == 4, [sql[:80] for sql in sent]
