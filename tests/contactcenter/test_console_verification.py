"""The operator console's contact verification: badges, "Send a verification code/link" and
"Enter the code" for staff who may change customers; the code never shown to the operator."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from communications.models import Message
from crm.models import ContactVerification
from tests.contactcenter.test_console import grant
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return CustomerFactory(phone="+79161234567", email="irina@example.com", email_verified=True)


@pytest.fixture
def verifier(operator):
    user = grant(operator, "use_console")
    return grant(user, "view_customer", "change_customer", app="crm")


@pytest.fixture
def client_v(client, verifier):
    client.force_login(verifier)
    return client


def page_of(client, customer) -> str:
    return client.get(reverse("console:customer", args=[customer.pk])).content.decode()


def code_of(customer) -> str:
    text = Message.objects.get(customer=customer, channel="sms").text
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_the_page_shows_badges_and_the_actions(client_v, customer):
    page = page_of(client_v, customer)
    assert re.search(r'class="badge unverified" id="phone-badge"', page)
    assert re.search(r'class="badge verified" id="email-badge"', page)
    assert 'id="verify-send-sms"' in page
    assert 'id="verify-send-email"' in page
    assert 'id="verify-code-form"' in page


def test_the_operator_sends_a_code_and_enters_what_the_customer_reads_out(client_v, customer):
    # when
    response = client_v.post(reverse("console:verify_send", args=[customer.pk, "sms"]))
    assert response.status_code == 302
    code = code_of(customer)
    # then the page shows the waiting code's state, never the code (nor in the messages list)
    page = page_of(client_v, customer)
    assert code not in page
    assert 'data-state="waiting"' in page
    assert "a verification code or link (hidden)" in page
    # when the customer reads it out
    client_v.post(
        reverse("console:verify_code", args=[customer.pk]), {"channel": "sms", "code": code}
    )
    # then
    customer.refresh_from_db()
    assert customer.phone_verified
    assert re.search(r'class="badge verified" id="phone-badge"', page_of(client_v, customer))


def test_a_wrong_code_is_told_and_counted(client_v, customer):
    client_v.post(reverse("console:verify_send", args=[customer.pk, "sms"]))
    wrong = f"{(int(code_of(customer)) + 1) % 1_000_000:06d}"
    response = client_v.post(
        reverse("console:verify_code", args=[customer.pk]),
        {"channel": "sms", "code": wrong},
        follow=True,
    )
    assert "The code is wrong." in response.content.decode()
    assert ContactVerification.objects.get(customer=customer).attempts == 1


def test_an_email_link_is_sent_from_the_console(client_v, customer):
    client_v.post(reverse("console:verify_send", args=[customer.pk, "email"]))
    message = Message.objects.get(customer=customer, channel="email")
    assert "http://testserver/verify/email/" in message.text
    assert message.address == "irina@example.com"


def test_the_rate_limit_is_an_error_message(client_v, customer, settings):
    settings.CONTACT_VERIFICATION_MAX_PER_HOUR = 1
    url = reverse("console:verify_send", args=[customer.pk, "sms"])
    client_v.post(url)
    response = client_v.post(url, follow=True)
    assert "Too many codes and links" in response.content.decode()
    assert Message.objects.filter(customer=customer).count() == 1


def test_a_verification_message_is_not_resent(client_v, customer):
    client_v.post(reverse("console:verify_send", args=[customer.pk, "sms"]))
    message = Message.objects.get(customer=customer)
    response = client_v.post(
        reverse("console:resend", args=[customer.pk]), {"message": message.pk}, follow=True
    )
    assert "A verification code is not resent" in response.content.decode()
    assert Message.objects.filter(customer=customer).count() == 1


def test_an_unknown_channel_is_refused(client_v, customer):
    url = reverse("console:verify_send", args=[customer.pk, "viber"])
    assert client_v.post(url).status_code == 403


def test_operators_who_may_not_change_customers_get_no_actions(client, operator, customer):
    user = grant(operator, "use_console")
    user = grant(user, "view_customer", app="crm")
    client.force_login(user)
    page = page_of(client, customer)
    assert 'id="verify-send-sms"' not in page
    assert 'id="phone-badge"' in page  # the badges are for everyone who sees the page
    for url in (
        reverse("console:verify_send", args=[customer.pk, "sms"]),
        reverse("console:verify_code", args=[customer.pk]),
    ):
        assert client.post(url, {"channel": "sms", "code": "123456"}).status_code == 403
    assert not ContactVerification.objects.exists()


def test_sending_needs_a_post(client_v, customer):
    url = reverse("console:verify_send", args=[customer.pk, "sms"])
    assert client_v.get(url).status_code == 405
    assert not ContactVerification.objects.exists()
