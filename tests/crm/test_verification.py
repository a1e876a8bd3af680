"""Contact verification (issue 14): a one-time code by SMS, a signed link by email, the message
queued in the outbox in the same transaction, and every way a confirmation is refused. Runs on
SQLite and, with DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from communications.models import Message
from crm import services
from crm.errors import (
    VerificationAddressChanged,
    VerificationAlreadyUsed,
    VerificationCodeWrong,
    VerificationExpired,
    VerificationLinkInvalid,
    VerificationLocked,
    VerificationNoAddress,
    VerificationNotFound,
    VerificationRateLimited,
    VerificationSuperseded,
    VerificationUndeliverable,
)
from crm.models import ContactVerification, Customer
from crm.services.anonymisation import customer_anonymise
from crm.services.verification import (
    LINK_SALT,
    verification_confirm_code,
    verification_confirm_link,
    verification_link_read,
    verification_start,
    verifications_current,
)
from crm.signals import contact_verification_started
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db

SMS, EMAIL = ContactVerification.Channel.SMS, ContactVerification.Channel.EMAIL
BASE = "https://loyalty.example"


def send_code(customer) -> str:
    """Start an SMS verification and return the code, read from the queued message."""
    verification = verification_start(customer=customer, channel=SMS)
    message = Message.objects.get(verification=verification)
    return re.search(r"\b(\d{6})\b", message.text).group(1)


def send_link(customer) -> str:
    """Start an email verification and return the link's token, read from the message."""
    verification = verification_start(customer=customer, channel=EMAIL, link_base=BASE + "/")
    message = Message.objects.get(verification=verification)
    return re.search(re.escape(BASE) + r"/verify/email/([^/\s]+)/", message.text).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def age(verification_or_customer, **delta) -> None:
    """Move the verifications back in time, as if they were sent ``delta`` ago."""
    rows = ContactVerification.objects.filter(customer=verification_or_customer)
    for row in rows:
        lifetime = row.expires_at - row.created_at
        row.created_at -= timedelta(**delta)
        row.expires_at = row.created_at + lifetime
        row.save(update_fields=["created_at", "expires_at"])


@pytest.fixture
def customer():
    return CustomerFactory(phone="+79161234567", email="anna@example.com")


# --- the happy paths ---------------------------------------------------------------------------


def test_a_code_by_sms_verifies_the_phone(customer):
    # given
    code = send_code(customer)
    # when
    verification = verification_confirm_code(customer=customer, channel=SMS, code=code)
    # then
    customer.refresh_from_db()
    assert (customer.phone_verified, customer.email_verified) == (True, False)
    assert verification.verified_at is not None
    assert verification.address == "+79161234567"


def test_a_link_by_email_verifies_the_email(customer):
    token = send_link(customer)
    verification_confirm_link(token)
    customer.refresh_from_db()
    assert (customer.phone_verified, customer.email_verified) == (False, True)


def test_the_code_is_kept_only_in_the_message(customer):
    code = send_code(customer)
    verification = ContactVerification.objects.get(customer=customer)
    stored = [str(getattr(verification, f.attname)) for f in ContactVerification._meta.fields]
    assert not any(code in value for value in stored)
    message = Message.objects.get(verification=verification)
    assert (message.channel, message.address, message.status) == (SMS, "+79161234567", "queued")
    assert "10 minutes" in message.text


def test_the_email_message_carries_the_absolute_link(customer):
    send_link(customer)
    message = Message.objects.get(customer=customer)
    assert (message.channel, message.address) == (EMAIL, "anna@example.com")
    assert BASE + "/verify/email/" in message.text
    assert "48 hours" in message.text


@override_settings(PUBLIC_BASE_URL="https://public.example")
def test_the_public_address_wins_over_the_page_it_was_sent_from(customer):
    verification_start(customer=customer, channel=EMAIL, link_base="http://internal:8000/")
    assert "https://public.example/verify/email/" in Message.objects.get(customer=customer).text


