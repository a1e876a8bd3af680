"""Gift cards and certificates at the register: selling (activating) one, its status, paying
part of a receipt with it, partial redemption and the rest kept as its balance, holds, refunds
and cancels giving the money back, expiry, every reason a certificate is refused, the gift card
sold on a receipt earning nothing, and two registers paying with one certificate at once.

The receipt of ``purchase_body``: 2 × 89.90 + 15 990.00 = 16 169.80; the programme gives 5 %.
"""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from loyalty.models import (
    CertificateEntry,
    CertificateSeries,
    GiftCertificate,
    ImmutableRowError,
    Receipt,
)
from loyalty.services.certificates import (
    CODE_LENGTH,
    certificate_activate,
    certificate_block,
    certificates_emit,
    certificates_expire,
    certificates_unbalanced,
    display_code,
)
from loyalty.validators import CODE_ALPHABET
from tests.factories.loyalty import PartnerFactory, ProductFactory, ProgrammeFactory
from tests.processing.answers import confirm_answer
from tests.processing.api.conftest import API, assert_problem, purchase_body
from tests.processing.api.test_schema import _validate
from tests.processing.api.test_schema import openapi as openapi  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
D = Decimal
CALCULATE = API + "purchases/calculate"
CONFIRM = API + "purchases/confirm"
CANCEL = API + "purchases/cancel"
REFUND = API + "purchases/refund"
TOTAL = D("16169.80")


def _series(world, **fields) -> CertificateSeries:
    values = {
        "programme": world.programme,
        "code": "GIFT5000",
        "name": "Gift certificate 5000",
        "nominal": D("5000.00"),
        "lifetime_days": 365,
    }
    return CertificateSeries.objects.create(**(values | fields))


def _sold(world, **fields) -> GiftCertificate:
    series = _series(world, **fields)
    (certificate,) = certificates_emit(series, 1)
    return certificate_activate(certificate)


def _post(client, url, body):
    return client.post(url, body, format="json")


def _fresh(certificate) -> GiftCertificate:
    return GiftCertificate.objects.get(pk=certificate.pk)


# --- Emission ------------------------------------------------------------------------------


