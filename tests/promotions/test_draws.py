"""Prize draws (mechanics.md item 19): "among the customers who qualified in a period, draw N
winners at random (seeded, reproducible, auditable) and reward them".

The same seed picks the same winners; the published record alone lets anyone re-run the draw
with hashlib; verify finds a tampered record; each qualification rule holds; a draw runs and
pays once however often it is started; and the unhappy paths say why."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.models import Customer, Segment, SegmentMember
from loyalty.models import Account, LedgerEntry, Lot, Posting, StaffProfile
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.draws import (
    draw_cancel,
    draw_candidates,
    draw_record,
    draw_run,
    draw_schedule,
    draw_verify,
    draws_run_due,
)
from promotions.errors import (
    DrawAlreadyDrawn,
    DrawCancelled,
    DrawNotDrawn,
    DrawNotDue,
    DrawSeedFixed,
    DrawSeedInvalid,
    DrawSeedTooLate,
)
from promotions.models import Draw, DrawWinner
from promotions.tasks import draws_run_task
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    PartnerFactory,
    StoreFactory,
    TerminalFactory,
)
from tests.factories.processing import coalition
from tests.factories.promotions import DrawFactory, promotion
from tests.processing.answers import confirm_answer
from tests.promotions.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db

D = Decimal
SEED = "5eed" * 16
OTHER_SEED = "c0ffee" * 8
_receipt_ids = itertools.count(1)


@pytest.fixture
def world():
    return coalition(percent="5")


def shopper(world, public_id: str):
    """A customer with a fixed public id (so a seed gives the same winners on every run)."""
    customer = CustomerFactory(public_id=public_id)
    return ActiveCardFactory(customer=customer, programme=world.programme)


def buy(world, card, price="100.00", *, quantity="1", days_ago=5, terminal=None, at=None) -> str:
    """A confirmed purchase of one line, sold ``days_ago`` (inside the factory's period)."""
    receipt_id = f"R{next(_receipt_ids)}"
    confirm_answer(
        terminal or world.terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=card.number,
            lines=(PurchaseLine(1, "SKU", D(quantity), D(price)),),
            sold_at=at or timezone.now() - timedelta(days=days_ago),
        ),
    )
    return receipt_id


def crowd(world, size: int) -> list:
    cards = [shopper(world, f"c_draw{n:04d}") for n in range(1, size + 1)]
    for card in cards:
        buy(world, card)
    return cards


def qualified(draw) -> dict[str, tuple[int, Decimal]]:
    return {c.public_id: (c.purchases, c.paid) for c in draw_candidates(draw)}


def winner_ids(draw) -> list[str]:
    return [winner["public_id"] for winner in draw.winner_list]


def points_draw(world, **fields) -> Draw:
    fields.setdefault("prize_points", D("500.00"))
    fields.setdefault("prize_currency", world.currency)
    fields.setdefault("prize_description", "")
    return DrawFactory(programme=world.programme, **fields)


# --- Reproducible and auditable ------------------------------------------------------------


def test_the_same_seed_picks_the_same_winners_and_another_seed_others(
    world, assert_ledger_consistent
):
    # given
    crowd(world, 12)
    draws = [DrawFactory(programme=world.programme, winners_count=3) for _ in range(3)]
    # when
    first = draw_run(draws[0], seed=SEED)
    again = draw_run(draws[1], seed=SEED)
    other = draw_run(draws[2], seed=OTHER_SEED)
    # then
    assert first.tickets_digest == again.tickets_digest == other.tickets_digest
    assert len(first.ticket_list) == 12
    assert first.winner_list == again.winner_list
    assert len(set(winner_ids(first))) == 3
    assert winner_ids(other) != winner_ids(first)
    assert_ledger_consistent()


def test_a_random_seed_is_drawn_when_none_was_fixed(world):
    crowd(world, 3)
    draw = draw_run(DrawFactory(programme=world.programme))
    assert re.fullmatch(r"[0-9a-f]{64}", draw.seed)
    assert draw.algorithm == "sha256-rank/1"
    assert draw_verify(draw).ok