def test_a_code_typed_with_spaces_is_read(customer):
    code = send_code(customer)
    verification_confirm_code(customer=customer, channel=SMS, code=f" {code[:3]} {code[3:]} ")
    customer.refresh_from_db()
    assert customer.phone_verified


def test_the_flag_change_is_recorded_on_the_customer(customer):
    code = send_code(customer)
    verification_confirm_code(customer=customer, channel=SMS, code=code)
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.UPDATE, object_id=str(customer.pk), after__has_key="phone_verified"
    )
    assert [(event.before, event.after) for event in events] == [
        ({"phone_verified": False}, {"phone_verified": True})
    ]


def test_the_code_is_compared_in_constant_time(customer, monkeypatch):
    calls = []
    original = services.verification.constant_time_compare

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(services.verification, "constant_time_compare", spy)
    code = send_code(customer)
    verification_confirm_code(customer=customer, channel=SMS, code=code)
    assert calls


# --- the outbox message: once per start, in the same transaction -------------------------------


def test_each_start_queues_exactly_one_message(customer):
    for channel in (SMS, SMS, EMAIL):
        verification_start(customer=customer, channel=channel, link_base=BASE)
    verifications = ContactVerification.objects.filter(customer=customer)
    assert verifications.count() == 3
    for verification in verifications:
        assert Message.objects.filter(verification=verification).count() == 1
    assert Message.objects.filter(customer=customer).count() == 3


def test_a_failing_outbox_rolls_the_verification_back(customer):
    def broken(sender, **kwargs):
        raise RuntimeError("outbox down")

    contact_verification_started.connect(broken, dispatch_uid="test-broken")
    try:
        with pytest.raises(RuntimeError):
            verification_start(customer=customer, channel=SMS)
    finally:
        contact_verification_started.disconnect(dispatch_uid="test-broken")
    assert not ContactVerification.objects.exists()
    assert not Message.objects.exists()


def test_no_outbox_is_a_named_refusal_and_nothing_is_stored(customer):
    from communications.services import on_contact_verification_started

    contact_verification_started.disconnect(dispatch_uid="communications-verification")
    try:
        with pytest.raises(VerificationUndeliverable):
            verification_start(customer=customer, channel=SMS)
    finally:
        contact_verification_started.connect(
            on_contact_verification_started, dispatch_uid="communications-verification"
        )
    assert not ContactVerification.objects.exists()


def test_two_outboxes_answering_is_refused_and_rolled_back(customer):
    def second(sender, verification, **kwargs):
        return Message.objects.create(
            customer=verification.customer, channel="sms", address="x", text="x"
        )

    contact_verification_started.connect(second, dispatch_uid="test-second")
    try:
        with pytest.raises(VerificationUndeliverable):
            verification_start(customer=customer, channel=SMS)
    finally:
        contact_verification_started.disconnect(dispatch_uid="test-second")
    assert not ContactVerification.objects.exists()
    assert not Message.objects.exists()


# --- refusals to start ---------------------------------------------------------------------------


def test_a_customer_without_the_contact_cannot_be_sent_a_code():
    customer = CustomerFactory(email=None)
    with pytest.raises(VerificationNoAddress):
        verification_start(customer=customer, channel=EMAIL, link_base=BASE)
    assert not ContactVerification.objects.exists()


def test_an_anonymised_customer_cannot_be_sent_a_code(customer):
    customer_anonymise(customer=customer, user=None, reason="request #1")
    with pytest.raises(VerificationNoAddress):
        verification_start(customer=customer, channel=SMS)


def test_an_unknown_channel_is_a_programming_error(customer):
    with pytest.raises(ValueError, match="viber"):
        verification_start(customer=customer, channel="viber")


