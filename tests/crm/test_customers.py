"""Customer registration and changes through crm.services, and the database's last word."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.errors import (
    CrmError,
    CustomerExists,
    EmailTaken,
    InvalidBirthDate,
    OwnReferrer,
    ReferralCodeTaken,
    ReferralCodeUnknown,
)
from crm.models import Consent, Customer
from crm.services import consent_set, customer_create, customer_update
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db

# Explicit numbers use the 913 range: CustomerFactory's sequence hands out +7900XXXXXXX.
TAKEN_PHONE = "+79130000001"
FREE_PHONE = "+79135550000"


def test_customer_create_normalises_phone_and_email_and_records_consents():
    # given
    registered_at = timezone.now() - timedelta(hours=1)
    # when
    customer = customer_create(
        phone="8 900 123-45-67",
        email="  Anna.Ivanova@Mail.Example ",
        first_name=" Anna ",
        birth_date=date(1990, 3, 8),
        consents={"sms": True, "email": False},
        consent_source="pos",
        consent_text_version="2026-01",
        registered_at=registered_at,
    )
    # then
    customer.refresh_from_db()
    assert customer.phone == "+79001234567"
    assert customer.email == "anna.ivanova@mail.example"
    assert customer.first_name == "Anna"
    assert customer.registered_at == registered_at
    assert customer.public_id.startswith("c_")
    assert len(customer.public_id) == 14
    assert customer.referral_code
    assert customer.referrer is None
    sms = customer.consents.get(channel="sms")
    assert sms.is_granted is True
    assert sms.granted_at == registered_at
    assert sms.revoked_at is None
    assert (sms.source, sms.text_version) == ("pos", "2026-01")
    email = customer.consents.get(channel="email")
    assert email.is_granted is False
    assert email.granted_at is None
    assert email.revoked_at == registered_at


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        pytest.param(
            {"phone": "+7 (913) 000-00-01"}, CustomerExists, "customer_exists", id="phone"
        ),
        pytest.param({"phone": "8 913 000 00 01"}, CustomerExists, "customer_exists", id="phone-8"),
        pytest.param(
            {"phone": FREE_PHONE, "email": "TAKEN@mail.example "},
            EmailTaken,
            "email_taken",
            id="email",
        ),
        pytest.param(
            {"phone": FREE_PHONE, "referral_code_used": "NOPE1234"},
            ReferralCodeUnknown,
            "referral_code_unknown",
            id="referral-code",
        ),
        pytest.param(
            {"phone": FREE_PHONE, "referral_code_used": "8 913 999-99-99"},
            ReferralCodeUnknown,
            "referral_code_unknown",
            id="referral-phone",
        ),
        pytest.param(
            {"phone": FREE_PHONE, "birth_date": date(1899, 12, 31)},
            InvalidBirthDate,
            "invalid_birth_date",
            id="born-before-1900",
        ),
        pytest.param(
            {"phone": FREE_PHONE, "birth_date": timezone.localdate() + timedelta(days=2)},
            InvalidBirthDate,
            "invalid_birth_date",
            id="born-in-the-future",
        ),
        pytest.param({"phone": "not a phone"}, ValidationError, "invalid_phone", id="garbage"),
        pytest.param({"phone": "8 913 12"}, ValidationError, "invalid_phone", id="too-short"),
        pytest.param(
            {"phone": FREE_PHONE, "email": "not-an-email"}, ValidationError, None, id="bad-email"
        ),
        pytest.param(
            {"phone": FREE_PHONE, "consents": {"pigeon": True}},
            ValidationError,
            None,
            id="bad-channel",
        ),
    ],
)
def test_customer_create_refuses_bad_input_and_writes_nothing(kwargs, error, code):
    # given an existing customer
    CustomerFactory(phone=TAKEN_PHONE, email="taken@mail.example")
    kwargs = {"consents": {"sms": True}, **kwargs}
    before = (Customer.objects.count(), Consent.objects.count())
    # when
    with pytest.raises(error) as raised:
        customer_create(**kwargs)
    # then
    if code is not None:
        assert raised.value.code == code
    assert (Customer.objects.count(), Consent.objects.count()) == before


def test_customer_exists_carries_the_existing_customer_and_a_translated_message():
    # given
    existing = CustomerFactory(phone=TAKEN_PHONE)
    # when
    with pytest.raises(CustomerExists) as error:
        customer_create(phone="8 913 000 00 01")
    # then
    assert isinstance(error.value, CrmError)
    assert error.value.customer == existing
    assert error.value.code == "customer_exists"
    assert str(error.value) == "This phone number already belongs to another customer."


def test_a_friend_is_named_by_referral_code_or_by_phone():
    # given
    friend = CustomerFactory(referral_code="ANNA7K2Q", phone="+79131112233")
    # when
    by_code = customer_create(phone="+79135550001", referral_code_used=" anna7k2q ")
    by_phone = customer_create(phone="+79135550002", referral_code_used="8 913 111-22-33")
    # then
    assert by_code.referrer == friend
    assert by_phone.referrer == friend
    assert set(friend.referrals.all()) == {by_code, by_phone}


def test_an_anonymised_customer_refers_nobody():
    # given
    CustomerFactory(referral_code="GONE2345", is_anonymised=True)
    # when / then
    with pytest.raises(ReferralCodeUnknown):
        customer_create(phone=FREE_PHONE, referral_code_used="GONE2345")


def test_customer_create_refuses_a_naive_registration_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        customer_create(phone=FREE_PHONE, registered_at=datetime(2026, 1, 1, 12, 0))  # noqa: DTZ001
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"phone": "8 913 000-00-02"}, CustomerExists, id="phone"),
        pytest.param({"email": "OTHER@mail.example"}, EmailTaken, id="email"),
        pytest.param({"referral_code": "other234"}, ReferralCodeTaken, id="referral-code"),
        pytest.param({"birth_date": date(1850, 1, 1)}, InvalidBirthDate, id="birth-date"),
        pytest.param({"phone": "12345"}, ValidationError, id="bad-phone"),
        pytest.param({"email": "nope"}, ValidationError, id="bad-email"),
        pytest.param({"is_anonymised": True}, TypeError, id="not-editable"),
    ],
)
def test_customer_update_checks_like_create(fields, error):
    # given
    customer = CustomerFactory(phone=TAKEN_PHONE, email="anna@mail.example", first_name="Anna")
    CustomerFactory(phone="+79130000002", email="other@mail.example", referral_code="OTHER234")
    # when
    with pytest.raises(error):
        customer_update(customer=customer, first_name="Olga", **fields)
    # then
    customer.refresh_from_db()
    assert (customer.phone, customer.email, customer.first_name) == (
        TAKEN_PHONE,
        "anna@mail.example",
        "Anna",
    )


def test_a_customer_cannot_refer_themselves():
    # given
    customer = CustomerFactory()
    # when
    with pytest.raises(OwnReferrer) as error:
        customer_update(customer=customer, referrer=customer)
    # then
    assert error.value.code == "own_referrer"
    customer.refresh_from_db()
    assert customer.referrer is None


def test_customer_update_normalises_and_saves_the_changed_fields():
    # given
    customer = CustomerFactory(phone=TAKEN_PHONE)
    friend = CustomerFactory()
    # when
    customer_update(
        customer=customer,
        phone="8 913 000-00-09",
        email=" Olga@Mail.Example",
        first_name=" Olga ",
        referral_code=" olga2026 ",
        referrer=friend,
    )
    # then
    customer.refresh_from_db()
    assert customer.phone == "+79130000009"
    assert customer.email == "olga@mail.example"
    assert customer.first_name == "Olga"
    assert customer.referral_code == "OLGA2026"
    assert customer.referrer == friend


def test_customer_update_keeping_own_phone_is_not_a_duplicate():
    # given
    customer = CustomerFactory(phone=TAKEN_PHONE, email="anna@mail.example")
    # when
    customer_update(customer=customer, phone="8 913 000-00-01", email="ANNA@mail.example")
    # then
    customer.refresh_from_db()
    assert (customer.phone, customer.email) == (TAKEN_PHONE, "anna@mail.example")


# --- what the database refuses even when the services are bypassed -------------------------


def test_database_refuses_a_duplicate_phone():
    CustomerFactory(phone=TAKEN_PHONE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(phone=TAKEN_PHONE)


def test_database_refuses_a_duplicate_email_in_another_case():
    CustomerFactory(email="anna@mail.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(email="ANNA@Mail.Example")


def test_database_refuses_a_customer_referring_themselves():
    customer = CustomerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(referrer=customer)


def test_database_refuses_a_phone_not_in_e164():
    # bulk_create skips Customer.save(), which would have put it in E.164
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.bulk_create([Customer(phone="89130000003")])


def test_database_refuses_a_granted_consent_without_a_time():
    customer = CustomerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(customer=customer, channel="sms", is_granted=True)


# --- consents ----------------------------------------------------------------------------


def test_consent_keeps_its_timestamps():
    # given
    customer = CustomerFactory()
    first = timezone.now() - timedelta(days=10)
    # when granted
    consent = consent_set(customer=customer, channel="email", is_granted=True, at=first)
    # then
    assert (consent.is_granted, consent.granted_at, consent.revoked_at) == (True, first, None)
    # when granted again: nothing changes
    again = consent_set(customer=customer, channel="email", is_granted=True)
    assert again.granted_at == first
    # when revoked: revoked_at is set, granted_at kept
    revoked = consent_set(customer=customer, channel="email", is_granted=False)
    assert revoked.is_granted is False
    assert revoked.revoked_at > first
    assert revoked.granted_at == first
    # when granted once more: a new granted_at, the revocation stays as history
    regranted = consent_set(customer=customer, channel="email", is_granted=True)
    assert regranted.is_granted is True
    assert regranted.granted_at > revoked.revoked_at
    assert regranted.revoked_at == revoked.revoked_at
    assert Consent.objects.filter(customer=customer).count() == 1


def test_a_consent_to_a_new_text_version_is_a_new_grant():
    # given
    customer = CustomerFactory()
    first = timezone.now() - timedelta(days=10)
    consent_set(customer=customer, channel="sms", is_granted=True, text_version="v1", at=first)
    # when
    consent = consent_set(customer=customer, channel="sms", is_granted=True, text_version="v2")
    # then
    consent.refresh_from_db()
    assert consent.text_version == "v2"
    assert consent.granted_at > first


def test_a_first_refusal_records_only_when_it_was_refused():
    # given
    customer = CustomerFactory()
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    # when
    consent = consent_set(customer=customer, channel="push", is_granted=False, at=at)
    # then
    assert (consent.is_granted, consent.granted_at, consent.revoked_at) == (False, None, at)


def test_consent_set_refuses_an_unknown_channel_and_a_naive_time():
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as error:
        consent_set(customer=customer, channel="pigeon", is_granted=True)
    assert error.value.message_dict["channel"]
    with pytest.raises(ValueError, match="timezone-aware"):
        consent_set(
            customer=customer,
            channel="sms",
            is_granted=True,
            at=datetime(2026, 1, 1),  # noqa: DTZ001
        )
    assert not Consent.objects.exists()
