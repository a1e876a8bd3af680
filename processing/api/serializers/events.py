"""Customer events from outside systems: the request and the answer."""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from processing.api.bodies import UNSTORABLE_MESSAGE, unstorable_text_errors
from processing.api.serializers.fields import (
    CARD_MAX_LENGTH,
    AwareDateTimeField,
    PhoneField,
    StringField,
    id_field,
)

MAX_EVENT_ATTRIBUTES_BYTES = 8192


class EventCustomerSerializer(serializers.Serializer):
    card = StringField(max_length=CARD_MAX_LENGTH, required=False, allow_null=True)
    phone = PhoneField(required=False, allow_null=True)

    default_error_messages = {
        "one_of": _("Name the customer by exactly one of card or phone."),
    }

    def validate(self, attrs):
        given = [name for name in ("card", "phone") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(self.error_messages["one_of"], code="one_of")
        return attrs


class EventSerializer(serializers.Serializer):
    """A customer's event reported by an external system."""

    customer = EventCustomerSerializer(help_text='{"card": ...} or {"phone": ...}.')
    type = serializers.RegexField(
        r"^[a-z0-9_\-]{1,64}$",
        help_text="The event type's code, as defined in the admin, e.g. joined_group.",
    )
    event_id = id_field(help_text="Unique per terminal; a retry sends the same one.")
    occurred_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When it happened. Defaults to now."
    )
    attributes = serializers.DictField(
        required=False, default=dict, help_text="Anything the event carries; kept as sent."
    )

    default_error_messages = {
        "attributes_too_large": _("The attributes take more than 8 KiB."),
    }

    def validate_attributes(self, value: dict) -> dict:
        if unstorable_text_errors(value):  # the parser refuses them first; this for any caller
            raise serializers.ValidationError(UNSTORABLE_MESSAGE, code="unstorable_text")
        size = len(json.dumps(value, default=str).encode())
        if size > MAX_EVENT_ATTRIBUTES_BYTES:
            raise serializers.ValidationError(
                self.error_messages["attributes_too_large"], code="attributes_too_large"
            )
        return value

    def service_arguments(self) -> dict:
        data = self.validated_data
        return {
            "event_id": data["event_id"],
            "type_code": data["type"],
            "card": data["customer"].get("card") or None,
            "phone": data["customer"].get("phone") or None,
            "occurred_at": data.get("occurred_at"),
            "attributes": data.get("attributes") or {},
        }


class EventCounterSerializer(serializers.Serializer):
    counter = serializers.CharField()
    value = serializers.CharField()


class EventPointsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.CharField()
    to = serializers.ChoiceField(choices=["customer", "referrer"])


class EventRewardSerializer(serializers.Serializer):
    promotion = serializers.IntegerField()
    name = serializers.CharField()
    points = EventPointsSerializer(many=True)


class EventCustomerPartSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The customer's public id.")


class EventResultSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted"])
    customer = EventCustomerPartSerializer()
    occurred_at = serializers.DateTimeField()
    counters = EventCounterSerializer(many=True)
    rewards = EventRewardSerializer(many=True)