@override_settings(CONTACT_VERIFICATION_MAX_PER_HOUR=3)
def test_at_most_n_codes_an_hour_over_both_channels(customer):
    # given three sent in the last hour, on both channels
    send_code(customer)
    send_link(customer)
    send_code(customer)
    # when a fourth is asked
    with pytest.raises(VerificationRateLimited) as caught:
        verification_start(customer=customer, channel=SMS)
    # then it is refused by name and nothing is written
    assert caught.value.code == "verification_rate_limited"
    assert ContactVerification.objects.filter(customer=customer).count() == 3
    assert Message.objects.filter(customer=customer).count() == 3
    # and another customer is not limited by this one
    send_code(CustomerFactory())
    # an hour later the customer may have one again
    age(customer, minutes=61)
    assert send_code(customer)


# --- refusals to confirm -----------------------------------------------------------------------


def test_nothing_sent_is_not_found(customer):
    with pytest.raises(VerificationNotFound):
        verification_confirm_code(customer=customer, channel=SMS, code="123456")


def test_an_expired_code_is_refused_even_if_right(customer):
    code = send_code(customer)
    age(customer, minutes=11)
    with pytest.raises(VerificationExpired):
        verification_confirm_code(customer=customer, channel=SMS, code=code)
    customer.refresh_from_db()
    assert not customer.phone_verified


def test_five_wrong_codes_lock_the_verification(customer):
    # given
    code = send_code(customer)
    # when four wrong codes are entered, each says how many tries are left
    left = []
    for _ in range(4):
        with pytest.raises(VerificationCodeWrong) as caught:
            verification_confirm_code(customer=customer, channel=SMS, code=wrong(code))
        left.append(caught.value.attempts_left)
    assert left == [4, 3, 2, 1]
    # the fifth locks it
    with pytest.raises(VerificationLocked):
        verification_confirm_code(customer=customer, channel=SMS, code=wrong(code))
    # then even the right code is refused, and the attempts were kept although each raised
    with pytest.raises(VerificationLocked):
        verification_confirm_code(customer=customer, channel=SMS, code=code)
    verification = ContactVerification.objects.get(customer=customer)
    assert (verification.attempts, verification.state) == (5, "locked")
    customer.refresh_from_db()
    assert not customer.phone_verified
    # a new code starts afresh
    verification_confirm_code(customer=customer, channel=SMS, code=send_code(customer))
    customer.refresh_from_db()
    assert customer.phone_verified


def test_the_code_of_a_superseded_verification_is_refused(customer):
    # given two codes sent, the second after the first
    first = send_code(customer)
    second = send_code(customer)
    assert first != second or pytest.skip("the two random codes happened to be equal")
    # when the first is entered
    with pytest.raises(VerificationSuperseded):
        verification_confirm_code(customer=customer, channel=SMS, code=first)
    # then only the newest verifies
    verification_confirm_code(customer=customer, channel=SMS, code=second)
    customer.refresh_from_db()
    assert customer.phone_verified
    states = sorted(v.state for v in ContactVerification.objects.filter(customer=customer))
    assert states == ["confirmed", "superseded"]


def test_the_link_of_a_superseded_verification_is_refused(customer):
    first = send_link(customer)
    second = send_link(customer)
    with pytest.raises(VerificationSuperseded):
        verification_confirm_link(first)
    verification_confirm_link(second)
    customer.refresh_from_db()
    assert customer.email_verified


def test_a_code_for_a_phone_changed_since_is_useless(customer):
    # given a code sent to the old phone
    code = send_code(customer)
    services.customer_update(customer=customer, phone="+79130000009")
    # when it is entered
    with pytest.raises(VerificationAddressChanged):
        verification_confirm_code(customer=customer, channel=SMS, code=code)
    # then the new phone is not verified
    customer.refresh_from_db()
    assert not customer.phone_verified
    assert ContactVerification.objects.get(customer=customer).verified_at is None