def test_anyone_can_re_run_the_draw_from_its_published_record_alone(world):
    # given: a draw with a seed fixed and committed before the period ended
    cards = crowd(world, 8)
    buy(world, cards[0])
    buy(world, cards[0])
    buy(world, cards[1])
    draw = DrawFactory(
        programme=world.programme,
        winners_count=4,
        tickets_per=Draw.TicketsPer.PURCHASE,
        seed=SEED,
    )
    draw_schedule(draw, at=draw.period_to - timedelta(hours=1))
    draw = draw_run(draw)
    # when: only the JSON record is at hand
    record = json.loads(json.dumps(draw_record(draw)))

    # then: hashlib and a sort give the same digest, commitment and winners
    def sha256(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    assert sha256(record["seed"]) == record["seed_commitment"]
    assert sha256("".join(f"{p}:{n}\n" for p, n in record["tickets"])) == record["tickets_digest"]
    assert record["tickets"] == sorted(record["tickets"])
    assert len(record["tickets"]) == 11  # 8 customers, 3 more purchases
    ranked = sorted((sha256(f"{record['seed']}:{p}:{n}"), p, n) for p, n in record["tickets"])
    winners: list[tuple] = []
    for score, public_id, number in ranked:
        if len(winners) < record["winners_count"] and public_id not in {w[1] for w in winners}:
            winners.append((len(winners) + 1, public_id, number, score))
    assert winners == [
        (w["place"], w["public_id"], w["ticket_no"], w["score"]) for w in record["winners"]
    ]


def _tamper_ticket(draw):
    tickets = draw.ticket_list
    tickets[0][1] = 99
    Draw.objects.filter(pk=draw.pk).update(ticket_list=tickets)


def _tamper_winners(draw):
    winners = draw.winner_list
    winners[0], winners[1] = winners[1], winners[0]
    Draw.objects.filter(pk=draw.pk).update(winner_list=winners)


def _tamper_seed(draw):
    Draw.objects.filter(pk=draw.pk).update(seed=OTHER_SEED)


def _tamper_tickets_and_digest(draw):
    """Drop a ticket and write the matching digest: only the database can tell."""
    from promotions.draws import tickets_digest

    tickets = draw.ticket_list[1:]
    Draw.objects.filter(pk=draw.pk).update(
        ticket_list=tickets, tickets_digest=tickets_digest([tuple(t) for t in tickets])
    )


def _tamper_winner_row(draw):
    outsider = CustomerFactory()
    DrawWinner.objects.filter(draw=draw, place=1).update(customer=outsider)


@pytest.mark.parametrize(
    ("tamper", "failing"),
    [
        (_tamper_ticket, {"tickets", "database"}),
        (_tamper_winners, {"winners", "rewards"}),
        (_tamper_seed, {"commitment", "winners"}),
        (_tamper_tickets_and_digest, {"database"}),
        (_tamper_winner_row, {"rewards"}),
    ],
    ids=["ticket", "winners", "seed", "tickets-and-digest", "winner-row"],
)
def test_verify_finds_a_tampered_record(world, tamper, failing):
    # given
    crowd(world, 6)
    draw = points_draw(world, winners_count=3, seed=SEED)
    draw_schedule(draw, at=draw.period_to - timedelta(days=1))
    draw = draw_run(draw)
    assert draw_verify(draw).ok
    # when
    tamper(draw)
    check = draw_verify(draw)
    # then
    assert check.ok is False
    assert {name for name, _label, result in check.results() if result is False} >= failing


# --- Who qualifies -------------------------------------------------------------------------


def test_cancelled_wholly_refunded_and_anonymised_never_qualify_partly_refunded_count_net(world):
    # given
    kept, cancelled, refunded, partly, anonymised = (
        shopper(world, f"c_{name}") for name in ("kept", "cancelled", "refunded", "partly", "anon")
    )
    buy(world, kept)
    purchase_cancel(world.terminal, buy(world, cancelled))
    purchase_refund(world.terminal, buy(world, refunded, quantity="2"), "F1", None)
    purchase_refund(world.terminal, buy(world, partly, quantity="2"), "F2", [(1, D("1"))])
    buy(world, anonymised)
    Customer.objects.filter(pk=anonymised.customer_id).update(
        is_anonymised=True, anonymised_at=timezone.now()
    )
    draw = DrawFactory(programme=world.programme)
    # then
    assert qualified(draw) == {"c_kept": (1, D("100.00")), "c_partly": (1, D("100.00"))}


def test_only_purchases_sold_in_the_period_count(world):
    draw = DrawFactory(programme=world.programme)
    at_start, at_end, before = (shopper(world, f"c_{n}") for n in ("start", "end", "before"))
    buy(world, at_start, at=draw.period_from)
    buy(world, at_end, at=draw.period_to)  # the end is exclusive
    buy(world, before, at=draw.period_from - timedelta(seconds=1))
    buy(world, world.card, days_ago=0)  # today, after the period
    assert set(qualified(draw)) == {"c_start"}


def test_minimum_purchases_and_minimum_money_paid_hold_together(world):
    # given
    twice, once_big, net_small = (shopper(world, f"c_{n}") for n in ("twice", "big", "net"))
    buy(world, twice)
    buy(world, twice)
    buy(world, once_big, "300.00")
    purchase_refund(world.terminal, buy(world, net_small, "150.00", quantity="2"), "F", [(1, 1)])
    # then
    assert set(qualified(DrawFactory(programme=world.programme, min_purchases=2))) == {"c_twice"}
    assert set(qualified(DrawFactory(programme=world.programme, min_amount=D("250.00")))) == {
        "c_big"
    }
    assert set(qualified(DrawFactory(programme=world.programme, min_amount=D("150.00")))) == {
        "c_twice",
        "c_big",
        "c_net",
    }
    both = DrawFactory(programme=world.programme, min_purchases=2, min_amount=D("250.00"))
    assert qualified(both) == {}


def test_partner_stores_segment_and_promotion_restrict_the_purchases(world):
    # given
    second_store = StoreFactory(partner=world.partner)
    second_terminal = TerminalFactory(store=second_store)
    elsewhere = TerminalFactory(store=StoreFactory(partner=PartnerFactory()))
    here, there, other_partner, big = (
        shopper(world, f"c_{n}") for n in ("here", "there", "other", "big")
    )
    buy(world, here)
    buy(world, there, terminal=second_terminal)
    buy(world, other_partner, terminal=elsewhere)
    over_500 = promotion(
        world,
        "Over 500",
        rewards=[{"kind": "points_fixed", "value": 10}],
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "500.00"}],
    )
    buy(world, big, "600.00")
    segment = Segment.objects.create(programme=world.programme, code="vip", name="VIP")
    SegmentMember.objects.create(segment=segment, customer=there.customer)
    everyone = {"c_here", "c_there", "c_other", "c_big"}
    # then
    assert set(qualified(DrawFactory(programme=world.programme))) == everyone
    partner_draw = DrawFactory(programme=world.programme, partner=world.partner)
    assert set(qualified(partner_draw)) == everyone - {"c_other"}
    store_draw = DrawFactory(programme=world.programme)
    store_draw.stores.set([second_store])
    assert set(qualified(store_draw)) == {"c_there"}
    assert set(qualified(DrawFactory(programme=world.programme, segment=segment))) == {"c_there"}
    rewarded = DrawFactory(programme=world.programme, promotion=over_500)
    assert set(qualified(rewarded)) == {"c_big"}