def test_emission_makes_unguessable_codes_and_the_printing_csv(world):
    series = _series(world)
    made = certificates_emit(series, 50)
    codes = {c.code for c in made}
    assert len(codes) == 50
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(CODE_ALPHABET)
    # 31**16 codes: about 1.5e22 times the certificates of the series.
    assert len(CODE_ALPHABET) ** CODE_LENGTH > 10**6 * 50
    assert all(c.status == "new" and c.balance == 0 for c in made)
    out = io.StringIO()
    call_command(
        "certificates_emit", "GIFT5000", "3", "--csv", "-", stdout=out, stderr=io.StringIO()
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 53
    assert rows[0]["printed_code"] == display_code(rows[0]["code"])
    assert {row["nominal"] for row in rows} == {"5000.00"}


def test_an_electronic_series_is_active_at_once(world):
    series = _series(world, code="E-GIFT", activation=CertificateSeries.Activation.ON_EMISSION)
    (certificate,) = certificates_emit(series, 1)
    assert certificate.status == "active"
    assert certificate.balance == D("5000.00")
    assert certificate.entries.get().kind == CertificateEntry.Kind.ACTIVATE
    assert certificates_unbalanced() == []


def test_the_command_refuses_an_unknown_series_and_a_bad_count(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("certificates_emit", "NOPE", "1", stderr=io.StringIO())
    _series(world)
    with pytest.raises(CommandError):
        call_command("certificates_emit", "GIFT5000", "0", stderr=io.StringIO())
    assert GiftCertificate.objects.count() == 0


# --- Selling and status ----------------------------------------------------------------------


def test_the_register_sells_a_certificate_and_reads_its_status(world, client, openapi):
    series = _series(world)
    (certificate,) = certificates_emit(series, 1)
    shown = client.get(API + "certificates/" + display_code(certificate.code).lower())
    assert shown.status_code == 200, shown.content
    _validate(openapi, "/api/v1/certificates/{code}", "get", shown)
    assert shown.json()["status"] == "new"
    assert shown.json()["available"] == "0.00"
    sold = client.post(API + f"certificates/{certificate.code}/activate")
    assert sold.status_code == 200, sold.content
    _validate(openapi, "/api/v1/certificates/{code}/activate", "post", sold)
    data = sold.json()
    assert data["status"] == "active"
    assert data["balance"] == data["available"] == "5000.00"
    assert data["accepted_here"] is True
    expires = _fresh(certificate).expires_at
    assert expires - _fresh(certificate).activated_at == timedelta(days=365)
    # a retry answers the same and gives nothing twice
    assert client.post(API + f"certificates/{certificate.code}/activate").json() == data
    assert certificate.entries.count() == 1


def test_unknown_and_other_programme_codes_are_404(world, client):
    assert_problem(client.get(API + "certificates/NOPE"), 404, "certificate_not_found")
    assert_problem(client.post(API + "certificates/NOPE/activate"), 404, "certificate_not_found")
    other = ProgrammeFactory(code="OTHER-PROGRAMME")
    series = CertificateSeries.objects.create(
        programme=other, code="OTHER", name="Other", nominal=D("100.00")
    )
    (foreign,) = certificates_emit(series, 1)
    assert_problem(client.get(API + "certificates/" + foreign.code), 404, "certificate_not_found")


def test_a_blocked_certificate_cannot_be_sold_again(world, client):
    certificate = _sold(world)
    certificate_block(certificate, "stolen")
    assert_problem(
        client.post(API + f"certificates/{certificate.code}/activate"),
        409,
        "certificate_state_invalid",
    )


# --- Paying ----------------------------------------------------------------------------------


def test_a_certificate_pays_part_of_a_receipt_and_the_rest_is_money(
    world, client, openapi, assert_ledger_consistent
):
    certificate = _sold(world)
    body = purchase_body(world, certificates=[{"code": display_code(certificate.code)}])
    calculated = _post(client, CALCULATE, body)
    assert calculated.status_code == 200, calculated.content
    _validate(openapi, "/api/v1/purchases/calculate", "post", calculated)
    assert _fresh(certificate).balance == D("5000.00")  # calculate writes nothing
    confirmed = _post(client, CONFIRM, body)
    assert confirmed.status_code == 200, confirmed.content
    _validate(openapi, "/api/v1/purchases/confirm", "post", confirmed)
    data = confirmed.json()
    for key in ("certificate_paid", "to_pay_in_money", "certificates", "points_earned"):
        assert data[key] == calculated.json()[key]
    assert data["to_pay"] == "16169.80"
    assert data["certificate_paid"] == "5000.00"
    assert data["to_pay_in_money"] == "11169.80"
    assert data["points_earned"] == "808.49"  # a certificate's money earns as money does
    assert data["certificates"] == [
        {
            "code": certificate.code,
            "status": "applied",
            "amount": "5000.00",
            "balance_before": "5000.00",
            "balance_after": "0.00",
        }
    ]
    assert sum(D(line["certificate_paid"]) for line in data["lines"]) == D("5000.00")
    assert _fresh(certificate).balance == 0
    assert _fresh(certificate).status == "used"
    payment = certificate.entries.get(kind=CertificateEntry.Kind.REDEEM)
    assert payment.amount == D("-5000.00")
    assert payment.partner == world.partner
    assert payment.receipt == Receipt.objects.get()
    # a retry replays; another certificate list is another body
    assert _post(client, CONFIRM, body).json() == data
    assert certificate.entries.count() == 2
    other = purchase_body(world, datetime=body["datetime"], certificates=[])
    assert_problem(_post(client, CONFIRM, other), 409, "receipt_conflict")
    assert_ledger_consistent()


def test_partial_redemption_keeps_the_rest_for_the_next_receipt(world, client):
    certificate = _sold(world)
    first = _post(
        client,
        CONFIRM,
        purchase_body(world, "R1", certificates=[{"code": certificate.code, "amount": "1000"}]),
    ).json()
    assert first["certificate_paid"] == "1000.00"
    assert first["certificates"][0]["balance_after"] == "4000.00"
    assert _fresh(certificate).balance == D("4000.00")
    assert _fresh(certificate).status == "active"
    small = purchase_body(
        world,
        "R2",
        lines=[{"line": 1, "sku": "X", "quantity": "1", "price": "150.00"}],
        certificates=[{"code": certificate.code}],
    )
    second = _post(client, CONFIRM, small).json()
    assert second["certificate_paid"] == "150.00"
    assert second["to_pay_in_money"] == "0.00"
    assert _fresh(certificate).balance == D("3850.00")
    assert certificates_unbalanced() == []


def test_two_certificates_pay_in_the_order_given(world, client):
    small = _sold(world, code="S", nominal=D("100.00"))
    big = _sold(world, code="B", nominal=D("20000.00"))
    data = _post(
        client,
        CONFIRM,
        purchase_body(world, certificates=[{"code": small.code}, {"code": big.code}]),
    ).json()
    assert [c["amount"] for c in data["certificates"]] == ["100.00", "16069.80"]
    assert data["to_pay_in_money"] == "0.00"
    assert _fresh(big).balance == D("3930.20")


def test_the_programme_can_exclude_certificate_money_from_earning(world, client):
    world.programme.certificate_payment_earns = False
    world.programme.save()
    certificate = _sold(world)
    data = _post(
        client, CONFIRM, purchase_body(world, certificates=[{"code": certificate.code}])
    ).json()
    assert data["points_earned"] == "558.49"  # 5 % of 11 169.80


def test_points_spent_come_first_and_the_certificate_pays_the_rest(world, client):
    from processing.sale import PurchaseLine, PurchaseRequest

    confirm_answer(
        world.terminal,
        PurchaseRequest(
            "SEED", card=world.card.number, lines=(PurchaseLine(1, "X", D("1"), D("2000.00")),)
        ),
    )  # 100 points
    certificate = _sold(world, nominal=D("20000.00"))
    data = _post(
        client,
        CONFIRM,
        purchase_body(world, spend_points="max", certificates=[{"code": certificate.code}]),
    ).json()
    assert data["points_spent"] == "100.00"
    assert data["to_pay"] == "16069.80"
    assert data["certificate_paid"] == "16069.80"
    assert data["to_pay_in_money"] == "0.00"
    assert data["points_earned"] == "803.49"  # 5 % of what the certificate paid


def test_selling_a_gift_card_earns_nothing_and_is_paid_in_money(world, client):
    ProductFactory(sku="GIFTCARD-1000", is_gift_card=True, partner=None)
    certificate = _sold(world)
    body = purchase_body(
        world,
        lines=[
            {"line": 1, "sku": "GIFTCARD-1000", "quantity": "1", "price": "1000.00"},
            {"line": 2, "sku": "BREAD", "quantity": "1", "price": "100.00"},
        ],
        spend_points="max",
        certificates=[{"code": certificate.code}],
    )
    data = _post(client, CONFIRM, body).json()
    gift, bread = data["lines"]
    assert gift["points_earned"] == "0.00"
    assert gift["certificate_paid"] == "0.00"
    assert gift["to_pay"] == "1000.00"
    assert bread["certificate_paid"] == "100.00"
    assert data["to_pay_in_money"] == "1000.00"
    assert data["points_earned"] == "5.00"
    membership = (
        world.customer.tier_memberships.first()
        if hasattr(world.customer, "tier_memberships")
        else None
    )
    assert membership is None or membership.qualifying_amount == D("100.00")
    assert Receipt.objects.get().tier_amount == D("100.00")


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        ("unknown", "certificate_not_found"),
        ("new", "certificate_not_active"),
        ("used", "certificate_used"),
        ("expired", "certificate_expired"),
        ("blocked", "certificate_blocked"),
        ("elsewhere", "certificate_not_accepted_here"),
        ("twice", "certificate_repeated"),
    ],
)
def test_a_refused_certificate_says_why_and_the_receipt_goes_through(
    world, client, prepare, reason
):
    series = _series(world)
    (certificate,) = certificates_emit(series, 1)
    code = certificate.code
    codes = [{"code": code}]
    if prepare == "unknown":
        codes = [{"code": "NO-SUCH-CODE"}]
    if prepare not in ("unknown", "new"):
        certificate_activate(certificate)
    if prepare == "used":
        _post(client, CONFIRM, purchase_body(world, "USE-IT", certificates=codes))
    if prepare == "expired":
        GiftCertificate.objects.filter(pk=certificate.pk).update(
            expires_at=timezone.now() - timedelta(days=400)
        )
    if prepare == "blocked":
        certificate_block(certificate, "lost")
    if prepare == "elsewhere":
        series.partners.add(PartnerFactory())
    if prepare == "twice":
        codes = [{"code": code, "amount": "10"}, {"code": code.lower()}]
    answer = _post(client, CONFIRM, purchase_body(world, certificates=codes))
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["certificates"][-1]["reason"] == reason
    if prepare != "twice":
        assert data["certificate_paid"] == "0.00"
        assert data["to_pay_in_money"] == "16169.80"
    else:
        assert data["certificate_paid"] == "10.00"
    assert certificates_unbalanced() == []


