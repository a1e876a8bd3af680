"""Anonymising a customer on request (personal-data law): the person goes, the accounting stays.

What is erased: the profile's names, phone, email, birth date, gender, referral code and staff
comment; the questionnaire answers, family members, cars, memorable dates and contact
verifications (deleted); the consents (revoked). Subscribers of ``customer_anonymising`` erase what the outer apps hold
(the contacts on tickets, the address and text of messages) and block the cards.

What stays: the customer row under its public id, its accounts, ledger, receipts and refunds,
tickets and their accounting links. The cards stay bound to the row (the ledger names them),
but are blocked, so a card found in a drawer can neither be used nor lead to the person.

The audit trail never holds the erased values: personal fields of customer models are stored
as ``***`` (``audit.registry``), so nothing in it needs erasing afterwards. The ANONYMISE
event (written by the audit trail on ``customer_anonymised``) names the fields that were
erased, not their values.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from crm.errors import AlreadyAnonymised, AnonymiseReasonRequired
from crm.models import Customer
from crm.signals import customer_anonymised, customer_anonymising

# The profile as it is after anonymising: field -> empty value.
SCRUBBED = {
    "first_name": "",
    "middle_name": "",
    "last_name": "",
    "phone": None,
    "email": None,
    "birth_date": None,
    "gender": Customer.Gender.UNKNOWN,
    "referral_code": None,
    "phone_verified": False,
    "email_verified": False,
    "comment": "",
}
# Rows about the person, deleted outright: related names on Customer.
PERSONAL_RELATIONS = ("answers", "family", "cars", "memorable_dates", "verifications")


@transaction.atomic
def customer_anonymise(*, customer: Customer, user, reason: str) -> Customer:
    """Erase ``customer``'s personal data and return the anonymised customer.

    Raises ``AnonymiseReasonRequired`` for an empty reason and ``AlreadyAnonymised`` for a
    customer anonymised before (a second request changes nothing). Balances, ledger and
    receipts are not touched.
    """
    reason = (reason or "").strip()
    if not reason:
        raise AnonymiseReasonRequired()
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.is_anonymised:
        raise AlreadyAnonymised(customer=customer.public_id)
    now = timezone.now()
    erased = sorted(
        name for name, empty in SCRUBBED.items() if getattr(customer, name) not in (empty, "")
    )
    removed = {}
    for relation in PERSONAL_RELATIONS:
        rows = getattr(customer, relation).all()
        count = rows.count()
        if count:
            rows.delete()
            removed[relation] = count
    revoked = []
    for consent in customer.consents.filter(is_granted=True):
        consent.is_granted = False
        consent.revoked_at = now
        consent.save(update_fields=["is_granted", "revoked_at"])
        revoked.append(consent.channel)
    for name, empty in SCRUBBED.items():
        setattr(customer, name, empty)
    customer.is_anonymised = True
    customer.anonymised_at = now
    customer.save(update_fields=[*SCRUBBED, "is_anonymised", "anonymised_at", "updated_at"])
    outer = customer_anonymising.send(sender=Customer, customer=customer, user=user, at=now)
    customer_anonymised.send(
        sender=Customer,
        customer=customer,
        before={"fields": erased},
        after={
            "deleted": removed,
            "consents_revoked": sorted(revoked),
            **{key: value for _receiver, answer in outer for key, value in (answer or {}).items()},
        },
        reason=reason,
        user=user,
    )
    return customer
