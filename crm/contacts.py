"""The canonical forms of a customer's contacts, the one place every write path takes them from.

A phone is stored in E.164 (``crm.phones.normalize_phone``), an email trimmed and lower-cased;
blanks are None. ``Customer.save()`` applies both, so no writer can store another form; the
services (``crm.services.customers``) call them first to check uniqueness in the same form.
"""

from __future__ import annotations

from crm.phones import normalize_phone


def normalize_email(raw: str | None) -> str | None:
    """Return ``raw`` trimmed and lower-cased; None for None or blanks.

    Email addresses are compared case-insensitively everywhere (the unique constraint is on
    ``Lower(email)``), so the stored form is the lower-case one.
    """
    if raw is None:
        return None
    text = raw.strip().lower()
    return text or None


def normalize_phone_or_none(raw: str | None) -> str | None:
    """Return ``raw`` in E.164, None for None or blanks; ``ValidationError`` (``invalid_phone``)
    for something that is not a phone number."""
    if raw is None or not raw.strip():
        return None
    return normalize_phone(raw)


def mask_email(email: str | None) -> str:
    """``ivan@example.com`` → ``i***@example.com``: the first letter and the domain."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if at else f"{local[:1]}***"
