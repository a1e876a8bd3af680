"""Card summary, customer lookup and registration at the till (pos-api.md, "The card summary")."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Consent, Customer
from loyalty.models import Account, Card, CardBatch, Lot, Posting, Terminal, TierMembership
from loyalty.selectors import card_summary, customer_summary
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    postings_create,
    programme_account,
)
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CardFactory, TierFactory
from tests.processing.api.conftest import API, assert_problem

pytestmark = pytest.mark.django_db

D = Decimal


def _earn(world, amount: str, *, expires_in_days: int | None = None, pending=False):
    """Post points to the world's customer the way a purchase would."""
    now = timezone.now()
    account = customer_account(world.customer, world.currency)
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.EARN,
                cause=Posting.Cause.ADJUSTMENT,
                cause_ref="test",
                actor=Actor.system("test"),
                legs=[
                    Leg(
                        account=account,
                        amount=D(amount),
                        bucket="pending" if pending else "active",
                        active_at=now + timedelta(days=1) if pending else now,
                        expires_at=(
                            now + timedelta(days=expires_in_days) if expires_in_days else None
                        ),
                    ),
                    Leg(account=programme_account(world.currency), amount=-D(amount)),
                ],
                occurred_at=now,
            )
        ]
    )
    return account


class TestCardSummary:
    def test_the_summary_has_the_contract_shape(self, world, client):
        # given a customer in a tier with active, pending, expiring and held points
        tier = TierFactory(programme=world.programme, name="Silver")
        TierMembership.objects.create(customer=world.customer, programme=world.programme, tier=tier)
        _earn(world, "100.00", expires_in_days=10)
        _earn(world, "50.00", expires_in_days=10)
        _earn(world, "25.50", expires_in_days=90)
        _earn(world, "40.00", pending=True)
        Account.objects.filter(customer=world.customer).update(held=D("5"))
        # when the register reads the card
        response = client.get(API + "cards/" + world.card.number)
        # then
        assert response.status_code == 200
        expiry_date = timezone.localdate(timezone.now() + timedelta(days=10)).isoformat()
        assert response.json() == {
            "card": {"number": world.card.number, "status": "active", "type": "loyalty"},
            "customer": {
                "id": world.customer.public_id,
                "first_name": "Anna",
                "tier": "Silver",
                "referral_code": world.customer.referral_code,
            },
            "balances": [
                {
                    "currency": "bonus",
                    "active": "175.50",
                    "pending": "40.00",
                    "held": "5.00",
                    "expiring": [{"amount": "150.00", "date": expiry_date}],
                }
            ],
        }

    def test_a_customer_without_points_has_no_balances(self, world, client):
        data = client.get(API + "cards/" + world.card.number).json()
        assert data["balances"] == []
        assert data["customer"]["tier"] is None

    def test_an_unbound_card_has_no_customer(self, world, client):
        card = CardFactory(programme=world.programme)
        data = client.get(API + "cards/" + card.number).json()
        assert data == {
            "card": {"number": card.number, "status": "new", "type": "loyalty"},
            "customer": None,
            "balances": [],
        }

    def test_a_blocked_card_shows_its_status(self, world, client):
        Card.objects.filter(pk=world.card.pk).update(
            status=Card.Status.BLOCKED, blocked_at=timezone.now()
        )
        assert client.get(API + "cards/" + world.card.number).json()["card"]["status"] == "blocked"

    @pytest.mark.parametrize("number", ["0000000000000", "x" * 40, "%00"])
    def test_an_unknown_card_is_404(self, world, client, number):
        assert_problem(client.get(API + "cards/" + number), 404, "card_not_found")

    def test_the_summary_takes_few_queries(self, world, django_assert_num_queries):
        _earn(world, "10.00", expires_in_days=5)
        card = Card.objects.select_related("customer").get(pk=world.card.pk)
        # tier (and, for a customer no purchase has placed yet, the entry tier), accounts +
        # currency, lots
        with django_assert_num_queries(4):
            card_summary(card)

    def test_a_customer_no_purchase_placed_yet_stands_in_the_entry_tier(self, world):
        from tests.factories.loyalty import TierFactory

        TierFactory(programme=world.programme, code="gold", rank=2, threshold=D("500.00"))
        TierFactory(programme=world.programme, code="base", rank=1, threshold=D("0.00"))
        card = Card.objects.select_related("customer").get(pk=world.card.pk)
        base = world.programme.tiers.get(code="base")
        assert card_summary(card)["customer"]["tier"] == base.name

    def test_expired_and_spent_lots_are_not_expiring(self, world):
        account = _earn(world, "10.00", expires_in_days=5)
        Lot.objects.filter(account=account).update(remaining=D("0"))
        (balance,) = customer_summary(world.customer, world.card)["balances"]
        assert balance["expiring"] == []


