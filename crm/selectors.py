"""Reads of the customer base that several callers need (services, admin, forms)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from crm.models import Customer, ProfileQuestion
from crm.phones import normalize_phone


def phone_parse(raw: str | None) -> str | None:
    """Return ``raw`` in E.164 if it reads as a phone number, else None (never raises)."""
    try:
        return normalize_phone(raw or "")
    except ValidationError:
        return None


def customer_get_by_phone(raw: str | None) -> Customer | None:
    """Return the customer whose phone is ``raw`` written in any notation, if there is one."""
    phone = phone_parse(raw)
    if phone is None:
        return None
    return Customer.objects.filter(phone=phone).first()


def profile_question_list_active() -> list[ProfileQuestion]:
    """Return the active questions in questionnaire order, with their options prefetched."""
    return list(ProfileQuestion.objects.filter(is_active=True).prefetch_related("choices"))
