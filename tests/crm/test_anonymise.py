"""Anonymising a customer on request erases the person everywhere (profile, answers, family,
cars, dates, consents, tickets' contacts, messages, the audit trail) and keeps the accounting
(balances, ledger, receipts) exactly as it was."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from audit.models import AuditEvent
from audit.trail import audit_context
from communications.models import Message
from communications.services import messages_queue
from crm.errors import AlreadyAnonymised, AnonymiseReasonRequired
from crm.models import Car, Consent, Customer, FamilyMember, MemorableDate, ProfileAnswer
from crm.services.anonymisation import customer_anonymise
from loyalty.models import Account, Card, LedgerEntry, Receipt
from loyalty.reconciliation import ledger_violations
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.contactcenter import TicketFactory
from tests.factories.crm import ConsentFactory, FamilyMemberFactory, ProfileQuestionFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db

PERSONAL = ["Anna", "Ivanova", "Petrovna", "+79005550101", "anna.i@mail.example", "1990-05-17"]
PERSONAL += ["A123BC77", "Masha", "wedding of Anna", "loves cats", "2015-06-01"]


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("olga", password="x", is_staff=True)


@pytest.fixture
def world(staff):
    world = coalition()
    customer = world.customer
    with audit_context(user=staff, address="10.0.0.7"):
        customer.first_name, customer.last_name, customer.middle_name = (
            "Anna",
            "Ivanova",
            "Petrovna",
        )
        customer.phone, customer.email = "+79005550101", "anna.i@mail.example"
        customer.birth_date = datetime.date(1990, 5, 17)
        customer.comment = "loves cats"
        customer.save()
        question = ProfileQuestionFactory()
        ProfileAnswer.objects.create(customer=customer, question=question, value_text="loves cats")
        FamilyMemberFactory(customer=customer, name="Masha")
        Car.objects.create(customer=customer, make="Lada", model="Vesta", plate="A123BC77")
        MemorableDate.objects.create(
            customer=customer,
            kind=MemorableDate.Kind.WEDDING,
            title="wedding of Anna",
            date=datetime.date(2015, 6, 1),
        )
        ConsentFactory(customer=customer, channel=Consent.Channel.SMS)
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="R1",
            card=world.card.number,
            lines=(PurchaseLine(line_no=1, sku="A", quantity=Decimal("1"), price=Decimal("500")),),
        ),
    )
    TicketFactory(
        customer=customer,
        card=world.card,
        contact_email="anna.i@mail.example",
        contact_phone="+79005550101",
    )
    messages_queue(customer, "Anna, your points are waiting")
    return world


def accounting(customer):
    return (
        list(Account.objects.filter(customer=customer).values_list("pk", "balance")),
        list(Receipt.objects.filter(customer=customer).values_list("pk", "total", "status")),
        LedgerEntry.objects.filter(account__customer=customer).count(),
    )


def test_anonymising_erases_the_person_and_keeps_the_accounting(world, staff):
    # given
    customer = world.customer
    kept = accounting(customer)
    assert Message.objects.filter(customer=customer).exists()
    # when
    with audit_context(user=staff, address="10.0.0.7"):
        customer_anonymise(customer=customer, user=staff, reason="letter of 1 December")
    # then: the row
    customer.refresh_from_db()
    assert customer.is_anonymised
    assert customer.anonymised_at is not None
    row = str(Customer.objects.filter(pk=customer.pk).values().get())
    for value in PERSONAL:
        assert value not in row, value
    # the profile tables
    for model in (ProfileAnswer, FamilyMember, Car, MemorableDate):
        assert not model.objects.filter(customer=customer).exists(), model
    assert not Consent.objects.filter(customer=customer, is_granted=True).exists()
    # tickets and messages
    ticket = customer.tickets.get()
    assert (ticket.contact_email, ticket.contact_phone) == ("", "")
    assert ticket.card_id == world.card.pk
    for message in Message.objects.filter(customer=customer):
        assert (message.address, message.text) == ("", "")
        assert message.status != Message.Status.QUEUED
    # the audit trail holds none of it
    for event in AuditEvent.objects.all():
        text = f"{event.before} {event.after} {event.object_repr} {event.note}"
        for value in PERSONAL:
            assert value not in text, (value, event.action, event.object_repr)
    event = AuditEvent.objects.get(action=AuditEvent.Action.ANONYMISE)
    assert (event.username, event.note) == ("olga", "letter of 1 December")
    assert "phone" in event.before["fields"]
    assert event.after["cards_blocked"] == 1
    # the card stays bound but is blocked; the accounting is untouched
    card = Card.objects.get(pk=world.card.pk)
    assert (card.customer_id, card.status) == (customer.pk, Card.Status.BLOCKED)
    assert accounting(customer) == kept
    assert ledger_violations() == []
    # and nothing new is queued for them
    messages_queue(customer, "Hello again")
    assert not Message.objects.filter(customer=customer, status=Message.Status.QUEUED).exists()


def test_a_second_request_is_refused_and_changes_nothing(world, staff):
    customer_anonymise(customer=world.customer, user=staff, reason="letter")
    events = AuditEvent.objects.count()
    with pytest.raises(AlreadyAnonymised):
        customer_anonymise(customer=world.customer, user=staff, reason="again")
    assert AuditEvent.objects.count() == events


def test_a_reason_is_required(world, staff):
    with pytest.raises(AnonymiseReasonRequired):
        customer_anonymise(customer=world.customer, user=staff, reason="  ")
    world.customer.refresh_from_db()
    assert not world.customer.is_anonymised


def test_the_admin_action_asks_for_a_reason_then_anonymises(world, admin_client):
    url = "/admin/crm/customer/"
    data = {"action": "anonymise", "_selected_action": [world.customer.pk]}
    confirm = admin_client.post(url, data)
    assert confirm.status_code == 200
    assert b'name="reason"' in confirm.content
    done = admin_client.post(url, {**data, "reason": "letter of 1 December"})
    assert done.status_code == 302
    world.customer.refresh_from_db()
    assert world.customer.is_anonymised
    event = AuditEvent.objects.get(action=AuditEvent.Action.ANONYMISE)
    assert (event.source, event.username) == ("admin", "admin")


def test_without_the_permission_the_action_is_refused(world, client):
    # given: staff who may change customers, but not anonymise them
    user = get_user_model().objects.create_user("petr", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_customer", "change_customer"])
    )
    client.force_login(user)
    pk = world.customer.pk
    # when / then
    assert client.get(f"/admin/crm/customer/{pk}/anonymise/").status_code == 403
    assert client.post(f"/admin/crm/customer/{pk}/anonymise/", {"reason": "x"}).status_code == 403
    client.post(
        "/admin/crm/customer/",
        {"action": "anonymise", "_selected_action": [pk], "reason": "x"},
    )
    page = client.get(f"/admin/crm/customer/{pk}/change/")
    assert b"anonymise-link" not in page.content
    world.customer.refresh_from_db()
    assert not world.customer.is_anonymised


def test_the_permission_opens_the_customer_page_button(world, client):
    user = get_user_model().objects.create_user("vera", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_customer", "change_customer", "anonymise_customer"]
        )
    )
    client.force_login(user)
    pk = world.customer.pk
    page = client.get(f"/admin/crm/customer/{pk}/change/")
    assert b"anonymise-link" in page.content
    response = client.post(f"/admin/crm/customer/{pk}/anonymise/", {"reason": "phone call"})
    assert response.status_code == 302
    world.customer.refresh_from_db()
    assert world.customer.is_anonymised