class TestLookup:
    URL = API + "customers/lookup"

    @pytest.mark.parametrize("phone", ["+79001234567", "8 900 123-45-67", "+7 (900) 123-45-67"])
    def test_any_notation_finds_the_customer(self, world, client, phone):
        Customer.objects.filter(pk=world.customer.pk).update(phone="+79001234567")
        response = client.get(self.URL, {"phone": phone})
        assert response.status_code == 200
        data = response.json()
        assert data["customer"]["id"] == world.customer.public_id
        assert data["card"]["number"] == world.card.number

    def test_an_unknown_phone_is_404(self, world, client):
        assert_problem(client.get(self.URL, {"phone": "+79990000000"}), 404, "customer_not_found")

    @pytest.mark.parametrize("query", [{}, {"phone": ""}, {"phone": "12"}, {"phone": "\x00"}])
    def test_a_missing_or_invalid_phone_is_400(self, world, client, query):
        data = assert_problem(client.get(self.URL, query), 400, "invalid_request")
        assert "phone" in data["errors"]

    def test_a_customer_without_a_card_has_card_null(self, world, client):
        customer = CustomerFactory()
        data = client.get(self.URL, {"phone": customer.phone}).json()
        assert data["card"] is None
        assert data["customer"]["id"] == customer.public_id


class TestRegistration:
    URL = API + "customers"

    def test_registration_issues_a_virtual_card(self, world, client):
        # when a till registers a customer without a card
        response = client.post(
            self.URL,
            {"phone": "8 900 123-45-67", "first_name": "Anna", "consents": {"sms": True}},
            format="json",
        )
        # then the customer exists, with a virtual active card, and the summary is returned
        assert response.status_code == 201, response.content
        data = response.json()
        customer = Customer.objects.get(public_id=data["customer"]["id"])
        assert customer.phone == "+79001234567"
        assert customer.source == Customer.Source.POS
        card = Card.objects.get(number=data["card"]["number"])
        assert card.customer == customer
        assert card.is_virtual
        assert card.status == Card.Status.ACTIVE
        assert card.programme == world.programme
        assert card.batch.source == CardBatch.Source.VIRTUAL
        assert data["card"] == {"number": card.number, "status": "active", "type": "loyalty"}
        assert data["balances"] == []
        assert Consent.objects.get(customer=customer, channel="sms").is_granted

    def test_virtual_cards_share_one_batch_and_never_a_number(self, world, client):
        numbers = set()
        for n in range(3):
            response = client.post(
                self.URL, {"phone": f"+7900555000{n}", "first_name": "A"}, format="json"
            )
            numbers.add(response.json()["card"]["number"])
        assert len(numbers) == 3
        assert CardBatch.objects.filter(source=CardBatch.Source.VIRTUAL).count() == 1

    def test_registration_binds_the_card_handed_over(self, world, client):
        card = CardFactory(programme=world.programme)
        response = client.post(
            self.URL,
            {"phone": "+79001112233", "first_name": "Ivan", "last_name": "P", "card": card.number},
            format="json",
        )
        assert response.status_code == 201, response.content
        card.refresh_from_db()
        assert card.customer.phone == "+79001112233"
        assert card.status == Card.Status.ACTIVE
        assert response.json()["card"]["number"] == card.number
        assert not Card.objects.filter(is_virtual=True).exists()

    def test_a_known_phone_in_another_notation_is_409_with_the_summary(
        self, world, client, row_counts
    ):
        # given a customer registered as +7 (900) 123-45-67
        Customer.objects.filter(pk=world.customer.pk).update(phone="+79001234567")
        before = row_counts()
        # when the till registers "8 900 123-45-67"
        response = client.post(
            self.URL, {"phone": "8 900 123-45-67", "first_name": "Anna"}, format="json"
        )
        # then it is the same customer: 409 with their summary, nothing written
        data = assert_problem(response, 409, "customer_exists")
        assert data["customer"]["id"] == world.customer.public_id
        assert data["card"]["number"] == world.card.number
        assert data["balances"] == []
        assert row_counts() == before

    def test_an_unknown_card_is_404_and_nothing_is_written(self, world, client, row_counts):
        before = row_counts()
        response = client.post(
            self.URL, {"phone": "+79001112233", "first_name": "I", "card": "0000"}, format="json"
        )
        assert_problem(response, 404, "card_not_found")
        assert row_counts() == before

    def test_a_card_of_someone_else_is_409(self, world, client, row_counts):
        before = row_counts()
        response = client.post(
            self.URL,
            {"phone": "+79001112233", "first_name": "I", "card": world.card.number},
            format="json",
        )
        assert_problem(response, 409, "card_bound")
        assert row_counts() == before

    def test_a_blocked_card_is_409(self, world, client):
        card = CardFactory(
            programme=world.programme, status=Card.Status.BLOCKED, blocked_at=timezone.now()
        )
        response = client.post(
            self.URL,
            {"phone": "+79001112233", "first_name": "I", "card": card.number},
            format="json",
        )
        assert_problem(response, 409, "card_blocked")

    def test_a_referral_code_links_the_friend(self, world, client):
        response = client.post(
            self.URL,
            {
                "phone": "+79001112233",
                "first_name": "I",
                "referral_code": world.customer.referral_code.lower(),
            },
            format="json",
        )
        assert response.status_code == 201
        new = Customer.objects.get(phone="+79001112233")
        assert new.referrer == world.customer

    def test_an_unknown_referral_code_is_422(self, world, client, row_counts):
        before = row_counts()
        response = client.post(
            self.URL,
            {"phone": "+79001112233", "first_name": "I", "referral_code": "NOPE-0000"},
            format="json",
        )
        data = assert_problem(response, 422, "referral_code_unknown")
        assert "referral_code" in data["errors"]
        assert row_counts() == before

    def test_a_taken_email_is_409(self, world, client):
        response = client.post(
            self.URL,
            {"phone": "+79001112233", "first_name": "I", "email": world.customer.email},
            format="json",
        )
        assert_problem(response, 409, "email_taken")

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"first_name": "A"}, "phone"),
            ({"phone": "12", "first_name": "A"}, "phone"),
            ({"phone": "+79001112233"}, "first_name"),
            ({"phone": "+79001112233", "first_name": "A", "email": "nope"}, "email"),
            (
                {"phone": "+79001112233", "first_name": "A", "birth_date": "31.12.1990"},
                "birth_date",
            ),
            (
                {"phone": "+79001112233", "first_name": "A", "consents": {"pigeon": True}},
                "consents.pigeon",
            ),
            (
                {"phone": "+79001112233", "first_name": "A", "consents": {"sms": "maybe"}},
                "consents.sms",
            ),
        ],
    )
    def test_bad_fields_are_400_and_write_nothing(self, world, client, row_counts, body, path):
        before = row_counts()
        data = assert_problem(client.post(self.URL, body, format="json"), 400, "invalid_request")
        assert path in data["errors"], data["errors"]
        assert row_counts() == before

    def test_a_birth_date_in_the_future_is_400(self, world, client):
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        response = client.post(
            self.URL,
            {"phone": "+79001112233", "first_name": "A", "birth_date": tomorrow},
            format="json",
        )
        data = assert_problem(response, 400, "invalid_birth_date")
        assert "birth_date" in data["errors"]

    def test_registration_sends_the_domain_event_after_commit(
        self, world, client, django_capture_on_commit_callbacks
    ):
        from loyalty.signals import customer_registered

        received = []

        def receiver(sender, **kwargs):
            received.append(kwargs)

        customer_registered.connect(receiver)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                client.post(self.URL, {"phone": "+79001112233", "first_name": "A"}, format="json")
        finally:
            customer_registered.disconnect(receiver)
        (event,) = received
        assert event["customer"].phone == "+79001112233"
        assert event["terminal"] == Terminal.objects.get(pk=world.terminal.pk)
        assert event["card"].is_virtual


