"""The OpenAPI schema of the API says what the server accepts, not less strictly.

drf-spectacular maps a request field from its type and validators, which leaves out rules the
server applies all the same; a client generated from the schema (or a fuzzer) then sends
values the server refuses. ``PosAutoSchema`` adds them to every request body and query:

- text (a ``CharField`` without a format or a pattern of its own): the server strips it and
  refuses it blank unless ``allow_blank``, and refuses NUL in any case; the pattern says so;
- decimal strings: the pattern of the field's own digits and places and its sign (money
  ``>= 0``, quantities ``> 0``), instead of drf-spectacular's, which admits ``""`` and ``"-1"``;
- a list that may not be empty has ``minItems: 1``.

The server is more lenient than its schema in a few notations it reads all the same (spaces
around a value, an integer for a decimal string); the schema gives the canonical form.
"""

from __future__ import annotations

from drf_spectacular.drainage import has_override
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

# Not blank once stripped of whitespace, and no NUL anywhere (unambiguous, so linear to match).
TEXT_PATTERN = r"^\s*[^\s\u0000][^\u0000]*$"
# A text that may be blank: only no NUL.
BLANK_TEXT_PATTERN = r"^[^\u0000]*$"
# Fields whose text has a form of its own (and so a format or a pattern already).
FORMED_TEXT_FIELDS = (
    serializers.EmailField,
    serializers.RegexField,
    serializers.SlugField,
    serializers.URLField,
    serializers.UUIDField,
    serializers.IPAddressField,
)


def decimal_pattern(field: serializers.DecimalField, *, positive: bool) -> str:
    """The decimal strings a ``DecimalField`` accepts, in canonical form (no leading zeros).
    The field has its ``max_digits`` and ``decimal_places`` (the caller checks)."""
    digits, places = field.max_digits, field.decimal_places
    assert digits is not None
    assert places is not None
    whole = digits - places
    fraction = rf"(?:\.\d{{1,{places}}})?" if places else ""
    if positive:
        # A non-zero integer part, or 0 and a fraction with a non-zero digit.
        nonzero_fractions = "|".join(
            "0" * leading
            + "[1-9]"
            + (rf"\d{{0,{places - 1 - leading}}}" if leading < places - 1 else "")
            for leading in range(places)
        )
        alternatives = [rf"[1-9]\d{{0,{whole - 1}}}{fraction}"]
        if places:
            alternatives.append(rf"0\.(?:{nonzero_fractions})")
        return "^(?:" + "|".join(alternatives) + ")$"
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    return rf"^{sign}(?:0|[1-9]\d{{0,{whole - 1}}}){fraction}$"


class PosAutoSchema(AutoSchema):
    """drf-spectacular's ``AutoSchema`` with the server's own rules on request fields."""

    _directions: list[str | None]

    def _map_basic_serializer(self, serializer, direction):
        if not hasattr(self, "_directions"):
            self._directions = []
        self._directions.append(direction)
        try:
            return super()._map_basic_serializer(serializer, direction)
        finally:
            self._directions.pop()

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        from processing.api.serializers import DecimalStringField, PositiveDecimalStringField

        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(schema, dict)
            and isinstance(field, DecimalStringField)
            and not has_override(field, "field")
            and field.max_digits is not None
            and field.decimal_places is not None
        ):
            positive = isinstance(field, PositiveDecimalStringField)
            schema["pattern"] = decimal_pattern(field, positive=positive)
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        directions = getattr(self, "_directions", None)
        if not directions or directions[-1] != "request":
            return
        if (
            isinstance(field, serializers.ListField)
            and not field.allow_empty
            and schema.get("type") == "array"
        ):
            schema["minItems"] = max(schema.get("minItems", 0), 1)
        if (
            isinstance(field, serializers.CharField)
            and not isinstance(field, FORMED_TEXT_FIELDS)
            and not has_override(field, "field")
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "format" not in schema
        ):
            schema["pattern"] = BLANK_TEXT_PATTERN if field.allow_blank else TEXT_PATTERN