@pytest.fixture
def nothing_written(world, client, row_counts):
    before = row_counts(), CertificateEntry.objects.count()
    yield
    assert (row_counts(), CertificateEntry.objects.count()) == before


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("url", [CALCULATE, CONFIRM])
@pytest.mark.parametrize(
    ("certificates", "path"),
    [
        ("CODE", "certificates"),
        ({"code": "X"}, "certificates"),
        ([{"amount": "10"}], "certificates.0.code"),
        ([{"code": ""}], "certificates.0.code"),
        ([{"code": "X" * 41}], "certificates.0.code"),
        ([{"code": "X", "amount": "-1"}], "certificates.0.amount"),
        ([{"code": "X", "amount": "1.001"}], "certificates.0.amount"),
        ([{"code": "X", "amount": 1.5}], "certificates.0.amount"),
        ([{"code": f"C{n}"} for n in range(11)], "certificates"),
    ],
)
def test_a_malformed_certificates_field_is_a_400(world, client, url, certificates, path):
    data = assert_problem(
        _post(client, url, purchase_body(world, certificates=certificates)),
        400,
        "invalid_request",
    )
    assert any(key.startswith(path) for key in data["errors"]), data["errors"]


# --- Holds -----------------------------------------------------------------------------------


def test_a_hold_reserves_the_money_until_confirm_or_cancel(world, client):
    certificate = _sold(world, nominal=D("20000.00"))
    body = purchase_body(world, "H1", certificates=[{"code": certificate.code}], hold=True)
    held = _post(client, CALCULATE, body).json()
    assert held["hold"]["certificates"] == [{"code": certificate.code, "amount": "16169.80"}]
    status = client.get(API + "certificates/" + certificate.code).json()
    assert status["available"] == "3830.20"
    other = _post(
        client, CALCULATE, purchase_body(world, "H2", certificates=[{"code": certificate.code}])
    ).json()
    assert other["certificate_paid"] == "3830.20"
    # cancel releases it
    assert _post(client, CANCEL, {"receipt_id": "H1"}).json()["hold_released"] is True
    assert client.get(API + "certificates/" + certificate.code).json()["available"] == "20000.00"
    # held again, then consumed by confirm
    _post(client, CALCULATE, body)
    del body["hold"]
    assert _post(client, CONFIRM, body).json()["certificate_paid"] == "16169.80"
    assert certificate.holds.count() == 0
    assert _fresh(certificate).balance == D("3830.20")


