"""Card operations (activate, block, mark lost, unblock, replace) and the customer merge.

Every refusal changes nothing; every scenario ends with the ledger invariants.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from crm.models import Customer
from loyalty.errors import (
    BlockReasonRequired,
    CardAlreadyBound,
    CardBlocked,
    CardNotFound,
    CardReplaceSame,
    CardStatusInvalid,
    CardWithoutCustomer,
    CustomerAlreadyMerged,
    MergeHoldsActive,
    MergeIntoSelf,
)
from loyalty.models import (
    Account,
    Card,
    CardOperation,
    CounterValue,
    Lot,
    Posting,
    TierMembership,
)
from loyalty.services.card_operations import (
    card_activate,
    card_block,
    card_mark_lost,
    card_replace,
    card_unblock,
    customers_merge,
    merged_leftovers_sweep,
)
from loyalty.services.ledger import (
    Actor,
    Leg,
    customer_account,
    posting_create,
    programme_account,
)
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, CardFactory, CounterFactory, TierFactory
from tests.factories.processing import coalition
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


def purchase(card, receipt_id="R1", price="1000.00", **kw):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card.number,
        lines=(PurchaseLine(line_no=1, sku="A", quantity=D("1"), price=D(price)),),
        **kw,
    )


def snapshot(card: Card) -> tuple:
    card = Card.objects.get(pk=card.pk)
    return (
        card.status,
        card.customer_id,
        card.blocked_at,
        card.block_reason,
        card.replaced_by_id,
        card.activated_at,
    )


@pytest.fixture
def world():
    return coalition(percent="10", lifetime_days=30)


@pytest.fixture
def operator():
    return get_user_model().objects.create_user("operator", password="x", is_staff=True)


# --- activate, block, mark lost, unblock -----------------------------------------------------


def test_activate_an_issued_or_new_card(world, operator):
    # given
    issued = CardFactory(
        programme=world.programme, status=Card.Status.ISSUED, customer=CustomerFactory()
    )
    new = CardFactory(programme=world.programme)
    # when
    card_activate(card=issued, user=operator)
    card_activate(card=new, user=operator)
    # then
    for card in (issued, new):
        card.refresh_from_db()
        assert card.status == Card.Status.ACTIVE
        assert card.activated_at is not None


def test_activate_refuses_an_active_or_blocked_card(world, operator):
    card_block(card=world.card, reason="fraud", user=operator)
    before = snapshot(world.card)
    with pytest.raises(CardStatusInvalid):
        card_activate(card=world.card, user=operator)
    assert snapshot(world.card) == before
    other = ActiveCardFactory(programme=world.programme)
    with pytest.raises(CardStatusInvalid):
        card_activate(card=other, user=operator)


def test_a_blocked_card_is_refused_at_the_register_and_unblocked_works_again(
    world, operator, assert_ledger_consistent
):
    # given
    confirm_answer(world.terminal, purchase(world.card, "R1"))
    # when
    card_block(card=world.card, reason="customer called: card stolen", user=operator)
    # then
    world.card.refresh_from_db()
    assert world.card.status == Card.Status.BLOCKED
    assert world.card.blocked_at is not None
    assert world.card.block_reason == "customer called: card stolen"
    with pytest.raises(CardBlocked):
        calculate_answer(world.terminal, purchase(world.card, "R2"))
    with pytest.raises(CardBlocked):
        confirm_answer(world.terminal, purchase(world.card, "R2"))
    # when
    card_unblock(card=world.card, user=operator)
    # then
    world.card.refresh_from_db()
    assert (world.card.status, world.card.blocked_at, world.card.block_reason) == (
        Card.Status.ACTIVE,
        None,
        "",
    )
    confirm_answer(world.terminal, purchase(world.card, "R2"))
    assert_ledger_consistent()


def test_block_refusals_change_nothing(world, operator):
    before = snapshot(world.card)
    with pytest.raises(BlockReasonRequired):
        card_block(card=world.card, reason="  ", user=operator)
    assert snapshot(world.card) == before
    card_mark_lost(card=world.card, user=operator)
    before = snapshot(world.card)
    with pytest.raises(CardStatusInvalid):
        card_block(card=world.card, reason="again", user=operator)
    with pytest.raises(CardStatusInvalid):
        card_mark_lost(card=world.card, user=operator)
    assert snapshot(world.card) == before


def test_a_lost_card_has_a_block_date_and_is_refused(world, operator):
    card_mark_lost(card=world.card, user=operator)
    world.card.refresh_from_db()
    assert world.card.status == Card.Status.LOST
    assert world.card.blocked_at is not None
    with pytest.raises(CardBlocked):
        confirm_answer(world.terminal, purchase(world.card))


def test_unblock_refuses_a_card_that_is_not_blocked(world, operator):
    before = snapshot(world.card)
    with pytest.raises(CardStatusInvalid):
        card_unblock(card=world.card, user=operator)
    assert snapshot(world.card) == before


# --- replace ---------------------------------------------------------------------------------


def test_replace_moves_the_customer_and_balance_to_the_new_card(
    world, operator, assert_ledger_consistent
):
    # given
    confirm_answer(world.terminal, purchase(world.card, "R1"))
    account = Account.objects.get(customer=world.customer, currency=world.currency)
    assert account.balance == D("100.00")
    card_mark_lost(card=world.card, user=operator)
    fresh = CardFactory(programme=world.programme)
    # when
    new = card_replace(old_card=world.card, new_card_number=fresh.number, user=operator)
    # then
    world.card.refresh_from_db()
    assert world.card.status == Card.Status.REPLACED
    assert world.card.replaced_by == new
    assert (new.customer, new.status) == (world.customer, Card.Status.ACTIVE)
    with pytest.raises(CardBlocked):
        calculate_answer(world.terminal, purchase(world.card, "R2"))
    with pytest.raises(CardBlocked):
        confirm_answer(world.terminal, purchase(world.card, "R2"))
    result = confirm_answer(world.terminal, purchase(new, "R2", spend_points="50"))
    assert result["points_spent"] == "50.00"
    assert_ledger_consistent()


def test_replace_refusals_change_nothing(world, operator):
    # given
    stranger = ActiveCardFactory(programme=world.programme)
    blocked = CardFactory(
        programme=world.programme, status=Card.Status.BLOCKED, blocked_at=timezone.now()
    )
    unbound = CardFactory(programme=world.programme)
    before = (snapshot(world.card), snapshot(stranger), snapshot(blocked), snapshot(unbound))
    # when / then
    with pytest.raises(CardAlreadyBound):
        card_replace(old_card=world.card, new_card_number=stranger.number, user=operator)
    with pytest.raises(CardBlocked):
        card_replace(old_card=world.card, new_card_number=blocked.number, user=operator)
    with pytest.raises(CardNotFound):
        card_replace(old_card=world.card, new_card_number="0000000000000", user=operator)
    with pytest.raises(CardReplaceSame):
        card_replace(old_card=world.card, new_card_number=world.card.number, user=operator)
    with pytest.raises(CardWithoutCustomer):
        card_replace(old_card=unbound, new_card_number=blocked.number, user=operator)
    assert before == (
        snapshot(world.card),
        snapshot(stranger),
        snapshot(blocked),
        snapshot(unbound),
    )


def test_a_replaced_card_cannot_be_replaced_again_or_unblocked(world, operator):
    first = CardFactory(programme=world.programme)
    second = CardFactory(programme=world.programme)
    card_replace(old_card=world.card, new_card_number=first.number, user=operator)
    before = snapshot(world.card)
    with pytest.raises(CardStatusInvalid):
        card_replace(old_card=world.card, new_card_number=second.number, user=operator)
    with pytest.raises(CardStatusInvalid):
        card_unblock(card=world.card, user=operator)
    assert snapshot(world.card) == before


# --- merge -----------------------------------------------------------------------------------


def _customer_totals(*customers) -> tuple[Decimal, Decimal]:
    totals = Account.objects.filter(customer__in=customers).aggregate(
        balance=Sum("balance"), pending=Sum("pending")
    )
    return totals["balance"], totals["pending"]


def test_merge_moves_cards_lots_tiers_counters_and_referrals(operator, assert_ledger_consistent):
    # given: two customers of one programme, each with points; gone also has pending points
    world = coalition(percent="10", lifetime_days=30)
    keep = world.customer
    gone = CustomerFactory()
    gone_card = ActiveCardFactory(programme=world.programme, customer=gone)
    confirm_answer(world.terminal, purchase(world.card, "K1", price="500.00"))
    confirm_answer(world.terminal, purchase(gone_card, "G1", price="1000.00"))
    confirm_answer(world.terminal, purchase(gone_card, "G2", price="300.00", spend_points="40"))
    world.reward.activation_delay_days = 14
    world.reward.save()
    snapshot_invalidate()
    confirm_answer(world.terminal, purchase(gone_card, "G3", price="200.00"))
    gone_lots = {
        (lot.remaining, lot.state, lot.active_at, lot.expires_at)
        for lot in Lot.objects.filter(account__customer=gone).exclude(remaining=0)
    }
    assert any(state == Lot.State.PENDING for _r, state, _a, _e in gone_lots)
    totals = _customer_totals(keep, gone)
    low, high = TierFactory(programme=world.programme), TierFactory(programme=world.programme)
    TierMembership.objects.create(
        customer=keep, programme=world.programme, tier=low, qualifying_amount=D("500.00")
    )
    TierMembership.objects.create(
        customer=gone, programme=world.programme, tier=high, qualifying_amount=D("1500.00")
    )
    counter = CounterFactory(programme=world.programme)
    CounterValue.objects.create(counter=counter, customer=keep, value=D("2"))
    CounterValue.objects.create(counter=counter, customer=gone, value=D("3"))
    friend = CustomerFactory(referrer=gone)
    gone_phone = gone.phone

    # when
    customers_merge(keep=keep, gone=gone, user=operator)

    # then: the sums are unchanged and everything sits on keep
    assert _customer_totals(keep, gone) == totals
    assert _customer_totals(gone) == (D("0.00"), D("0.00"))
    kept_lots = {
        (lot.remaining, lot.state, lot.active_at, lot.expires_at)
        for lot in Lot.objects.filter(account__customer=keep).exclude(remaining=0)
    }
    assert gone_lots <= kept_lots
    assert Posting.objects.filter(cause=Posting.Cause.MERGE, user=operator).count() == 1
    gone_card.refresh_from_db()
    assert gone_card.customer == keep
    membership = TierMembership.objects.get(customer=keep)
    assert (membership.tier, membership.qualifying_amount) == (high, D("2000.00"))
    assert not TierMembership.objects.filter(customer=gone).exists()
    assert CounterValue.objects.get(customer=keep, counter=counter).value == D("5")
    friend.refresh_from_db()
    assert friend.referrer == keep
    gone.refresh_from_db()
    assert (gone.merged_into, gone.phone, gone.referral_code) == (keep, None, None)
    assert Customer.objects.filter(phone=gone_phone).count() == 0
    # the moved card spends keep's points at the register
    result = confirm_answer(world.terminal, purchase(gone_card, "G4", spend_points="100"))
    assert result["points_spent"] == "100.00"
    assert_ledger_consistent()


def test_merge_refusals_change_nothing(world, operator, assert_ledger_consistent):
    # given
    confirm_answer(world.terminal, purchase(world.card, "R1"))
    gone = CustomerFactory()
    gone_card = ActiveCardFactory(programme=world.programme, customer=gone)
    confirm_answer(world.terminal, purchase(gone_card, "G1"))
    totals = _customer_totals(world.customer), _customer_totals(gone)
    # when / then: into itself
    with pytest.raises(MergeIntoSelf):
        customers_merge(keep=world.customer, gone=world.customer, user=operator)
    # a purchase of gone holds points at a register
    calculate_answer(
        world.terminal, purchase(gone_card, "G2", price="100.00", spend_points="10"), hold=True
    )
    with pytest.raises(MergeHoldsActive):
        customers_merge(keep=world.customer, gone=gone, user=operator)
    assert (_customer_totals(world.customer), _customer_totals(gone)) == totals
    gone.refresh_from_db()
    assert gone.merged_into is None
    assert Card.objects.get(pk=gone_card.pk).customer == gone
    assert_ledger_consistent()


def test_a_merged_customer_cannot_be_merged_again(world, operator, assert_ledger_consistent):
    gone = CustomerFactory()
    third = CustomerFactory()
    customers_merge(keep=world.customer, gone=gone, user=operator)
    with pytest.raises(CustomerAlreadyMerged):
        customers_merge(keep=third, gone=gone, user=operator)
    with pytest.raises(CustomerAlreadyMerged):
        customers_merge(keep=gone, gone=third, user=operator)
    third.refresh_from_db()
    assert third.merged_into is None
    assert_ledger_consistent()


def test_merge_keeps_the_expiry_of_lots(world, operator, assert_ledger_consistent):
    gone = CustomerFactory()
    gone_card = ActiveCardFactory(programme=world.programme, customer=gone)
    confirm_answer(world.terminal, purchase(gone_card, "G1"))
    lot = Lot.objects.get(account__customer=gone)
    customers_merge(keep=world.customer, gone=gone)
    moved = Lot.objects.get(account__customer=world.customer)
    assert (moved.remaining, moved.expires_at) == (lot.amount, lot.expires_at)
    assert moved.expires_at - timezone.now() < timedelta(days=31)
    assert Posting.objects.get(cause=Posting.Cause.MERGE).actor_name == "card operations"
    assert_ledger_consistent()


# --- admin -----------------------------------------------------------------------------------


def _action(client, model, action, pks, **data):
    return client.post(
        f"/admin/{model}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks], **data},
        follow=True,
    )


def test_admin_blocks_with_a_reason_and_replaces_through_a_form(world, admin_client):
    # a block asks for the reason first
    page = _action(admin_client, "loyalty/card", "block", [world.card.pk])
    assert page.status_code == 200
    assert Card.objects.get(pk=world.card.pk).status == Card.Status.ACTIVE
    _action(admin_client, "loyalty/card", "block", [world.card.pk], reason="stolen")
    assert Card.objects.get(pk=world.card.pk).block_reason == "stolen"
    _action(admin_client, "loyalty/card", "unblock", [world.card.pk])
    assert Card.objects.get(pk=world.card.pk).status == Card.Status.ACTIVE
    # a refused replacement shows the reason on the form and changes nothing
    stranger = ActiveCardFactory(programme=world.programme)
    page = _action(
        admin_client, "loyalty/card", "replace", [world.card.pk], new_number=stranger.number
    )
    assert "already belongs to a customer" in page.content.decode()
    assert Card.objects.get(pk=world.card.pk).status == Card.Status.ACTIVE
    fresh = CardFactory(programme=world.programme)
    _action(admin_client, "loyalty/card", "replace", [world.card.pk], new_number=fresh.number)
    assert Card.objects.get(pk=world.card.pk).replaced_by_id == fresh.pk
    page = _action(admin_client, "loyalty/card", "mark_lost", [world.card.pk])
    assert Card.objects.get(pk=world.card.pk).status == Card.Status.REPLACED
    assert world.card.number in page.content.decode()


def test_admin_merges_two_customers(world, admin_client, assert_ledger_consistent):
    gone = CustomerFactory()
    gone_card = ActiveCardFactory(programme=world.programme, customer=gone)
    confirm_answer(world.terminal, purchase(gone_card, "G1"))
    pks = [world.customer.pk, gone.pk]
    page = _action(admin_client, "crm/customer", "merge", pks)
    assert page.status_code == 200
    assert Customer.objects.get(pk=gone.pk).merged_into is None
    _action(admin_client, "crm/customer", "merge", pks, keep=str(world.customer.pk))
    assert Customer.objects.get(pk=gone.pk).merged_into_id == world.customer.pk
    assert Account.objects.get(customer=world.customer).balance == D("100.00")
    assert_ledger_consistent()


# --- points reaching a merged customer late --------------------------------------------------


def test_the_sweep_moves_points_that_reach_a_merged_customer_late(world, assert_ledger_consistent):
    # given: a merge, then a posting on the merged customer's account (a purchase that had
    # read the card before the merge committed)
    gone = CustomerFactory()
    customers_merge(keep=world.customer, gone=gone)
    late = customer_account(gone, world.currency)
    posting_create(
        kind=Posting.Kind.EARN,
        cause=Posting.Cause.ADJUSTMENT,
        actor=Actor.system("test"),
        legs=[
            Leg(late, D("7.00"), expires_at=timezone.now() + timedelta(days=9)),
            Leg(programme_account(world.currency), D("-7.00")),
        ],
    )
    # when
    assert merged_leftovers_sweep() == 1
    # then
    assert merged_leftovers_sweep() == 0
    assert Account.objects.get(pk=late.pk).balance == D("0.00")
    assert Account.objects.get(customer=world.customer).balance == D("7.00")
    assert_ledger_consistent()


def test_the_sweep_is_scheduled_and_runs_through_celery():
    from django_celery_beat.models import PeriodicTask

    from loyalty.tasks import merged_leftovers_sweep_task

    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert tasks["loyalty.merged_leftovers_sweep"] is True
    assert merged_leftovers_sweep_task.apply().get() == 0


def test_merge_moves_a_debt_as_a_debt(world, assert_ledger_consistent):
    # given: keep holds 100 points; gone owes 130 (a refund under the debt policy left it)
    confirm_answer(world.terminal, purchase(world.card, "K1"))
    gone = CustomerFactory()
    owing = customer_account(gone, world.currency)
    Account.objects.filter(pk=owing.pk).update(debt_limit=D("130.00"))
    owing.refresh_from_db()
    posting_create(
        kind=Posting.Kind.REFUND,
        cause=Posting.Cause.ADJUSTMENT,
        actor=Actor.system("test"),
        legs=[Leg(owing, D("-130.00")), Leg(programme_account(world.currency), D("130.00"))],
    )
    assert Lot.objects.get(account=owing).kind == Lot.Kind.DEBT
    # when
    customers_merge(keep=world.customer, gone=gone)
    # then: keep's 100 points repay the debt; 30 are still owed, within its grown limit
    kept = Account.objects.get(customer=world.customer)
    assert (kept.balance, kept.debt_limit) == (D("-30.00"), D("30.00"))
    assert Lot.objects.get(account=kept, kind=Lot.Kind.DEBT).remaining == D("-30.00")
    assert Lot.objects.get(account=kept, kind=Lot.Kind.EARN).remaining == D("0.00")
    assert Account.objects.get(pk=owing.pk).balance == D("0.00")
    assert_ledger_consistent()


def test_merge_moves_promotion_usage_and_rewarded_occasions(world):
    from promotions.models import PromotionUsage, TriggerFiring

    # given
    keep, gone = world.customer, CustomerFactory()
    promotion = world.promotion
    PromotionUsage.objects.create(promotion=promotion, key=f"c:{keep.pk}", uses=1, given=D("5"))
    PromotionUsage.objects.create(promotion=promotion, key=f"c:{gone.pk}", uses=2, given=D("7"))
    PromotionUsage.objects.create(promotion=promotion, key=f"cd:{gone.pk}:2026-11-30", uses=1)
    now = timezone.now()
    TriggerFiring.objects.create(
        promotion=promotion, customer=gone, key="birthday", occurred_at=now
    )
    TriggerFiring.objects.create(
        promotion=promotion, customer=keep, key="registration", occurred_at=now
    )
    TriggerFiring.objects.create(
        promotion=promotion, customer=gone, key="registration", occurred_at=now
    )
    # when
    customers_merge(keep=keep, gone=gone)
    # then
    usage = dict(PromotionUsage.objects.values_list("key", "uses"))
    assert usage == {f"c:{keep.pk}": 3, f"cd:{keep.pk}:2026-11-30": 1}
    assert set(TriggerFiring.objects.filter(customer=keep).values_list("key", flat=True)) == {
        "birthday",
        "registration",
    }


# --- the record of operations ----------------------------------------------------------------


def _operations(card) -> list[tuple]:
    return list(
        CardOperation.objects.filter(card=card)
        .order_by("pk")
        .values_list("kind", "actor", "reason", "details")
    )


def test_every_operation_is_recorded_with_its_operator_and_reason(world, operator):
    # given
    fresh = CardFactory(programme=world.programme)
    # when
    card_block(card=world.card, reason="stolen", user=operator)
    card_unblock(card=world.card, user=operator)
    card_mark_lost(card=world.card, reason="lost on a bus")
    card_replace(old_card=world.card, new_card_number=fresh.number, user=operator)
    # then
    assert _operations(world.card) == [
        ("block", operator.pk, "stolen", {"status_before": "active"}),
        ("unblock", operator.pk, "", {"status_before": "blocked"}),
        ("mark_lost", None, "lost on a bus", {"status_before": "active"}),
        ("replace", operator.pk, "", {"new_card": fresh.number}),
    ]
    assert _operations(fresh) == [
        ("replacement", operator.pk, "", {"old_card": world.card.number}),
    ]
    assert all(op.at is not None for op in CardOperation.objects.all())


def test_a_refused_operation_leaves_no_record(world, operator):
    with pytest.raises(BlockReasonRequired):
        card_block(card=world.card, reason=" ", user=operator)
    with pytest.raises(CardStatusInvalid):
        card_unblock(card=world.card, user=operator)
    assert not CardOperation.objects.exists()


def test_a_merge_records_the_move_of_each_card(world, operator):
    gone = CustomerFactory()
    cards = [ActiveCardFactory(programme=world.programme, customer=gone) for _ in range(2)]
    customers_merge(keep=world.customer, gone=gone, user=operator)
    for card in cards:
        assert _operations(card) == [
            (
                "merge",
                operator.pk,
                "",
                {"from_customer": gone.public_id, "to_customer": world.customer.public_id},
            )
        ]


def test_the_card_page_shows_its_operations_read_only(world, admin_client, admin_user):
    card_block(card=world.card, reason="stolen at the till", user=admin_user)
    page = admin_client.get(f"/admin/loyalty/card/{world.card.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "stolen at the till" in content
    assert "operations-TOTAL_FORMS" not in content or 'name="operations-0-reason"' not in content
