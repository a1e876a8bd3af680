"""The ledger service and the guards that keep the ledger append-only and balanced."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from loyalty.errors import InsufficientPoints, InvalidPostingAmount, PostingUnbalanced
from loyalty.models import Account, ImmutableRowError, LedgerEntry, Lot, Posting
from loyalty.reconciliation import ledger_violations
from loyalty.services.ledger import (
    Actor,
    Leg,
    customer_account,
    ledger_rollup,
    partner_account,
    posting_create,
    programme_account,
)
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CurrencyFactory, PartnerFactory, ReceiptFactory

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")


@pytest.fixture
def setup():
    currency = CurrencyFactory()
    customer = CustomerFactory()
    partner = PartnerFactory()
    return {
        "currency": currency,
        "customer": customer,
        "partner": partner,
        "account": customer_account(customer, currency),
        "issuer": partner_account(partner, currency),
    }


def earn(setup, amount, **leg):
    return posting_create(
        kind=Posting.Kind.EARN,
        cause=Posting.Cause.ADJUSTMENT,
        actor=SYSTEM,
        partner=setup["partner"],
        legs=[
            Leg(account=setup["account"], amount=Decimal(amount), **leg),
            Leg(account=setup["issuer"], amount=-Decimal(amount)),
        ],
    )


def snapshot():
    return (
        Posting.objects.count(),
        LedgerEntry.objects.count(),
        sorted(Account.objects.values_list("pk", "balance", "pending", "version")),
    )


def test_earn_posts_both_legs_and_moves_the_cached_balances(setup, assert_ledger_consistent):
    # when
    posting = earn(setup, "100.00", expires_at=timezone.now() + timedelta(days=365))
    # then
    account = Account.objects.get(pk=setup["account"].pk)
    issuer = Account.objects.get(pk=setup["issuer"].pk)
    assert (account.balance, account.version) == (Decimal("100.00"), 1)
    # the partner's account is not locked by postings: its balance is a rollup
    assert issuer.balance == Decimal("0")
    assert ledger_rollup() >= 1
    issuer.refresh_from_db()
    assert issuer.balance == Decimal("-100.00")
    legs = list(posting.entries.order_by("amount"))
    assert (legs[0].balance_after, legs[0].account_version) == (None, None)
    assert [leg.amount for leg in legs] == [Decimal("-100.00"), Decimal("100.00")]
    assert legs[1].balance_after == Decimal("100.00")
    assert legs[1].currency_id == setup["currency"].pk
    assert_ledger_consistent()


def test_pending_points_go_to_the_pending_bucket(setup, assert_ledger_consistent):
    earn(
        setup,
        "40.00",
        bucket=LedgerEntry.Bucket.PENDING,
        active_at=timezone.now() + timedelta(days=14),
    )
    account = Account.objects.get(pk=setup["account"].pk)
    assert (account.balance, account.pending) == (Decimal("0"), Decimal("40.00"))
    assert_ledger_consistent()


def test_spend_takes_from_named_lots(setup, assert_ledger_consistent):
    # given two lots
    first = earn(setup, "30.00").entries.get(account=setup["account"])
    second = earn(setup, "50.00").entries.get(account=setup["account"])
    # when 40 are spent, first lot first
    posting_create(
        kind=Posting.Kind.SPEND,
        cause=Posting.Cause.ADJUSTMENT,
        actor=SYSTEM,
        legs=[
            Leg(account=setup["account"], amount=Decimal("-30.00"), lot=first),
            Leg(account=setup["account"], amount=Decimal("-10.00"), lot=second),
            Leg(account=setup["issuer"], amount=Decimal("40.00")),
        ],
    )
    # then
    assert Account.objects.get(pk=setup["account"].pk).balance == Decimal("40.00")
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("legs", "error"),
    [
        ([("account", "10.00"), ("issuer", "-9.99")], PostingUnbalanced),
        ([("account", "10.00")], PostingUnbalanced),
        ([("account", "0"), ("issuer", "0")], InvalidPostingAmount),
        ([("account", "0.001"), ("issuer", "-0.001")], InvalidPostingAmount),
        ([("account", "-10.00"), ("issuer", "10.00")], InsufficientPoints),
    ],
)
def test_bad_postings_are_refused_and_change_nothing(setup, legs, error):
    # given a balance of 5
    earn(setup, "5.00")
    before = snapshot()
    # when
    with pytest.raises(error):
        posting_create(
            kind=Posting.Kind.ADJUST,
            cause=Posting.Cause.ADJUSTMENT,
            actor=SYSTEM,
            legs=[Leg(account=setup[who], amount=Decimal(amount)) for who, amount in legs],
        )
    # then
    assert snapshot() == before


def test_a_debt_limit_lets_a_balance_go_negative_that_far(setup, assert_ledger_consistent):
    Account.objects.filter(pk=setup["account"].pk).update(debt_limit=Decimal("20"))
    debt_account = programme_account(setup["currency"], Account.Purpose.SHORTFALL)
    posting_create(
        kind=Posting.Kind.REFUND,
        cause=Posting.Cause.ADJUSTMENT,
        actor=SYSTEM,
        legs=[
            Leg(account=Account.objects.get(pk=setup["account"].pk), amount=Decimal("-20.00")),
            Leg(account=debt_account, amount=Decimal("20.00")),
        ],
    )
    assert Account.objects.get(pk=setup["account"].pk).balance == Decimal("-20.00")


def test_postings_must_name_their_actor(setup):
    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.create(
            kind=Posting.Kind.EARN,
            cause=Posting.Cause.RECEIPT,
            actor_type="system",
            receipt=ReceiptFactory(),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.create(
            kind=Posting.Kind.EARN, cause=Posting.Cause.ADJUSTMENT, actor_type="terminal"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.create(
            kind=Posting.Kind.EARN, cause=Posting.Cause.RECEIPT, actor_type="system", actor_name="x"
        )


def test_ledger_rows_cannot_be_changed_or_deleted_through_the_orm(setup):
    posting = earn(setup, "10.00")
    entry = posting.entries.first()
    entry.amount = Decimal("1000")
    with pytest.raises(ImmutableRowError):
        entry.save()
    with pytest.raises(ImmutableRowError):
        entry.delete()
    with pytest.raises(ImmutableRowError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal("1"))
    with pytest.raises(ImmutableRowError):
        LedgerEntry.objects.all().delete()
    with pytest.raises(ImmutableRowError):
        Posting.objects.filter(pk=posting.pk).update(description="edited")
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("10.00")


def test_the_database_refuses_raw_updates_of_ledger_rows(setup):
    posting = earn(setup, "10.00")
    entry = posting.entries.first()
    for sql in (
        f"UPDATE loyalty_ledgerentry SET amount = 1 WHERE id = {entry.pk}",
        f"UPDATE loyalty_posting SET description = 'x' WHERE id = {posting.pk}",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("10.00")


@pytest.mark.postgres
def test_postgres_refuses_raw_deletes_and_unbalanced_inserts(setup):
    posting = earn(setup, "10.00")
    entry = posting.entries.first()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM loyalty_ledgerentry WHERE id = {entry.pk}")
    # an entry added to a balanced posting outside the service unbalances it: refused
    with (
        pytest.raises(DatabaseError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO loyalty_ledgerentry (posting_id, account_id, currency_id, bucket, amount, "
            "balance_after, account_version, recorded_at) VALUES (%s, %s, %s, 'active', 1, 11, 99, now())",
            [posting.pk, setup["account"].pk, setup["currency"].pk],
        )
    other = CurrencyFactory(code="chips", is_default=False)
    with (
        pytest.raises(DatabaseError, match="not in the currency"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO loyalty_ledgerentry (posting_id, account_id, currency_id, bucket, amount, "
            "balance_after, account_version, recorded_at) VALUES (%s, %s, %s, 'active', 1, 11, 99, now()), "
            "(%s, %s, %s, 'active', -1, -11, 99, now())",
            [posting.pk, setup["account"].pk, other.pk, posting.pk, setup["issuer"].pk, other.pk],
        )


def test_reconciliation_reports_a_tampered_balance(setup):
    earn(setup, "10.00")
    assert ledger_violations() == []
    Account.objects.filter(pk=setup["account"].pk).update(balance=Decimal("11.00"))
    problems = ledger_violations()
    assert any("balance 11.0" in problem for problem in problems)
    assert ledger_violations([setup["issuer"].pk]) == []


def test_a_lot_cannot_give_more_than_it_holds_and_nothing_is_written(setup):
    lot = earn(setup, "10.00").entries.get(account=setup["account"])
    earn(setup, "10.00")
    entries = LedgerEntry.objects.count()
    with pytest.raises(InsufficientPoints):
        posting_create(
            kind=Posting.Kind.SPEND,
            cause=Posting.Cause.ADJUSTMENT,
            actor=SYSTEM,
            legs=[
                Leg(account=setup["account"], amount=Decimal("-15.00"), lot=lot),
                Leg(account=setup["issuer"], amount=Decimal("15.00")),
            ],
        )
    assert LedgerEntry.objects.count() == entries
    assert Lot.objects.get(pk=lot.pk).remaining == Decimal("10.00")


def test_reconciliation_reports_a_lot_cache_out_of_step(setup):
    lot = earn(setup, "10.00").entries.get(account=setup["account"])
    Lot.objects.filter(pk=lot.pk).update(remaining=Decimal("4.00"))
    problems = ledger_violations()
    assert any(f"lot {lot.pk}" in problem for problem in problems), problems


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_never_overdraw_an_account():
    # given 100 points and 10 threads that each try to spend 30 at the same moment
    currency = CurrencyFactory()
    customer = CustomerFactory()
    partner = PartnerFactory()
    account = customer_account(customer, currency)
    issuer = partner_account(partner, currency)
    lot = posting_create(
        kind=Posting.Kind.EARN,
        cause=Posting.Cause.ADJUSTMENT,
        actor=SYSTEM,
        legs=[
            Leg(account=account, amount=Decimal("100")),
            Leg(account=issuer, amount=Decimal("-100")),
        ],
    ).entries.get(account=account)
    barrier = threading.Barrier(10)
    results = []

    def spend():
        try:
            barrier.wait()
            with transaction.atomic():
                fresh = Account.objects.get(pk=account.pk)  # read without a lock on purpose
                posting_create(
                    kind=Posting.Kind.SPEND,
                    cause=Posting.Cause.ADJUSTMENT,
                    actor=SYSTEM,
                    legs=[
                        Leg(account=fresh, amount=Decimal("-30"), lot=lot),
                        Leg(account=issuer, amount=Decimal("30")),
                    ],
                )
            results.append("ok")
        except InsufficientPoints:
            results.append("refused")
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=spend) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly three spends fit into 100, and the balance is exactly what is left
    assert sorted(results) == ["ok"] * 3 + ["refused"] * 7
    assert Account.objects.get(pk=account.pk).balance == Decimal("10")
    assert ledger_violations() == []
