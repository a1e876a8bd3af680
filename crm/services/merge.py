"""What the CRM keeps per customer follows a customer merge.

``loyalty.services.card_operations.customers_merge`` calls ``customer_records_merge`` inside its
transaction, with both customers locked; the outer apps move their own rows through the
``customers_merging`` signal. Nothing here touches points or cards.
"""

from __future__ import annotations

from crm.locks import consents_for_update
from crm.models import (
    Car,
    Consent,
    Customer,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    SegmentMember,
)

# Blank on the kept customer: taken from the merged one.
FILLED_FIELDS = ("first_name", "middle_name", "last_name", "birth_date")


def customer_records_merge(*, keep: Customer, gone: Customer) -> list[str]:
    """Move ``gone``'s CRM records to ``keep``; return the fields of ``keep`` it filled (the
    caller saves them).

    - consents: per channel the most recent decision (grant or withdrawal) wins, with its
      dates, source and text version; a channel only ``gone`` decided on moves as it is;
    - questionnaire answers: ``keep``'s answer to a question stays, ``gone``'s answers to
      the others move;
    - family members, cars and memorable dates move, except exact duplicates of ``keep``'s;
    - segment memberships: the union, one row per segment (the earlier ``added_at``);
    - names and birth date: ``keep``'s blanks are filled from ``gone``, as is an unknown
      gender.
    """
    _consents_merge(keep, gone)
    kept = set(ProfileAnswer.objects.filter(customer=keep).values_list("question_id", flat=True))
    ProfileAnswer.objects.filter(customer=gone).exclude(question_id__in=kept).update(customer=keep)
    ProfileAnswer.objects.filter(customer=gone).delete()
    for model, fields in (
        (FamilyMember, ("relation", "name", "birth_date", "gender", "species")),
        (Car, ("make", "model", "year", "plate")),
        (MemorableDate, ("kind", "title", "date", "is_yearly")),
    ):
        _people_merge(model, fields, keep, gone)
    _segments_merge(keep, gone)
    filled = []
    for name in FILLED_FIELDS:
        if getattr(keep, name) in ("", None) and getattr(gone, name) not in ("", None):
            setattr(keep, name, getattr(gone, name))
            filled.append(name)
    if keep.gender == Customer.Gender.UNKNOWN and gone.gender != Customer.Gender.UNKNOWN:
        keep.gender = gone.gender
        filled.append("gender")
    return filled


def _decided_at(consent: Consent):
    moments = [m for m in (consent.granted_at, consent.revoked_at) if m is not None]
    return max(moments) if moments else None


def _consents_merge(keep: Customer, gone: Customer) -> None:
    kept = {c.channel: c for c in consents_for_update(keep)}
    for theirs in consents_for_update(gone):
        mine = kept.get(theirs.channel)
        if mine is None:
            theirs.customer = keep
            theirs.save(update_fields=["customer"])
            continue
        mine_at, theirs_at = _decided_at(mine), _decided_at(theirs)
        if theirs_at is not None and (mine_at is None or theirs_at > mine_at):
            fields = ["is_granted", "granted_at", "revoked_at", "source", "text_version"]
            for name in fields:
                setattr(mine, name, getattr(theirs, name))
            mine.save(update_fields=fields)
        theirs.delete()


def _people_merge(model, fields: tuple[str, ...], keep: Customer, gone: Customer) -> None:
    kept = set(model.objects.filter(customer=keep).values_list(*fields))
    for row in model.objects.filter(customer=gone).order_by("pk"):
        if tuple(getattr(row, name) for name in fields) in kept:
            row.delete()
            continue
        row.customer = keep
        row.save(update_fields=["customer"])


def _segments_merge(keep: Customer, gone: Customer) -> None:
    kept = {m.segment_id: m for m in SegmentMember.objects.filter(customer=keep)}
    for theirs in SegmentMember.objects.filter(customer=gone).order_by("pk"):
        mine = kept.get(theirs.segment_id)
        if mine is None:
            theirs.customer = keep
            theirs.save(update_fields=["customer"])
            continue
        if theirs.added_at < mine.added_at:
            mine.added_at = theirs.added_at
            mine.save(update_fields=["added_at"])
        theirs.delete()