def test_coupons_are_not_served_yet(world, client):
    data = assert_problem(client.get(API + "coupons/SPRING-7HQ2K"), 404, "coupon_not_found")
    assert data["coupon"] == "SPRING-7HQ2K"


@pytest.mark.parametrize("zone", ["Europe/Moscow", "Asia/Novosibirsk", "Europe/Kaliningrad"])
def test_expiring_points_show_the_last_day_they_can_be_spent(world, client, zone):
    """Points "until 27 December" burn at the midnight that starts the 28th on the clock of the
    store that gave them: the card summary shows the 27th, whatever the server's time zone."""
    import zoneinfo

    from loyalty.models import Store
    from tests.factories.promotions import promotion
    from tests.processing.api.conftest import purchase_body

    Store.objects.filter(pk=world.store.pk).update(timezone=zone)
    last_day = timezone.now().astimezone(zoneinfo.ZoneInfo(zone)).date() + timedelta(days=5)
    promotion(
        world,
        "100 points until the 5th day",
        rewards=[{"kind": "points_fixed", "value": 100, "expires_on": last_day}],
    )
    confirmed = client.post(API + "purchases/confirm", purchase_body(world), format="json")
    assert confirmed.status_code == 200, confirmed.content
    lot = Lot.objects.get(account__customer=world.customer, amount=D("100"))
    assert lot.expires_at.astimezone(zoneinfo.ZoneInfo(zone)).date() == last_day + timedelta(1)
    (balance,) = client.get(API + "cards/" + world.card.number).json()["balances"]
    assert balance["expiring"] == [{"amount": "100.00", "date": last_day.isoformat()}]