def test_one_ticket_per_purchase_gives_more_chances(world):
    often, once = shopper(world, "c_often"), shopper(world, "c_once")
    for _ in range(3):
        buy(world, often)
    buy(world, once)
    per_purchase = draw_run(
        DrawFactory(programme=world.programme, tickets_per=Draw.TicketsPer.PURCHASE), seed=SEED
    )
    per_customer = draw_run(DrawFactory(programme=world.programme), seed=SEED)
    assert per_purchase.ticket_list == [
        ["c_often", 1],
        ["c_often", 2],
        ["c_often", 3],
        ["c_once", 1],
    ]
    assert per_customer.ticket_list == [["c_often", 1], ["c_once", 1]]


def test_changes_after_the_draw_do_not_change_its_check(world, assert_ledger_consistent):
    """A cancel, a refund, an anonymisation or a late upload after the draw leave the database
    check as it was: the draw counts only the rows recorded by its moment."""
    # given
    cards = [shopper(world, f"c_after{n}") for n in range(4)]
    receipts = [buy(world, card, quantity="2") for card in cards]
    draw = draw_run(points_draw(world, winners_count=2), seed=SEED)
    # when
    purchase_cancel(world.terminal, receipts[0])
    purchase_refund(world.terminal, receipts[1], "AFTER", [(1, D("1"))])
    Customer.objects.filter(pk=cards[2].customer_id).update(
        is_anonymised=True, anonymised_at=timezone.now()
    )
    buy(world, shopper(world, "c_late"))  # an offline upload sold in the period
    # then
    assert draw_verify(draw).ok
    assert_ledger_consistent()


