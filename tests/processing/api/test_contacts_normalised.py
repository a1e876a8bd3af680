"""The registers' registration stores a customer's contacts in their canonical form, however
the till typed them (issue 14; the other write paths: tests/crm/test_contacts.py)."""

from __future__ import annotations

import pytest

from crm.models import Customer
from tests.factories.crm import CustomerFactory
from tests.processing.api.conftest import API

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw_phone", ["8 (916) 123-45-67", "+7 916 123 45 67 "])
def test_registration_stores_the_phone_in_e164_and_the_email_lower_cased(world, client, raw_phone):
    response = client.post(
        API + "customers",
        {"phone": raw_phone, "first_name": "Anna", "email": " Anna@Example.COM "},
        format="json",
    )
    assert response.status_code == 201, response.content
    customer = Customer.objects.get(public_id=response.json()["customer"]["id"])
    assert (customer.phone, customer.email) == ("+79161234567", "anna@example.com")
    assert (customer.phone_verified, customer.email_verified) == (False, False)


def test_registration_with_an_email_taken_in_another_case_is_a_conflict(world, client):
    CustomerFactory(email="anna@example.com")
    response = client.post(
        API + "customers",
        {"phone": "+79161234567", "first_name": "Anna", "email": "ANNA@example.com"},
        format="json",
    )
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "email_taken"
    assert not Customer.objects.filter(phone="+79161234567").exists()
