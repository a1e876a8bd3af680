"""The shape of the codes staff give things (questions, segments, programmes, promotions...):
the lowest layer defines it, every app above uses it."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_code(value: str) -> None:
    if not CODE_RE.match(value):
        raise ValidationError(
            _(
                "Use 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit."
            ),
            code="invalid_code",
        )