def test_an_anonymous_receipt_may_hold_and_pay_with_a_certificate(world, client):
    certificate = _sold(world)
    body = purchase_body(world, "A1", card=..., certificates=[{"code": certificate.code}])
    held = _post(client, CALCULATE, body | {"hold": True}).json()
    assert held["hold"]["certificates"][0]["amount"] == "5000.00"
    data = _post(client, CONFIRM, body).json()
    assert data["customer"] is None
    assert data["certificate_paid"] == "5000.00"
    assert data["points_earned"] == "0.00"


# --- Refunds, cancels, expiry ----------------------------------------------------------------


def test_refunds_give_each_certificate_its_share_and_the_rest_in_money(
    world, client, openapi, assert_ledger_consistent
):
    certificate = _sold(world)
    body = purchase_body(world, certificates=[{"code": certificate.code}])
    paid = _post(client, CONFIRM, body).json()
    on_mattress = D(paid["lines"][1]["certificate_paid"])
    refund = _post(
        client,
        REFUND,
        {
            "receipt_id": body["receipt_id"],
            "refund_id": "RF1",
            "lines": [{"line": 2, "quantity": "1"}],
        },
    )
    assert refund.status_code == 200, refund.content
    _validate(openapi, "/api/v1/purchases/refund", "post", refund)
    data = refund.json()
    assert data["certificates_returned"] == [
        {
            "code": certificate.code,
            "amount": str(on_mattress),
            "to": "certificate",
            "balance_after": str(on_mattress),
        }
    ]
    assert D(data["money_back"]) == D("15990.00") - on_mattress
    assert _fresh(certificate).balance == on_mattress
    assert _fresh(certificate).status == "active"
    # the cancel gives back the rest: the certificate is whole again
    cancelled = _post(client, CANCEL, {"receipt_id": body["receipt_id"]})
    _validate(openapi, "/api/v1/purchases/cancel", "post", cancelled)
    assert _fresh(certificate).balance == D("5000.00")
    assert D(cancelled.json()["money_back"]) == D("179.80") - (D("5000.00") - on_mattress)
    assert certificates_unbalanced() == []
    assert_ledger_consistent()


