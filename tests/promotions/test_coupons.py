"""Coupon series and codes (issue #6, first part): emission, unguessable codes, their life,
the status a register reads, and the next-purchase coupons of promotions issued as codes."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.services.terminals import terminal_key_issue
from processing.refund import purchase_cancel
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.coupons import (
    code_length,
    coupon_find,
    coupon_grants_issue,
    coupon_status,
    coupons_issue,
)
from promotions.models import COUPON_ALPHABET, Coupon, CouponGrant, CouponSeries
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    return coalition(percent="5")


def series(world, **fields) -> CouponSeries:
    fields.setdefault("code", "NEXT10")
    fields.setdefault("name", "10% off the next purchase")
    return CouponSeries.objects.create(programme=world.programme, **fields)


def test_unique_codes_without_look_alike_characters(world):
    made = coupons_issue(series(world, prefix="HAPPY-"), 500)
    codes = [c.code for c in made]
    assert len(set(codes)) == 500
    for code in codes:
        assert code.startswith("HAPPY-")
        assert len(code) == len("HAPPY-") + 10
        assert set(code[6:]) <= set(COUPON_ALPHABET)
    assert not set("01ILO") & set(COUPON_ALPHABET)


def test_the_code_space_stays_a_million_times_larger_than_the_coupons(world):
    one = series(world, code_length=6)
    assert code_length(one, 100) == 6  # 32**6 is over 10**9: room for 1000 coupons
    assert code_length(one, 10_000) == 7  # 32**6 < 10**10: one more character
    assert 32 ** code_length(one, 10**9) >= 10**15
    longer = coupons_issue(one, 2000)
    assert {len(coupon.code) for coupon in longer} == {code_length(one, 2000)}
    assert code_length(one, 2000) == 7


def test_the_life_of_a_coupon(world):
    at = datetime(2026, 11, 30, 15, 0, tzinfo=timezone.get_current_timezone())
    starts = coupons_issue(series(world, code="A", lifetime_days=7), 1, at=at)[0]
    assert (starts.valid_from, starts.valid_until) == (at, at + timedelta(days=7))
    later = coupons_issue(
        series(world, code="B", life_start="after_days", start_after_days=3), 1, at=at
    )[0]
    assert later.valid_from == at + timedelta(days=3)
    assert later.valid_until is None
    tomorrow = coupons_issue(series(world, code="C", life_start="next_day"), 1, at=at)[0]
    midnight = datetime.combine(date(2026, 12, 1), time.min, tzinfo=at.tzinfo)
    assert tomorrow.valid_from == midnight
    dated = coupons_issue(
        series(
            world,
            code="D",
            life_start="date",
            starts_on=date(2027, 3, 1),
            lifetime_days=31,
            ends_at=datetime(2027, 3, 15, tzinfo=at.tzinfo),
        ),
        1,
        at=at,
    )[0]
    assert dated.valid_until == datetime(2027, 3, 15, tzinfo=at.tzinfo)  # the series ends first


def test_what_a_register_is_told(world):
    now = timezone.now()
    one = series(world, lifetime_days=10)
    coupon = coupons_issue(one, 1, at=now)[0]
    assert coupon_status(coupon, now).status == "valid"
    assert coupon_status(coupon, now - timedelta(seconds=1)).status == "not_yet_active"
    assert coupon_status(coupon, now + timedelta(days=10)).status == "expired"
    coupon.uses = 1
    assert coupon_status(coupon, now).status == "used"
    assert coupon_status(coupon, now).uses_left == 0
    coupon.uses = 0
    coupon.status = Coupon.Status.WITHDRAWN
    assert coupon_status(coupon, now).status == "withdrawn"
    assert coupon_find(" " + coupon.code.lower() + " ", world.programme.pk) == coupon
    assert coupon_find(coupon.code, world.programme.pk + 999) is None
    mass = coupons_issue(
        series(world, code="SPRING", kind="mass", mass_code="SPRING27", uses_per_coupon=None), 1
    )
    assert mass[0].code == "SPRING27"
    assert coupon_status(mass[0]).uses_left is None
    assert coupons_issue(CouponSeries.objects.get(code="SPRING"), 1)[0] == mass[0]


def test_a_promotions_next_purchase_coupon_is_issued_as_a_code_and_withdrawn_by_a_cancel(
    world, assert_ledger_consistent
):
    promotion(
        world,
        "A coupon for the next purchase",
        rewards=[{"kind": "coupon", "value": 1, "coupon_series": "NEXT10"}],
    )

    def buy(receipt_id):
        return confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=receipt_id,
                card=world.card.number,
                lines=(PurchaseLine(line_no=1, sku="X", quantity=D(1), price=D("100.00")),),
            ),
        )

    buy("P1")  # no series yet: the grant waits
    grant = CouponGrant.objects.get()
    assert grant.status == CouponGrant.Status.PENDING
    assert not grant.code
    one = series(world, lifetime_days=30)
    assert coupon_grants_issue() == 1
    assert coupon_grants_issue() == 0
    grant.refresh_from_db()
    coupon = Coupon.objects.get(grant=grant)
    assert (grant.status, grant.code) == (CouponGrant.Status.ISSUED, coupon.code)
    assert coupon.customer == world.customer
    buy("P2")  # the series exists: issued at once
    second = CouponGrant.objects.exclude(pk=grant.pk).get()
    assert second.status == CouponGrant.Status.ISSUED
    purchase_cancel(world.terminal, "P2")
    assert Coupon.objects.get(grant=second).status == Coupon.Status.WITHDRAWN
    assert coupon_status(Coupon.objects.get(grant=second)).status == "withdrawn"
    assert Coupon.objects.filter(series=one).count() == 2
    assert_ledger_consistent()


def test_the_api_reads_a_coupon(world):
    coupon = coupons_issue(series(world, lifetime_days=5), 1)[0]
    _key, raw = terminal_key_issue(terminal=world.terminal)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    answer = client.get(f"/api/v1/coupons/{coupon.code.lower()}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["status"] == "valid"
    assert body["series"] == "NEXT10"
    assert body["uses_left"] == 1
    missing = client.get("/api/v1/coupons/NOPE2345")
    assert missing.status_code == 404
    assert missing.json()["code"] == "coupon_not_found"


def test_emission_from_the_command_writes_a_csv_for_the_printing_house(world, tmp_path):
    series(world)
    path = tmp_path / "codes.csv"
    call_command("coupons_emit", world.programme.code, "NEXT10", "25", "--output", str(path))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == 25
    assert {row["code"] for row in rows} == set(Coupon.objects.values_list("code", flat=True))
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        call_command("coupons_emit", world.programme.code, "UNKNOWN", "5")


def test_the_admin_issues_and_exports(world, admin_client):
    one = series(world)
    url = "/admin/promotions/couponseries/"
    page = admin_client.post(url, {"action": "issue", "_selected_action": [one.pk]})
    assert page.status_code == 200
    done = admin_client.post(url, {"action": "issue", "_selected_action": [one.pk], "count": "12"})
    assert done.status_code == 302
    assert Coupon.objects.filter(series=one).count() == 12
    export = admin_client.post(url, {"action": "export_codes", "_selected_action": [one.pk]})
    assert export["Content-Type"].startswith("text/csv")
    assert len(export.content.decode().strip().splitlines()) == 13


# --- At the register -------------------------------------------------------------------------


@pytest.fixture
def with_coupon(world):
    """A series of single-use coupons and the promotion they unlock: -10% on the receipt."""
    one = series(world, lifetime_days=30)
    made = promotion(
        world,
        "-10% with a coupon",
        coupon_series=one,
        conditions=[{"kind": "receipt_total", "amount": "100.00"}],
        rewards=[{"kind": "discount_percent", "value": 10}],
    )
    return one, made


def _sale(world, receipt_id, amount="500.00", coupons=(), card=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card or world.card.number,
        coupons=tuple(coupons),
        lines=(PurchaseLine(line_no=1, sku="X", quantity=D(1), price=D(amount)),),
    )


def test_a_single_use_coupon_is_used_once_and_given_back_by_a_cancel(
    world, with_coupon, assert_ledger_consistent
):
    from promotions.models import CouponRedemption

    one, _promotion = with_coupon
    code = coupons_issue(one, 1)[0].code
    preview = calculate_answer(world.terminal, _sale(world, "C0", coupons=[code.lower()]))
    assert preview["discount"] == "50.00"
    assert preview["coupons"] == [{"code": code.lower(), "status": "applied", "reason": None}]
    assert Coupon.objects.get(code=code).uses == 0  # calculate uses nothing
    first = confirm_answer(world.terminal, _sale(world, "C1", coupons=[code]))
    assert first["discount"] == "50.00"
    assert first["coupons"][0]["status"] == "applied"
    coupon = Coupon.objects.get(code=code)
    assert (coupon.uses, coupon.status) == (1, Coupon.Status.USED)
    again = confirm_answer(world.terminal, _sale(world, "C2", coupons=[code]))
    assert again["discount"] == "0.00"
    assert again["coupons"] == [{"code": code, "status": "rejected", "reason": "coupon_used"}]
    # A retry of the first confirm replays it and uses nothing more.
    assert confirm_answer(world.terminal, _sale(world, "C1", coupons=[code])) == first
    assert CouponRedemption.objects.count() == 1
    purchase_cancel(world.terminal, "C1")
    assert coupon_status(Coupon.objects.get(code=code)).status == "valid"
    third = confirm_answer(world.terminal, _sale(world, "C3", coupons=[code]))
    assert third["coupons"][0]["status"] == "applied"
    assert_ledger_consistent()


def test_every_reason_a_coupon_is_rejected(world, with_coupon, assert_ledger_consistent):
    from tests.factories.crm import CustomerFactory

    one, _promotion = with_coupon
    now = timezone.now()
    someone_else = coupons_issue(one, 1, customer=CustomerFactory())[0].code
    later = coupons_issue(
        series(world, code="LATER", life_start="after_days", start_after_days=2), 1
    )[0].code
    old = coupons_issue(series(world, code="OLD", lifetime_days=1), 1, at=now - timedelta(days=5))[
        0
    ].code
    withdrawn = coupons_issue(one, 1)[0]
    Coupon.objects.filter(pk=withdrawn.pk).update(status=Coupon.Status.WITHDRAWN)
    good = coupons_issue(one, 1)[0].code
    answer = confirm_answer(
        world.terminal,
        _sale(
            world,
            "R1",
            amount="50.00",
            coupons=["NOSUCH234", someone_else, later, old, withdrawn.code, good],
        ),
    )
    reasons = [(c["status"], c["reason"]) for c in answer["coupons"]]
    assert reasons == [
        ("rejected", "coupon_not_found"),
        ("rejected", "coupon_not_for_customer"),
        ("rejected", "coupon_not_yet_active"),
        ("rejected", "coupon_expired"),
        ("rejected", "coupon_withdrawn"),
        ("rejected", "conditions_not_met"),  # 50.00 is below the promotion's 100.00
    ]
    assert Coupon.objects.get(code=good).uses == 0
    assert answer["discount"] == "0.00"
    assert_ledger_consistent()


def test_limits_per_customer_and_in_total(world, assert_ledger_consistent):
    one = series(world, uses_per_coupon=None, uses_per_customer=1, kind="mass", mass_code="SALE27")
    promotion(
        world,
        "-5% with SALE27",
        coupon_series=one,
        rewards=[{"kind": "discount_percent", "value": 5}],
    )
    coupons_issue(one, 1)
    assert (
        confirm_answer(world.terminal, _sale(world, "M1", coupons=["sale27"]))["coupons"][0][
            "status"
        ]
        == "applied"
    )
    second = confirm_answer(world.terminal, _sale(world, "M2", coupons=["SALE27"]))
    assert second["coupons"][0]["reason"] == "coupon_limit_reached"
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)
def test_two_registers_using_one_single_use_coupon_at_once_use_it_once(
    world, with_coupon, assert_ledger_consistent
):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    from loyalty.models import Receipt
    from tests.factories.crm import CustomerFactory
    from tests.factories.loyalty import ActiveCardFactory

    one, _promotion = with_coupon
    code = coupons_issue(one, 1)[0].code
    cards = [world.card.number] + [
        ActiveCardFactory(customer=CustomerFactory(), programme=world.programme).number
        for _ in range(3)
    ]
    barrier = threading.Barrier(len(cards))
    answers = []

    def confirm(n, card):
        try:
            barrier.wait()
            answers.append(
                confirm_answer(world.terminal, _sale(world, f"RACE{n}", coupons=[code], card=card))
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(n, c)) for n, c in enumerate(cards)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    applied = [a for a in answers if a["coupons"][0]["status"] == "applied"]
    assert len(answers) == len(cards)
    assert len(applied) == 1
    assert Coupon.objects.get(code=code).uses == 1
    assert Receipt.objects.filter(discount__gt=0).count() == 1
    assert_ledger_consistent()


def test_scratch_coupons_hide_their_drawn_prize_until_used(world, assert_ledger_consistent):
    from collections import Counter as Tally

    from promotions.coupons import NoPrizes
    from promotions.models import ScratchPrize

    scratch = series(world, code="SCRATCH", is_scratch=True)
    with pytest.raises(NoPrizes):
        coupons_issue(scratch, 1)
    small = promotion(
        world,
        "Scratch: -5%",
        coupon_series=scratch,
        rewards=[{"kind": "discount_percent", "value": 5}],
    )
    big = promotion(
        world,
        "Scratch: 300 points",
        coupon_series=scratch,
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    ScratchPrize.objects.create(series=scratch, promotion=small, weight=3)
    ScratchPrize.objects.create(series=scratch, promotion=big, weight=1)
    coupons = coupons_issue(scratch, 400)
    drawn = Tally(coupon.prize_id for coupon in coupons)
    assert set(drawn) == {small.pk, big.pk}
    assert 200 < drawn[small.pk] < 380  # about three in four
    one = next(c for c in coupons if c.prize_id == big.pk)
    assert coupon_status(one).prize is None  # hidden before use
    answer = confirm_answer(world.terminal, _sale(world, "S1", coupons=[one.code]))
    names = {p["name"] for p in answer["promotions"]}
    assert "Scratch: 300 points" in names
    assert "Scratch: -5%" not in names  # only the coupon's own prize
    assert answer["coupons"][0]["status"] == "applied"
    assert coupon_status(Coupon.objects.get(pk=one.pk)).prize == "Scratch: 300 points"
    assert_ledger_consistent()


def test_a_hold_reserves_a_single_use_coupon_for_its_receipt(world, with_coupon):
    from tests.factories.crm import CustomerFactory
    from tests.factories.loyalty import ActiveCardFactory

    one, _promotion = with_coupon
    code = coupons_issue(one, 1)[0].code
    other_card = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme).number
    held = calculate_answer(world.terminal, _sale(world, "H1", coupons=[code]), hold=True)
    assert held["hold"]["coupons"] == [code]
    elsewhere = confirm_answer(world.terminal, _sale(world, "H2", coupons=[code], card=other_card))
    assert elsewhere["coupons"][0]["reason"] == "coupon_held"
    mine = confirm_answer(world.terminal, _sale(world, "H1", coupons=[code]))
    assert mine["coupons"][0]["status"] == "applied"
    coupon = Coupon.objects.get(code=code)
    assert (coupon.uses, coupon.held_for) == (1, "")
    # A hold cancelled (nothing confirmed) frees the coupon at once.
    second = coupons_issue(one, 1)[0].code
    calculate_answer(world.terminal, _sale(world, "H3", coupons=[second]), hold=True)
    purchase_cancel(world.terminal, "H3")
    free = confirm_answer(world.terminal, _sale(world, "H4", coupons=[second], card=other_card))
    assert free["coupons"][0]["status"] == "applied"


# --- One code for everyone (a mass series) --------------------------------------------------


@pytest.fixture
def spring(world):
    """A mass series as a marketer makes it (single-use: once per customer) and its promotion."""
    one = CouponSeries(
        programme=world.programme,
        code="SPRING",
        name="Spring sale",
        kind=CouponSeries.Kind.MASS,
        mass_code="Spring2027",
    )
    one.full_clean()  # the admin's validation: a code such as SPRING2027 is a fine mass code
    one.save()
    promotion(
        world,
        "-10% with SPRING2027",
        coupon_series=one,
        rewards=[{"kind": "discount_percent", "value": 10}],
    )
    return one


def test_a_mass_code_is_valid_for_every_customer_once_its_series_exists(
    world, spring, assert_ledger_consistent
):
    from tests.factories.crm import CustomerFactory
    from tests.factories.loyalty import ActiveCardFactory

    # given the series, nobody having issued anything, and two more customers
    others = [
        ActiveCardFactory(customer=CustomerFactory(), programme=world.programme).number
        for _ in range(2)
    ]
    # when every customer presents the code (any case, spaces ignored)
    preview = calculate_answer(world.terminal, _sale(world, "S0", coupons=["spring 2027"]))
    assert preview["discount"] == "50.00"
    answers = [
        confirm_answer(world.terminal, _sale(world, "S1", coupons=["spring2027"])),
        confirm_answer(world.terminal, _sale(world, "S2", coupons=["SPRING2027"], card=others[0])),
        confirm_answer(world.terminal, _sale(world, "S3", coupons=["SPRING2027"], card=others[1])),
    ]
    # then the register accepts it for each of them
    assert [a["coupons"][0]["status"] for a in answers] == ["applied"] * 3
    assert [a["discount"] for a in answers] == ["50.00"] * 3
    coupon = Coupon.objects.get(series=spring)
    assert (coupon.code, coupon.customer_id, coupon.status) == ("SPRING2027", None, "active")
    # and a single-use mass code is used once per customer: the second time is refused
    again = confirm_answer(world.terminal, _sale(world, "S4", coupons=["SPRING2027"]))
    assert again["coupons"] == [
        {"code": "SPRING2027", "status": "rejected", "reason": "coupon_used"}
    ]
    assert again["discount"] == "0.00"
    # until the purchase that used it is cancelled
    purchase_cancel(world.terminal, "S1")
    back = confirm_answer(world.terminal, _sale(world, "S5", coupons=["SPRING2027"]))
    assert back["coupons"][0]["status"] == "applied"
    assert_ledger_consistent()


def test_a_mass_code_respects_the_series_limits_per_customer_and_in_total(world, spring):
    from tests.factories.crm import CustomerFactory
    from tests.factories.loyalty import ActiveCardFactory

    CouponSeries.objects.filter(pk=spring.pk).update(
        uses_per_coupon=None, uses_per_customer=2, uses_total=3
    )
    other = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme).number

    def use(receipt_id, card=None):
        answer = confirm_answer(
            world.terminal, _sale(world, receipt_id, coupons=["SPRING2027"], card=card)
        )
        return answer["coupons"][0]["reason"] or answer["coupons"][0]["status"]

    assert [use("L1"), use("L2"), use("L3")] == ["applied", "applied", "coupon_limit_reached"]
    assert [use("L4", other), use("L5", other)] == ["applied", "coupon_limit_reached"]


def test_a_hold_on_a_mass_code_does_not_stop_other_customers(world, spring):
    from tests.factories.crm import CustomerFactory
    from tests.factories.loyalty import ActiveCardFactory

    other = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme).number
    calculate_answer(world.terminal, _sale(world, "H1", coupons=["SPRING2027"]), hold=True)
    elsewhere = confirm_answer(
        world.terminal, _sale(world, "H2", coupons=["SPRING2027"], card=other)
    )
    assert elsewhere["coupons"][0]["status"] == "applied"
    mine = confirm_answer(world.terminal, _sale(world, "H1", coupons=["SPRING2027"]))
    assert mine["coupons"][0]["status"] == "applied"


def test_the_api_reads_a_mass_code(world, spring):
    _key, raw = terminal_key_issue(terminal=world.terminal)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    answer = client.get("/api/v1/coupons/spring2027")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["code"], body["status"], body["series"], body["personal"]) == (
        "SPRING2027",
        "valid",
        "SPRING",
        False,
    )


def test_the_command_and_the_admin_issue_a_mass_code(world, spring, admin_client, tmp_path):
    path = tmp_path / "codes.csv"
    call_command("coupons_emit", world.programme.code, "SPRING", "5", "--output", str(path))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [row["code"] for row in rows] == ["SPRING2027"]
    url = "/admin/promotions/couponseries/"
    done = admin_client.post(
        url, {"action": "issue", "_selected_action": [spring.pk], "count": "12"}, follow=True
    )
    assert done.status_code == 200
    assert "SPRING2027" in done.content.decode()
    assert Coupon.objects.filter(series=spring).count() == 1


def test_a_mass_code_taken_by_another_series_is_refused(world, spring):
    from django.core.exceptions import ValidationError

    twin = CouponSeries(
        programme=world.programme, code="TWIN", name="Twin", kind="mass", mass_code="spring2027"
    )
    with pytest.raises(ValidationError) as refused:
        twin.full_clean()
    assert "mass_code" in refused.value.message_dict
