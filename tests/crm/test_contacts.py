"""Contacts in their canonical form on every write path, and a changed contact un-verified
(issue 14). Phones in E.164, emails trimmed and lower-cased, whoever writes them: the services,
the admin's add and change forms, a merge, the demo loader, a direct ORM save; the database
refuses a non-canonical email even from a bulk write. The registers' API is in
tests/processing/api/test_contacts_normalised.py."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.contacts import mask_email, normalize_email, normalize_phone_or_none
from crm.errors import EmailTaken
from crm.models import Customer
from crm.services import customer_create, customer_update
from demo.customers import customers_load
from loyalty.services.card_operations import customers_merge
from tests.crm.test_admin import change_form_data, errors_of
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db

MESSY_PHONES = ["8 (916) 123-45-67", "+7 916 123 45 67 "]
PHONE = "+79161234567"
MESSY_EMAIL = " Anna@Example.COM "
EMAIL = "anna@example.com"


# --- the helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", MESSY_PHONES)
def test_a_messy_phone_is_read_in_e164(raw):
    assert normalize_phone_or_none(raw) == PHONE


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_a_blank_contact_is_none(raw):
    assert normalize_phone_or_none(raw) is None
    assert normalize_email(raw) is None


def test_a_messy_email_is_trimmed_and_lower_cased():
    assert normalize_email(MESSY_EMAIL) == EMAIL


def test_something_that_is_not_a_phone_is_refused():
    with pytest.raises(ValidationError) as caught:
        normalize_phone_or_none("12")
    assert caught.value.code == "invalid_phone"


def test_an_email_is_masked_to_its_first_letter_and_domain():
    assert (mask_email("anna@example.com"), mask_email("anna"), mask_email(None)) == (
        "a***@example.com",
        "a***",
        "",
    )


# --- every write path --------------------------------------------------------------------------


@pytest.mark.parametrize("raw_phone", MESSY_PHONES)
def test_customer_create_stores_the_canonical_forms(raw_phone):
    customer = customer_create(phone=raw_phone, email=MESSY_EMAIL)
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == (PHONE, EMAIL)


@pytest.mark.parametrize("raw_phone", MESSY_PHONES)
def test_customer_update_stores_the_canonical_forms(raw_phone):
    customer = CustomerFactory()
    customer_update(customer=customer, phone=raw_phone, email=MESSY_EMAIL)
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == (PHONE, EMAIL)


@pytest.mark.parametrize("raw_phone", MESSY_PHONES)
def test_a_direct_save_stores_the_canonical_forms(raw_phone):
    # given a writer that skips the services (a factory, a script)
    customer = Customer.objects.create(phone=raw_phone, email=MESSY_EMAIL)
    # then the model put them in their form all the same
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == (PHONE, EMAIL)
    customer.phone, customer.email = "8 913 000-00-01", " X@Y.Example"
    customer.save(update_fields=["phone", "email"])
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == ("+79130000001", "x@y.example")


def test_a_direct_save_refuses_what_is_not_a_phone():
    with pytest.raises(ValidationError):
        Customer.objects.create(phone="12")
    assert not Customer.objects.exists()


def test_the_database_refuses_a_non_canonical_email_from_a_bulk_write():
    # bulk_create skips save(): the check constraint is the last line
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.bulk_create([Customer(email=MESSY_EMAIL)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.bulk_create([Customer(email="Anna@example.com")])


@pytest.mark.parametrize("raw_phone", MESSY_PHONES)
def test_the_admin_add_form_stores_the_canonical_forms(admin_client, raw_phone):
    new = CustomerFactory.build(phone="", email="", referral_code="", last_name="Petrova")
    data = change_form_data(new, phone=raw_phone, email=MESSY_EMAIL)
    response = admin_client.post(reverse("admin:crm_customer_add"), data)
    assert response.status_code == 302, errors_of(response)
    created = Customer.objects.get(last_name="Petrova")
    assert (created.phone, created.email) == (PHONE, EMAIL)


@pytest.mark.parametrize("raw_phone", MESSY_PHONES)
def test_the_admin_change_form_stores_the_canonical_forms(admin_client, raw_phone):
    customer = CustomerFactory()
    data = change_form_data(customer, phone=raw_phone, email=MESSY_EMAIL)
    response = admin_client.post(reverse("admin:crm_customer_change", args=[customer.pk]), data)
    assert response.status_code == 302, errors_of(response)
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == (PHONE, EMAIL)


def test_the_admin_form_has_no_verified_checkboxes(admin_client):
    # the flags are set by a verification only; the page shows them as badges
    customer = CustomerFactory(phone_verified=True)
    page = admin_client.get(reverse("admin:crm_customer_change", args=[customer.pk]))
    form = page.context["adminform"].form
    assert "phone_verified" not in form.fields
    assert "email_verified" not in form.fields
    text = page.content.decode()
    assert "badge-verified" in text
    assert "badge-unverified" in text


def test_a_merge_keeps_the_canonical_contacts_and_their_flags():
    # given the merged customer has the only phone, verified, and an email
    keep = CustomerFactory(phone=None, email=None)
    gone = CustomerFactory(phone="+79161234567", email=EMAIL, phone_verified=True)
    # when
    customers_merge(keep=keep, gone=gone, user=None)
    # then the kept one has them, as they were; the merged one has no contact nor flag left
    keep.refresh_from_db()
    gone.refresh_from_db()
    assert (keep.phone, keep.email, keep.phone_verified, keep.email_verified) == (
        PHONE,
        EMAIL,
        True,
        False,
    )
    assert (gone.phone, gone.email, gone.phone_verified) == (None, None, False)


def test_the_demo_loader_writes_the_canonical_forms():
    people = customers_load(40, random.Random(7), timezone.now())
    assert people
    for person in people:
        assert person.phone == normalize_phone_or_none(person.phone)
        assert person.email == normalize_email(person.email)


# --- uniqueness stays case-insensitive ---------------------------------------------------------


def test_an_email_in_another_case_belongs_to_its_owner():
    CustomerFactory(email=EMAIL)
    with pytest.raises(EmailTaken):
        customer_create(phone=PHONE, email=MESSY_EMAIL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(email="ANNA@example.com")


def test_a_phone_in_another_notation_belongs_to_its_owner():
    CustomerFactory(phone=PHONE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(phone=MESSY_PHONES[0])


# --- a changed contact is unverified -----------------------------------------------------------


def test_changing_the_phone_unverifies_it_and_only_it():
    customer = CustomerFactory(phone_verified=True, email_verified=True)
    customer_update(customer=customer, phone="+79130000009")
    customer.refresh_from_db()
    assert (customer.phone_verified, customer.email_verified) == (False, True)


def test_changing_the_email_unverifies_it_and_only_it():
    customer = CustomerFactory(phone_verified=True, email_verified=True)
    customer_update(customer=customer, email="other@mail.example")
    customer.refresh_from_db()
    assert (customer.phone_verified, customer.email_verified) == (True, False)


def test_a_changed_phone_stays_unverified_even_if_the_call_says_verified():
    customer = CustomerFactory(phone_verified=False)
    customer_update(customer=customer, phone="+79130000009", phone_verified=True)
    customer.refresh_from_db()
    assert customer.phone_verified is False


def test_the_same_contact_in_another_notation_stays_verified():
    customer = CustomerFactory(phone=PHONE, email=EMAIL, phone_verified=True, email_verified=True)
    customer_update(customer=customer, phone=MESSY_PHONES[0], email=MESSY_EMAIL)
    customer.refresh_from_db()
    assert (customer.phone_verified, customer.email_verified) == (True, True)


def test_removing_the_phone_unverifies_it():
    customer = CustomerFactory(phone_verified=True)
    customer_update(customer=customer, phone="")
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified) == (None, False)


def test_a_direct_save_of_a_new_phone_unverifies_it():
    # given a writer that skips the services
    customer = CustomerFactory(phone_verified=True, email_verified=True)
    stored = Customer.objects.get(pk=customer.pk)
    # when it changes the phone, saving only that field
    stored.phone = "+79130000009"
    stored.save(update_fields=["phone"])
    # then the flag went with it, and the email's stayed
    stored.refresh_from_db()
    assert (stored.phone_verified, stored.email_verified) == (False, True)


def test_changing_the_phone_in_the_admin_unverifies_it(admin_client):
    customer = CustomerFactory(phone_verified=True, email_verified=True)
    data = change_form_data(customer, phone="8 913 000-00-09")
    response = admin_client.post(reverse("admin:crm_customer_change", args=[customer.pk]), data)
    assert response.status_code == 302, errors_of(response)
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified, customer.email_verified) == (
        "+79130000009",
        False,
        True,
    )


def test_a_stored_phone_the_library_no_longer_reads_does_not_break_other_saves():
    # given a number stored long ago that the phone library now rejects
    Customer.objects.bulk_create([Customer(phone="+70000", last_name="Old")])
    customer = Customer.objects.get(last_name="Old")
    # when something else about the customer is saved, in full or by field
    customer.comment = "called"
    customer.save()
    customer.save(update_fields=["comment"])
    # then it is kept as it was; only a new value is read again
    customer.refresh_from_db()
    assert (customer.phone, customer.comment) == ("+70000", "called")
    customer.phone = "+70001"
    with pytest.raises(ValidationError):
        customer.save()
