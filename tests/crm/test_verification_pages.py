"""The pages of contact verification: the public page an email link opens (GET shows, only
POST confirms, CSRF, English and Russian) and the customer admin's "Verify contacts" page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from communications.models import Message
from crm.models import ContactVerification, Customer
from tests.crm.test_verification import BASE, send_link
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return CustomerFactory(phone="+79161234567", email="anna@example.com")


def link_path(token: str) -> str:
    return reverse("verify:email", args=[token])


# --- the public page of the email link ------------------------------------------------------------


def test_the_link_is_the_public_page(customer):
    token = send_link(customer)
    assert BASE + link_path(token) in Message.objects.get(customer=customer).text


def test_opening_the_link_shows_a_button_and_verifies_nothing(customer):
    token = send_link(customer)
    # when a mail scanner or the customer opens it
    response = Client().get(link_path(token))
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="verify-form"' in page
    assert "csrfmiddlewaretoken" in page
    assert "a***@example.com" in page
    assert "anna@example.com" not in page
    customer.refresh_from_db()
    assert not customer.email_verified
    assert ContactVerification.objects.get(customer=customer).verified_at is None


def test_pressing_the_button_verifies_the_email(customer):
    token = send_link(customer)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link_path(token)).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(link_path(token), {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 200
    assert 'id="verify-done"' in response.content.decode()
    customer.refresh_from_db()
    assert customer.email_verified


def test_a_post_without_the_csrf_token_verifies_nothing(customer):
    token = send_link(customer)
    response = Client(enforce_csrf_checks=True).post(link_path(token))
    assert response.status_code == 403
    customer.refresh_from_db()
    assert not customer.email_verified


@pytest.mark.parametrize("method", ["put", "delete"])
def test_other_methods_are_not_allowed(customer, method):
    token = send_link(customer)
    assert getattr(Client(), method)(link_path(token)).status_code == 405


def test_a_forged_link_shows_a_named_error(customer):
    token = send_link(customer)
    for response in (
        Client().get(link_path(token[:-2] + "xx")),
        Client().post(link_path("garbage")),
    ):
        assert response.status_code == 400
        assert 'data-code="verification_link_invalid"' in response.content.decode()
    customer.refresh_from_db()
    assert not customer.email_verified


def test_a_superseded_link_says_so(customer):
    first = send_link(customer)
    send_link(customer)
    response = Client().post(link_path(first))
    assert response.status_code == 409
    assert 'data-code="verification_superseded"' in response.content.decode()


def test_a_used_link_says_so(customer):
    token = send_link(customer)
    Client().post(link_path(token))
    response = Client().post(link_path(token))
    assert response.status_code == 409
    assert 'data-code="verification_used"' in response.content.decode()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_page_answers_in_the_visitors_language(customer, language):
    token = send_link(customer)
    response = Client().get(link_path(token), headers={"accept-language": language})
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert 'name="language" value="en"' in page
    assert 'name="language" value="ru"' in page


# --- the customer admin -------------------------------------------------------------------------


def verify_url(customer) -> str:
    return reverse("admin:crm_customer_verify", args=[customer.pk])


def test_the_change_page_links_to_verification(admin_client, customer):
    page = admin_client.get(reverse("admin:crm_customer_change", args=[customer.pk]))
    assert verify_url(customer) in page.content.decode()


def test_staff_send_a_code_and_confirm_it_in_the_admin(admin_client, customer):
    # when a code is sent
    response = admin_client.post(verify_url(customer), {"action": "send_sms"}, follow=True)
    assert "A verification code is queued by SMS to +7916***-**-67." in response.content.decode()
    text = Message.objects.get(customer=customer, channel="sms").text
    code = re.search(r"\b(\d{6})\b", text).group(1)
    # the page never shows it
    assert code not in admin_client.get(verify_url(customer)).content.decode()
    # and when the customer reads it out
    response = admin_client.post(
        verify_url(customer), {"action": "confirm", "channel": "sms", "code": code}, follow=True
    )
    # then
    assert "The phone number is verified." in response.content.decode()
    customer.refresh_from_db()
    assert customer.phone_verified


def test_the_admin_sends_a_link_to_itself(admin_client, customer):
    admin_client.post(verify_url(customer), {"action": "send_email"})
    text = Message.objects.get(customer=customer, channel="email").text
    assert "http://testserver/verify/email/" in text


def test_a_wrong_code_in_the_admin_is_an_error_message(admin_client, customer):
    admin_client.post(verify_url(customer), {"action": "send_sms"})
    response = admin_client.post(
        verify_url(customer),
        {"action": "confirm", "channel": "sms", "code": "abcdef"},
        follow=True,
    )
    assert "The code is wrong." in response.content.decode()
    assert ContactVerification.objects.get(customer=customer).attempts == 1
    customer.refresh_from_db()
    assert not customer.phone_verified


def test_the_message_text_of_a_code_is_hidden_in_the_outbox_admin(admin_client, customer):
    admin_client.post(verify_url(customer), {"action": "send_sms"})
    message = Message.objects.get(customer=customer)
    code = re.search(r"\b(\d{6})\b", message.text).group(1)
    page = admin_client.get(reverse("admin:communications_message_change", args=[message.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert code not in text
    assert "a verification code or link (hidden)" in text


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    return user


def test_staff_who_may_not_change_customers_cannot_verify(client, viewer, customer):
    client.force_login(viewer)
    assert client.get(verify_url(customer)).status_code == 403
    assert client.post(verify_url(customer), {"action": "send_sms"}).status_code == 403
    assert not ContactVerification.objects.exists()
    page = client.get(reverse("admin:crm_customer_change", args=[customer.pk])).content.decode()
    assert verify_url(customer) not in page


def test_an_unknown_action_is_refused(admin_client, customer):
    assert admin_client.post(verify_url(customer), {"action": "drop"}).status_code == 403
    assert Customer.objects.get(pk=customer.pk).phone_verified is False