def test_a_single_use_certificate_burns_its_rest_and_a_cancel_restores_it(world, client):
    certificate = _sold(world, nominal=D("1000.00"), single_use=True)
    small = purchase_body(
        world,
        lines=[
            {"line": 1, "sku": "X", "quantity": "1", "price": "200.00"},
            {"line": 2, "sku": "Y", "quantity": "1", "price": "100.00"},
        ],
        certificates=[{"code": certificate.code}],
    )
    data = _post(client, CONFIRM, small).json()
    assert data["certificates"][0]["balance_after"] == "0.00"
    assert _fresh(certificate).status == "used"
    kinds = list(certificate.entries.order_by("pk").values_list("kind", "amount"))
    assert kinds == [("activate", D("1000.00")), ("redeem", D("-300.00")), ("burn", D("-700.00"))]
    refund = _post(
        client,
        REFUND,
        {
            "receipt_id": small["receipt_id"],
            "refund_id": "RF",
            "lines": [{"line": 2, "quantity": "1"}],
        },
    ).json()
    assert refund["certificates_returned"] == [
        {"code": certificate.code, "amount": "100.00", "to": "money"}
    ]
    assert refund["money_back"] == "100.00"
    assert _fresh(certificate).balance == 0
    _post(client, CANCEL, {"receipt_id": small["receipt_id"]})
    assert _fresh(certificate).balance == D("900.00")  # the 100 went back in money
    assert _fresh(certificate).status == "active"
    assert certificates_unbalanced() == []