# --- Rewarded once -------------------------------------------------------------------------


def test_a_draw_run_twice_rewards_its_winners_once(world, assert_ledger_consistent):
    # given
    crowd(world, 5)
    draw = points_draw(world, partner=world.partner, winners_count=2, prize_lifetime_days=30)
    draw_schedule(draw)
    # when
    draws_run_task.apply()
    draws_run_task.apply()
    again = draw_run(draw)
    # then
    draw.refresh_from_db()
    assert draw.status == Draw.Status.DRAWN
    assert again.drawn_at == draw.drawn_at
    postings = Posting.objects.filter(cause_ref=f"draw:{draw.pk}")
    assert postings.count() == 2
    assert set(postings.values_list("kind", "cause", "actor_type", "actor_name")) == {
        ("reward", "campaign", "system", "promotions.draw_run")
    }
    winners = list(draw.winners.select_related("posting", "customer"))
    assert [w.place for w in winners] == [1, 2]
    for winner in winners:
        lot = Lot.objects.get(entry__posting=winner.posting)
        assert lot.amount == D("500.00")
        assert lot.account.customer_id == winner.customer_id
        assert timedelta(days=29) < lot.expires_at - timezone.now() <= timedelta(days=30)
    paid = LedgerEntry.objects.filter(posting__in=postings, account__partner=world.partner)
    assert sorted(paid.values_list("amount", flat=True)) == [D("-500.00"), D("-500.00")]
    assert draw_verify(draw).ok
    assert_ledger_consistent()


def test_a_coalition_draw_is_paid_from_the_programmes_marketing_account(
    world, assert_ledger_consistent
):
    crowd(world, 2)
    draw = draw_run(points_draw(world, prize_points=D("50.00")))
    entry = LedgerEntry.objects.get(posting__cause_ref=f"draw:{draw.pk}", amount__lt=0)
    assert entry.account.kind == Account.Kind.PROGRAMME
    assert entry.account.purpose == Account.Purpose.MARKETING
    assert_ledger_consistent()


def test_a_physical_prize_draws_winners_without_postings(world, assert_ledger_consistent):
    crowd(world, 3)
    draw = draw_run(DrawFactory(programme=world.programme, winners_count=2))
    assert draw.winners.count() == 2
    assert not Posting.objects.filter(cause_ref=f"draw:{draw.pk}").exists()
    assert draw_verify(draw).ok
    assert_ledger_consistent()


