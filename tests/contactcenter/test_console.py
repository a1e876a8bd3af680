"""The operator console: search, the customer page and its forms, masking and reveal (console and
customer admin), pending approvals, permissions and the query budget."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import AuditEvent
from communications.models import Message
from contactcenter.masking import (
    contacts_visible,
    customers_unmasked_for,
    mask_email,
    mask_phone,
)
from contactcenter.models import Adjustment, AdjustmentPolicy, Ticket
from contactcenter.services import ticket_open, ticket_transition
from crm.models import Consent
from loyalty.models import Account, Card, CardOperation
from tests.factories.crm import ConsentFactory, CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, CardFactory, CurrencyFactory

pytestmark = pytest.mark.django_db

PHONE = "+79161234567"


def grant(user, *codenames, app="contactcenter"):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label=app, codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def customer(db):
    customer = CustomerFactory(
        first_name="Irina", last_name="Sokolova", phone=PHONE, email="irina@example.com"
    )
    ConsentFactory(customer=customer, channel=Consent.Channel.SMS)
    return customer


@pytest.fixture
def console_operator(operator):
    user = grant(operator, "use_console")
    return grant(user, "view_customer", "change_customer", app="crm")


@pytest.fixture
def client_op(client, console_operator):
    client.force_login(console_operator)
    return client


@pytest.fixture
def currency(db):
    currency = CurrencyFactory()
    AdjustmentPolicy.objects.create(currency=currency, approval_threshold=Decimal("500"))
    return currency


def open_ticket(category, customer, user):
    return ticket_open(
        channel=Ticket.Channel.CALL,
        category=category,
        subject="Call",
        customer=customer,
        actor=user,
        assignee=user,
    )


# --- masks -------------------------------------------------------------------------------------


def test_masks():
    assert mask_phone("+79161234567") == "+7 *** ***-**-67"
    assert mask_email("irina@example.com") == "i***@example.com"
    assert mask_phone("") == ""
    assert mask_email(None) == ""


def test_contacts_unmask_for_a_ticket_the_operator_works_until_it_is_closed(
    customer, console_operator, category, django_user_model
):
    other = django_user_model.objects.create_user("other", is_staff=True)
    assert not contacts_visible(console_operator, customer)
    # when: the operator opens a ticket for the customer
    ticket = open_ticket(category, customer, console_operator)
    # then: they see the contacts, a colleague does not
    assert contacts_visible(console_operator, customer)
    assert not contacts_visible(other, customer)
    # when: the ticket is closed
    ticket_transition(ticket, Ticket.Status.CLOSED, actor=console_operator)
    assert not contacts_visible(console_operator, customer)


def test_supervisors_see_every_contact(customer, django_user_model):
    boss = grant(django_user_model.objects.create_user("boss", is_staff=True), "view_contacts")
    assert customers_unmasked_for(boss, [customer.pk]) == {customer.pk}


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["8 (916) 123-45-67", "+7 916 123 45 67", "79161234567"])
def test_search_by_phone_in_any_notation_opens_the_customer(client_op, customer, query):
    response = client_op.get(reverse("console:search"), {"q": query})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:customer", args=[customer.pk])


def test_search_by_card_email_and_name(client_op, customer):
    card = ActiveCardFactory(customer=customer)
    for query in (card.number, "IRINA@example.com", "sokol"):
        response = client_op.get(reverse("console:search"), {"q": query})
        assert response.status_code == 302, query


def test_several_matches_are_listed_masked(client_op, customer):
    CustomerFactory(first_name="Irina", last_name="Sokolovskaya", phone="+79161234500")
    response = client_op.get(reverse("console:search"), {"q": "Sokol"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Sokolovskaya" in page
    assert "+7 *** ***-**-67" in page
    assert PHONE not in page
    assert "irina@example.com" not in page


def test_nothing_found_says_so(client_op, customer):
    response = client_op.get(reverse("console:search"), {"q": "Nobody"})
    assert 'id="no-results"' in response.content.decode()


# --- the customer page ---------------------------------------------------------------------


def test_customer_page_masks_contacts_until_a_ticket_is_opened(
    client_op, customer, category, console_operator
):
    url = reverse("console:customer", args=[customer.pk])
    page = client_op.get(url).content.decode()
    assert "+7 *** ***-**-67" in page
    assert PHONE not in page
    assert "i***@example.com" in page
    assert "irina@example.com" not in page
    # when: a ticket is opened through the console
    response = client_op.post(
        reverse("console:ticket_open", args=[customer.pk]),
        {"category": category.pk, "subject": "Missing points", "body": ""},
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(customer=customer)
    assert ticket.assignee == console_operator
    # then
    page = client_op.get(url).content.decode()
    assert PHONE in page
    assert "irina@example.com" in page


def test_reveal_shows_the_value_and_is_recorded(client_op, customer, console_operator):
    # when
    response = client_op.post(reverse("console:reveal", args=[customer.pk, "phone"]), follow=True)
    # then
    assert PHONE in response.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVEAL)
    assert (event.user, event.object_id, event.after) == (
        console_operator,
        str(customer.pk),
        {"field": "phone"},
    )


def test_reveal_needs_a_post(client_op, customer):
    response = client_op.get(reverse("console:reveal", args=[customer.pk, "phone"]))
    assert response.status_code == 405
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()


def test_customer_page_stays_within_its_query_budget(
    client_op, customer, currency, category, console_operator, django_assert_max_num_queries
):
    # given: cards, a ticket, an adjustment, messages
    ActiveCardFactory(customer=customer)
    CardFactory(customer=customer, status=Card.Status.ISSUED)
    open_ticket(category, customer, console_operator)
    client_op.post(
        reverse("console:adjust", args=[customer.pk]),
        {
            "direction": "credit",
            "amount": "50",
            "currency": currency.pk,
            "ticket": Ticket.objects.get(customer=customer).pk,
            "reason": "goodwill",
            "notify": "on",
        },
    )
    url = reverse("console:customer", args=[customer.pk])
    # when / then
    # the customer 360's parts, each read once (test_customer_360 checks that the count does
    # not grow with the rows): 28 before the segments (members, entries and exits) and the
    # RFM cells (scores, cell changes) took two queries each, and the contact verifications'
    # state one
    with django_assert_max_num_queries(33):
        response = client_op.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="balances"' in page
    assert "50" in page


def test_adjustment_form_posts_within_the_threshold(
    client_op, customer, currency, category, console_operator
):
    ticket = open_ticket(category, customer, console_operator)
    response = client_op.post(
        reverse("console:adjust", args=[customer.pk]),
        {
            "direction": "credit",
            "amount": "120",
            "currency": currency.pk,
            "ticket": ticket.pk,
            "reason": "goodwill",
        },
        follow=True,
    )
    assert "The adjustment is posted." in response.content.decode()
    assert Account.objects.get(customer=customer).balance == Decimal("120")
    assert not Message.objects.exists()  # notify unticked


def test_adjustment_form_refuses_an_overdraft_with_a_clear_error(
    client_op, customer, currency, category, console_operator
):
    ticket = open_ticket(category, customer, console_operator)
    response = client_op.post(
        reverse("console:adjust", args=[customer.pk]),
        {
            "direction": "debit",
            "amount": "10",
            "currency": currency.pk,
            "ticket": ticket.pk,
            "reason": "duplicate",
        },
        follow=True,
    )
    assert "does not have enough points" in response.content.decode()
    assert not Adjustment.objects.exists()


def test_adjustment_needs_a_reason(client_op, customer, currency, category, console_operator):
    ticket = open_ticket(category, customer, console_operator)
    response = client_op.post(
        reverse("console:adjust", args=[customer.pk]),
        {"direction": "credit", "amount": "10", "currency": currency.pk, "ticket": ticket.pk},
        follow=True,
    )
    assert "The adjustment was not made" in response.content.decode()
    assert not Adjustment.objects.exists()


def test_card_block_and_activate(client_op, customer, console_operator):
    card = ActiveCardFactory(customer=customer)
    client_op.post(
        reverse("console:card", args=[customer.pk, card.pk, "block"]), {"reason": "stolen"}
    )
    card.refresh_from_db()
    assert (card.status, card.block_reason) == (Card.Status.BLOCKED, "stolen")
    assert CardOperation.objects.get(card=card).actor == console_operator
    new = CardFactory(customer=customer, status=Card.Status.ISSUED)
    client_op.post(reverse("console:card", args=[customer.pk, new.pk, "activate"]))
    assert Card.objects.get(pk=new.pk).status == Card.Status.ACTIVE


def test_card_replace(client_op, customer):
    card = ActiveCardFactory(customer=customer)
    spare = CardFactory(programme=card.programme)
    client_op.post(
        reverse("console:card", args=[customer.pk, card.pk, "replace"]),
        {"new_number": spare.number},
    )
    assert Card.objects.get(pk=card.pk).status == Card.Status.REPLACED
    assert Card.objects.get(pk=spare.pk).customer == customer


def test_another_customers_card_is_not_found(client_op, customer):
    card = ActiveCardFactory()
    response = client_op.post(reverse("console:card", args=[customer.pk, card.pk, "activate"]))
    assert response.status_code == 404


def test_resend_queues_the_message_again(client_op, customer):
    message = Message.objects.create(
        customer=customer, channel=Consent.Channel.SMS, address=PHONE, text="Your code: 1234"
    )
    client_op.post(reverse("console:resend", args=[customer.pk]), {"message": message.pk})
    assert Message.objects.filter(customer=customer, text="Your code: 1234").count() == 2


# --- approvals and permissions ----------------------------------------------------------------


def test_supervisor_approves_in_the_console(
    client, customer, currency, category, console_operator, django_user_model
):
    from contactcenter.adjustments import adjustment_request

    ticket = open_ticket(category, customer, console_operator)
    adjustment = adjustment_request(
        customer=customer,
        currency=currency,
        amount=Decimal("800"),
        reason="lost receipt",
        ticket=ticket,
        user=console_operator,
    )
    boss = grant(
        django_user_model.objects.create_user("boss", is_staff=True),
        "use_console",
        "approve_adjustment",
    )
    client.force_login(boss)
    page = client.get(reverse("console:adjustments")).content.decode()
    assert f'id="adjustment-{adjustment.pk}"' in page
    client.post(reverse("console:decide", args=[adjustment.pk, "approve"]))
    assert Adjustment.objects.get(pk=adjustment.pk).status == Adjustment.Status.APPLIED
    assert Account.objects.get(customer=customer).balance == Decimal("800")


def test_operators_cannot_open_the_approvals(client_op):
    assert client_op.get(reverse("console:adjustments")).status_code == 403


def test_the_console_needs_its_permission(client, operator, customer):
    client.force_login(operator)
    assert client.get(reverse("console:search")).status_code == 403
    client.logout()
    response = client.get(reverse("console:search"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- the customer admin --------------------------------------------------------------------


def results(response) -> str:
    page = response.content.decode()
    start = page.index('id="result_list"')
    return page[start : page.index("</table>", start)]


def test_customer_admin_masks_list_search_and_change_page(
    client_op, customer, category, console_operator
):
    changelist = reverse("admin:crm_customer_changelist")
    # search by the full phone still finds them, shown masked
    # (the search box keeps what the operator typed; the results show it masked)
    page = results(client_op.get(changelist, {"q": PHONE}))
    assert "+7 *** ***-**-67" in page
    assert PHONE not in page
    assert "irina@example.com" not in page
    page = results(client_op.get(changelist, {"q": "irina@example.com"}))
    assert "i***@example.com" in page
    assert "irina@example.com" not in page
    change = reverse("admin:crm_customer_change", args=[customer.pk])
    page = client_op.get(change).content.decode()
    assert PHONE not in page
    assert "irina@example.com" not in page
    assert 'id="reveal-phone"' in page
    # a save of the masked page keeps the stored contacts
    client_op.post(change, {"first_name": "Irina", "last_name": "Sokolova", "_save": "1"})
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == (PHONE, "irina@example.com")
    # with a ticket, the admin shows them
    open_ticket(category, customer, console_operator)
    page = client_op.get(change).content.decode()
    assert PHONE in page


def test_reveal_from_the_admin_page_returns_there(client_op, customer):
    change = reverse("admin:crm_customer_change", args=[customer.pk])
    url = reverse("console:reveal", args=[customer.pk, "email"])
    response = client_op.post(f"{url}?next={change}")
    assert response.status_code == 302
    assert response["Location"] == change
    page = client_op.get(change).content.decode()
    assert "irina@example.com" in page  # in the message, once
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).count() == 1


def test_reveal_never_redirects_off_site(client_op, customer):
    url = reverse("console:reveal", args=[customer.pk, "phone"])
    response = client_op.post(f"{url}?next=https://evil.example/")
    assert response["Location"] == reverse("console:customer", args=[customer.pk])


def test_the_ticket_admin_links_its_adjustments(
    admin_client, customer, currency, category, console_operator
):
    from contactcenter.adjustments import adjustment_request

    ticket = open_ticket(category, customer, console_operator)
    adjustment = adjustment_request(
        customer=customer,
        currency=currency,
        amount=Decimal("900"),
        reason="lost receipt",
        ticket=ticket,
        user=console_operator,
    )
    page = admin_client.get(
        reverse("admin:contactcenter_ticket_change", args=[ticket.pk])
    ).content.decode()
    assert reverse("admin:contactcenter_adjustment_change", args=[adjustment.pk]) in page
    assert reverse("console:customer", args=[customer.pk]) in page
