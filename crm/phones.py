"""Phone numbers are stored in E.164 ("+79001234567"): one customer per phone."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return ``raw`` in E.164, or raise ``ValidationError`` (code ``invalid_phone``).

    ``8 900 123-45-67``, ``+7 (900) 123-45-67`` and ``79001234567`` are the same number in
    the default region (``PHONE_DEFAULT_REGION``, RU).
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a phone number."), code="invalid_phone")
    region = region or settings.PHONE_DEFAULT_REGION
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and region == "RU" and len(digits) == 11 and digits[0] == "7":
        text = "+" + digits  # 7XXXXXXXXXX written without the plus
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("%(value)s is not a phone number."), code="invalid_phone", params={"value": raw}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(value)s is not a valid phone number."), code="invalid_phone", params={"value": raw}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """Show only the country code, the operator code and the last two digits."""
    if not phone or len(phone) < 8:
        return phone
    return f"{phone[:5]}***-**-{phone[-2:]}"