def test_expiry_burns_the_rest_once_and_a_later_refund_pays_money(world, client):
    certificate = _sold(world)
    body = purchase_body(
        world,
        lines=[{"line": 1, "sku": "X", "quantity": "1", "price": "1000.00"}],
        certificates=[{"code": certificate.code}],
    )
    _post(client, CONFIRM, body)
    later = timezone.now() + timedelta(days=366)
    assert certificates_expire(later) == 1
    assert certificates_expire(later) == 0  # idempotent
    expired = _fresh(certificate)
    assert (expired.status, expired.balance) == ("expired", 0)
    assert certificate.entries.filter(kind="expire").get().amount == D("-4000.00")
    GiftCertificate.objects.filter(pk=certificate.pk).update(expires_at=later - timedelta(days=2))
    refund = _post(client, CANCEL, {"receipt_id": body["receipt_id"]}).json()
    assert refund["certificates_returned"][0]["to"] == "money"
    assert refund["money_back"] == "1000.00"
    assert certificates_unbalanced() == []


def test_the_certificate_ledger_is_append_only(world):
    certificate = _sold(world)
    entry = certificate.entries.get()
    with pytest.raises(ImmutableRowError):
        entry.save()
    with pytest.raises(ImmutableRowError):
        CertificateEntry.objects.filter(pk=entry.pk).update(amount=D("1"))
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE loyalty_certificateentry SET amount = 1 WHERE id = %s", [entry.pk])


@pytest.mark.django_db(transaction=True)
def test_two_registers_paying_with_one_certificate_at_once_never_overdraw_it(
    world, assert_ledger_consistent
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    from processing.sale import PurchaseLine, PurchaseRequest

    certificate = _sold(world, nominal=D("1000.00"))
    barrier = threading.Barrier(4)
    answers = []

    def confirm(n):
        try:
            barrier.wait()
            answers.append(
                confirm_answer(
                    world.terminal,
                    PurchaseRequest(
                        f"RACE{n}",
                        lines=(PurchaseLine(1, "X", D("1"), D("600.00")),),
                        certificates=((certificate.code, None),),
                    ),
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4
    paid = sorted(D(a["certificate_paid"]) for a in answers)
    assert paid == [D("0.00"), D("0.00"), D("400.00"), D("600.00")]
    assert _fresh(certificate).balance == 0
    assert certificates_unbalanced() == []
    assert_ledger_consistent()


# --- The admin -------------------------------------------------------------------------------


def test_the_admin_emits_exports_sells_and_blocks_certificates(world, admin_client):
    from django.urls import reverse

    series = _series(world)
    url = reverse("admin:loyalty_certificateseries_emit", args=[series.pk])
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"count": "0"}).status_code == 200  # the form's error
    assert admin_client.post(url, {"count": "3"}).status_code == 302
    assert series.certificates.count() == 3
    exported = admin_client.post(
        reverse("admin:loyalty_certificateseries_changelist"),
        {"action": "export_certificates", "_selected_action": [series.pk]},
    )
    lines = b"".join(exported.streaming_content).decode().splitlines()
    assert lines[0] == "series,code,printed_code,nominal,status,expires_at"
    assert len(lines) == 4
    changelist = reverse("admin:loyalty_giftcertificate_changelist")
    ids = list(series.certificates.values_list("pk", flat=True))
    admin_client.post(changelist, {"action": "activate", "_selected_action": ids})
    assert set(series.certificates.values_list("status", flat=True)) == {"active"}
    # block asks for a reason first, then blocks
    asked = admin_client.post(changelist, {"action": "block", "_selected_action": ids[:1]})
    assert asked.status_code == 200
    assert b"reason" in asked.content
    admin_client.post(
        changelist, {"action": "block", "_selected_action": ids[:1], "reason": "lost by owner"}
    )
    blocked = GiftCertificate.objects.get(pk=ids[0])
    assert (blocked.status, blocked.blocked_reason) == ("blocked", "lost by owner")
    admin_client.post(changelist, {"action": "unblock", "_selected_action": ids[:1]})
    assert GiftCertificate.objects.get(pk=ids[0]).status == "active"
    found = admin_client.get(changelist, {"q": display_code(blocked.code).lower()})
    assert blocked.code in found.content.decode()
    page = admin_client.get(reverse("admin:loyalty_giftcertificate_change", args=[ids[0]]))
    assert page.status_code == 200
