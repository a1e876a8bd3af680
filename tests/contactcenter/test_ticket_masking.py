"""A ticket's own contact email and phone are masked in the ticket admin, as the customer's
are, for operators who may not see contacts, unless they work on that ticket (or another open
ticket of its customer); saving a masked ticket keeps the stored contacts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contactcenter.models import Ticket
from contactcenter.services import ticket_open
from tests.contactcenter.test_console import grant
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db
PHONE = "+79161234567"
EMAIL = "irina@example.com"


@pytest.fixture
def ticket(category, django_user_model):
    colleague = django_user_model.objects.create_user("colleague", is_staff=True)
    return ticket_open(
        channel=Ticket.Channel.CALL,
        category=category,
        subject="Lost card",
        customer=CustomerFactory(phone=PHONE, email=EMAIL),
        contact_email=EMAIL,
        contact_phone=PHONE,
        actor=colleague,
        assignee=colleague,
    )


@pytest.fixture
def operator_client(client, operator):
    user = grant(operator, "view_ticket", "change_ticket")
    client.force_login(user)
    return client, user


def test_another_operators_ticket_shows_the_contacts_masked(ticket, operator_client):
    client, _user = operator_client
    page = client.get(reverse("admin:contactcenter_ticket_change", args=[ticket.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert PHONE not in body
    assert EMAIL not in body
    assert "+7 *** ***-**-67" in body
    assert "contact_phone" not in page.context["adminform"].form.fields


def test_saving_a_masked_ticket_keeps_its_contacts(ticket, operator_client):
    client, _user = operator_client
    url = reverse("admin:contactcenter_ticket_change", args=[ticket.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update({"subject": "Lost card, blocked"})
    for prefix in ("comments", "attachments", "escalations", "events"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    client.post(url, data)
    ticket.refresh_from_db()
    assert ticket.subject == "Lost card, blocked"  # the form was saved
    assert (ticket.contact_phone, ticket.contact_email) == (PHONE, EMAIL)


def test_the_assignee_and_users_who_may_see_contacts_see_them(ticket, operator_client):
    client, user = operator_client
    url = reverse("admin:contactcenter_ticket_change", args=[ticket.pk])
    Ticket.objects.filter(pk=ticket.pk).update(assignee=user)
    assert PHONE in client.get(url).content.decode()
    Ticket.objects.filter(pk=ticket.pk).update(assignee=None)
    client.force_login(grant(user, "view_contacts"))
    assert PHONE in client.get(url).content.decode()


def test_the_outbox_masks_addresses_for_users_who_may_not_see_contacts(client, operator):
    from communications.models import Message
    from crm.models import Consent

    customer = CustomerFactory(phone=PHONE, email=EMAIL)
    message = Message.objects.create(
        customer=customer, channel=Consent.Channel.SMS, address=PHONE, text="Hello"
    )
    user = grant(operator, "view_message", app="communications")
    client.force_login(user)
    listing = client.get(reverse("admin:communications_message_changelist")).content.decode()
    page = client.get(reverse("admin:communications_message_change", args=[message.pk]))
    for body in (listing, page.content.decode()):
        assert PHONE not in body
        assert "+7 *** ***-**-67" in body
    client.force_login(grant(user, "view_contacts"))
    assert PHONE in client.get(reverse("admin:communications_message_changelist")).content.decode()