def test_a_link_for_an_email_changed_since_is_useless(customer):
    token = send_link(customer)
    services.customer_update(customer=customer, email="other@example.com")
    with pytest.raises(VerificationAddressChanged):
        verification_confirm_link(token)
    customer.refresh_from_db()
    assert not customer.email_verified


def test_a_used_code_cannot_be_used_again(customer):
    code = send_code(customer)
    verification_confirm_code(customer=customer, channel=SMS, code=code)
    with pytest.raises(VerificationAlreadyUsed):
        verification_confirm_code(customer=customer, channel=SMS, code=code)
    token = send_link(customer)
    verification_confirm_link(token)
    with pytest.raises(VerificationAlreadyUsed):
        verification_confirm_link(token)


def test_a_verification_of_a_phone_does_not_verify_the_email(customer):
    code = send_code(customer)
    with pytest.raises(VerificationNotFound):
        verification_confirm_code(customer=customer, channel=EMAIL, code=code)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: "not-a-token",
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: token[: len(token) // 2],
        lambda token: signing.TimestampSigner(salt="another-salt").sign_object(
            signing.TimestampSigner(salt=LINK_SALT).unsign_object(token)
        ),
        # a valid signature over a guessed secret: only the server's key could make it, but the
        # secret's hash still has to match
        lambda token: signing.TimestampSigner(salt=LINK_SALT).sign_object(
            {"v": signing.TimestampSigner(salt=LINK_SALT).unsign_object(token)["v"], "s": "x"}
        ),
        lambda token: signing.TimestampSigner(salt=LINK_SALT).sign_object({"v": "1", "s": 1}),
        lambda token: signing.TimestampSigner(salt=LINK_SALT).sign_object(["list"]),
    ],
    ids=["garbage", "tampered", "truncated", "other-salt", "guessed-secret", "types", "shape"],
)
def test_a_bad_or_forged_link_is_refused(customer, tamper):
    token = send_link(customer)
    with pytest.raises(VerificationLinkInvalid):
        verification_confirm_link(tamper(token))
    customer.refresh_from_db()
    assert not customer.email_verified


def test_a_link_older_than_its_lifetime_is_refused_by_its_signature(customer, monkeypatch):
    # given a link signed 49 hours ago
    old = signing.b62_encode(int(timezone.now().timestamp()) - 49 * 3600)
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: old)
    token = send_link(customer)
    monkeypatch.undo()
    # then
    with pytest.raises(VerificationExpired):
        verification_link_read(token)
    with pytest.raises(VerificationExpired):
        verification_confirm_link(token)


def test_a_link_whose_verification_expired_is_refused(customer):
    token = send_link(customer)
    age(customer, hours=48, seconds=1)
    with pytest.raises(VerificationExpired):
        verification_confirm_link(token)
    customer.refresh_from_db()
    assert not customer.email_verified


# --- around -------------------------------------------------------------------------------------


def test_the_current_verifications_are_the_newest_of_each_channel(customer):
    send_code(customer)
    send_code(customer)
    current = verifications_current(customer)
    assert current[EMAIL] is None
    assert current[SMS] == ContactVerification.objects.filter(customer=customer).first()
    assert current[SMS].state == "waiting"


def test_anonymising_deletes_the_verifications_and_hides_the_code(customer):
    send_code(customer)
    customer_anonymise(customer=customer, user=None, reason="request #1")
    assert not ContactVerification.objects.exists()
    message = Message.objects.get(customer=customer)
    assert (message.text, message.address, message.status) == ("", "", "failed")


def test_only_one_current_verification_per_channel_in_the_database(customer):
    from django.db import IntegrityError, transaction

    verification_start(customer=customer, channel=SMS)
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactVerification.objects.create(
            customer=customer,
            channel=SMS,
            address=customer.phone,
            secret_hash="x",
            expires_at=now + timedelta(minutes=1),
        )
    assert Customer.objects.get(pk=customer.pk).phone_verified is False