def test_the_draws_job_is_scheduled_and_runs_only_due_scheduled_draws(world):
    assert PeriodicTask.objects.filter(task="promotions.draws_run", enabled=True).exists()
    crowd(world, 2)
    due = DrawFactory(programme=world.programme)
    draw_schedule(due)
    draft = DrawFactory(programme=world.programme)
    not_yet = DrawFactory(programme=world.programme, period_to=timezone.now() + timedelta(days=1))
    draw_schedule(not_yet)
    assert draws_run_due() == {"drawn": 1, "failed": 0}
    assert draws_run_due() == {"drawn": 0, "failed": 0}
    statuses = dict(Draw.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "drawn", draft.pk: "draft", not_yet.pk: "scheduled"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_draw_and_pay_once(world, assert_ledger_consistent):
    """The admin's button and two beat workers at the same moment: the row lock on the draw
    lets one of them draw; the others find it drawn."""
    # given
    crowd(world, 4)
    draw = points_draw(world, winners_count=2)
    draw_schedule(draw)
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            if i % 2:
                draws_run_due()
            else:
                draw_run(draw)
        except Exception as exc:  # noqa: BLE001 - every outcome is checked below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then
    assert errors == []
    assert DrawWinner.objects.filter(draw=draw).count() == 2
    assert Posting.objects.filter(cause_ref=f"draw:{draw.pk}").count() == 2
    assert draw_verify(draw).ok
    assert_ledger_consistent()


# --- Unhappy paths -------------------------------------------------------------------------


def test_a_draw_cannot_run_before_its_period_has_ended(world):
    crowd(world, 2)
    draw = DrawFactory(programme=world.programme, period_to=timezone.now() + timedelta(hours=1))
    with pytest.raises(DrawNotDue):
        draw_run(draw)
    draw.refresh_from_db()
    assert (draw.status, draw.seed, draw.winner_list) == (Draw.Status.DRAFT, "", [])
    with pytest.raises(DrawNotDrawn):
        draw_verify(draw)


def test_more_winners_than_candidates_makes_every_candidate_a_winner(
    world, assert_ledger_consistent
):
    crowd(world, 2)
    draw = draw_run(points_draw(world, winners_count=5))
    assert sorted(winner_ids(draw)) == ["c_draw0001", "c_draw0002"]
    assert [w["place"] for w in draw.winner_list] == [1, 2]
    assert Posting.objects.filter(cause_ref=f"draw:{draw.pk}").count() == 2
    assert_ledger_consistent()


def test_a_draw_without_candidates_is_drawn_with_no_winners(world, assert_ledger_consistent):
    draw = draw_run(points_draw(world))
    assert draw.status == Draw.Status.DRAWN
    assert (draw.ticket_list, draw.winner_list) == ([], [])
    assert draw.tickets_digest == hashlib.sha256(b"").hexdigest()
    assert draw_verify(draw).ok
    assert not Posting.objects.filter(cause_ref=f"draw:{draw.pk}").exists()
    assert_ledger_consistent()


def test_a_cancelled_draw_is_never_drawn_and_a_drawn_one_never_cancelled(world):
    crowd(world, 2)
    cancelled = DrawFactory(programme=world.programme)
    draw_schedule(cancelled)
    draw_cancel(cancelled)
    draw_cancel(cancelled)  # idempotent
    with pytest.raises(DrawCancelled):
        draw_run(cancelled)
    assert draws_run_due() == {"drawn": 0, "failed": 0}
    with pytest.raises(DrawCancelled):
        draw_schedule(cancelled)
    drawn = draw_run(DrawFactory(programme=world.programme))
    with pytest.raises(DrawAlreadyDrawn):
        draw_cancel(drawn)
    assert not DrawWinner.objects.filter(draw=cancelled).exists()


def test_a_seed_fixed_beforehand_is_committed_and_cannot_be_swapped(world):
    crowd(world, 3)
    draw = DrawFactory(programme=world.programme, seed=SEED)
    draw_schedule(draw, at=draw.period_to - timedelta(days=2))
    draw.refresh_from_db()
    assert draw.seed_commitment == hashlib.sha256(SEED.encode()).hexdigest()
    with pytest.raises(DrawSeedFixed):
        draw_run(draw, seed=OTHER_SEED)
    assert draw_run(draw, seed=SEED.upper()).seed == SEED
    with pytest.raises(DrawSeedInvalid):
        draw_run(DrawFactory(programme=world.programme), seed="not hex")
    late = DrawFactory(programme=world.programme, seed=SEED)
    with pytest.raises(DrawSeedTooLate):
        draw_schedule(late)


# --- The command and the admin -------------------------------------------------------------


def test_manage_draw_verify_prints_the_check_and_fails_on_a_tampered_record(world):
    crowd(world, 3)
    draw = draw_run(DrawFactory(programme=world.programme, winners_count=2), seed=SEED)
    out = StringIO()
    call_command("draw_verify", str(draw.pk), "--record", stdout=out)
    printed = out.getvalue()
    assert "The draw matches its record." in printed
    assert draw.tickets_digest in printed
    assert f'"seed": "{SEED}"' in printed
    _tamper_winners(draw)
    with pytest.raises(CommandError, match="does not match"):
        call_command("draw_verify", str(draw.pk), stdout=StringIO())


def test_the_admin_runs_verifies_and_shows_a_drawn_draw_read_only(admin_client, admin_user, world):
    # given
    crowd(world, 3)
    draw = points_draw(world, name="Summer draw", winners_count=2)
    change = reverse("admin:promotions_draw_change", args=[draw.pk])
    assert 'name="name"' in admin_client.get(change).content.decode()
    # when
    response = admin_client.post(reverse("admin:promotions_draw_run", args=[draw.pk]))
    # then
    assert response.status_code == 302
    draw.refresh_from_db()
    assert draw.status == Draw.Status.DRAWN
    postings = Posting.objects.filter(cause_ref=f"draw:{draw.pk}")
    assert set(postings.values_list("actor_type", "user")) == {("staff", admin_user.pk)}
    page = admin_client.get(change).content.decode()
    assert 'name="name"' not in page  # the record and its rules are read-only now
    for public_id in winner_ids(draw):
        assert public_id in page
    verified = admin_client.get(
        reverse("admin:promotions_draw_verify", args=[draw.pk]), follow=True
    )
    assert "matches its record" in verified.content.decode()
    record = admin_client.get(reverse("admin:promotions_draw_record", args=[draw.pk]))
    assert json.loads(record.content)["tickets_digest"] == draw.tickets_digest
    # run again through the list's action: nothing changes
    changelist = reverse("admin:promotions_draw_changelist")
    admin_client.post(changelist, {"action": "run", "_selected_action": [draw.pk]})
    assert postings.count() == 2


def test_the_admin_schedules_a_draft_with_its_seed_committed(admin_client, world):
    draw = DrawFactory(programme=world.programme, period_to=timezone.now() + timedelta(days=3))
    changelist = reverse("admin:promotions_draw_changelist")
    admin_client.post(changelist, {"action": "schedule", "_selected_action": [draw.pk]})
    draw.refresh_from_db()
    assert draw.status == Draw.Status.SCHEDULED
    run = admin_client.post(
        reverse("admin:promotions_draw_run", args=[draw.pk]), follow=True
    ).content.decode()
    assert "has not ended yet" in run
    draw.refresh_from_db()
    assert draw.status == Draw.Status.SCHEDULED


def test_a_marketer_sets_up_a_draw_in_the_admin_form(admin_client, world):
    # given
    add = reverse("admin:promotions_draw_add")
    data = admin_form_data(admin_client.get(add))
    start = timezone.localtime() + timedelta(days=1)
    data.update(
        {
            "programme": str(world.programme.pk),
            "name": "Spring bicycle",
            "period_from_0": start.strftime("%Y-%m-%d"),
            "period_from_1": "00:00:00",
            "period_to_0": (start + timedelta(days=30)).strftime("%Y-%m-%d"),
            "period_to_1": "00:00:00",
            "winners_count": "3",
            "prize_points": "1000",
            "prize_currency": str(world.currency.pk),
            "seed": SEED.upper(),
        }
    )
    # when
    response = admin_client.post(add, data)
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors
    draw = Draw.objects.get(name="Spring bicycle")
    assert (draw.status, draw.seed, draw.prize_points) == ("draft", SEED, D("1000"))
    # a prize is required, and a partner's draw counts only the partner's stores
    other_store = StoreFactory(partner=PartnerFactory())
    data.update(
        {
            "name": "No prize",
            "prize_points": "",
            "prize_description": "",
            "partner": str(world.partner.pk),
            "stores": [str(world.store.pk), str(other_store.pk)],
        }
    )
    refused = admin_client.post(add, data)
    assert refused.status_code == 200
    assert set(refused.context["adminform"].form.errors) == {"prize_description", "stores"}


def test_partner_staff_see_and_run_only_their_partners_draws(client, world):
    # given
    crowd(world, 2)
    ours = DrawFactory(programme=world.programme, partner=world.partner, name="Ours")
    theirs = DrawFactory(programme=world.programme, partner=PartnerFactory(), name="Theirs")
    coalition_wide = DrawFactory(programme=world.programme, name="Everyone's")
    user = get_user_model().objects.create_user("anna", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="promotions"))
    StaffProfile.objects.create(user=user, partner=world.partner)
    client.force_login(user)
    # when
    listed = client.get(reverse("admin:promotions_draw_changelist")).context["cl"].result_list
    run_theirs = client.post(reverse("admin:promotions_draw_run", args=[theirs.pk]))
    run_shared = client.post(reverse("admin:promotions_draw_run", args=[coalition_wide.pk]))
    client.post(reverse("admin:promotions_draw_run", args=[ours.pk]))
    # then
    assert list(listed) == [ours]
    assert (run_theirs.status_code, run_shared.status_code) == (404, 404)
    statuses = dict(Draw.objects.values_list("name", "status"))
    assert statuses == {"Ours": "drawn", "Theirs": "draft", "Everyone's": "draft"}
