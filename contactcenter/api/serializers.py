"""The shape of ``POST /api/v1/tickets``: what the app or website sends, and the answer."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from contactcenter.models import Priority, Ticket
from processing.api.serializers import CARD_MAX_LENGTH, PhoneField, StringField, id_field

SUBJECT_MAX_LENGTH = 300
BODY_MAX_LENGTH = 10_000
# The channels an API client may name; calls and emails come in through the contact centre.
API_CHANNELS = [Ticket.Channel.APP, Ticket.Channel.WEB, Ticket.Channel.POS]
TICKET_STATUSES = [(value, value) for value in Ticket.Status.values]
TICKET_PRIORITIES = [(value, value) for value in Priority.values]


class TicketCustomerSerializer(serializers.Serializer):
    card = StringField(
        max_length=CARD_MAX_LENGTH,
        required=False,
        allow_null=True,
        help_text="The customer's card number; an unknown one is 404 `card_not_found`.",
    )
    phone = PhoneField(
        required=False,
        allow_null=True,
        help_text="Any notation. Links the customer who has it; otherwise kept as the contact.",
    )
    email = serializers.EmailField(
        max_length=254, required=False, allow_null=True, help_text="Where to send the answers."
    )

    default_error_messages = {
        "contact_required": _("Give at least one of card, phone or email, so we can answer."),
    }

    def validate(self, attrs):
        if not any(attrs.get(name) for name in ("card", "phone", "email")):
            raise serializers.ValidationError(
                self.error_messages["contact_required"], code="contact_required"
            )
        return attrs


class TicketSubmitSerializer(serializers.Serializer):
    request_id = id_field(
        required=False,
        help_text="Unique per terminal; a retry sends the same one and gets the same ticket.",
    )
    channel = serializers.ChoiceField(choices=[(c.value, c.value) for c in API_CHANNELS])
    category = serializers.RegexField(
        r"^[-a-zA-Z0-9_]{1,64}$",
        help_text="The category's code, as defined in the admin, e.g. missing_points.",
    )
    subject = StringField(min_length=1, max_length=SUBJECT_MAX_LENGTH)
    body = StringField(min_length=1, max_length=BODY_MAX_LENGTH, help_text="The request itself.")
    customer = TicketCustomerSerializer(
        help_text='Who is asking: {"card": ...}, {"phone": ...} and/or {"email": ...}.'
    )
    receipt_id = id_field(
        required=False,
        allow_null=True,
        help_text="The receipt it is about: one of the customer's (or, for an unknown "
        "customer, of this terminal's partner); an unknown one is 404 `receipt_not_found`.",
    )

    def service_arguments(self) -> dict:
        data = self.validated_data
        customer = data["customer"]
        return {
            "request_id": data.get("request_id") or "",
            "channel": data["channel"],
            "category_code": data["category"],
            "subject": data["subject"],
            "body": data["body"],
            "card": customer.get("card") or None,
            "phone": customer.get("phone") or None,
            "email": customer.get("email") or None,
            "receipt_id": data.get("receipt_id") or None,
        }


class TicketResultSerializer(serializers.Serializer):
    number = serializers.CharField(help_text='The ticket number, quoted as "[#number]" in mail.')
    status = serializers.ChoiceField(choices=TICKET_STATUSES)
    channel = serializers.ChoiceField(choices=[(c.value, c.value) for c in Ticket.Channel])
    category = serializers.CharField()
    priority = serializers.ChoiceField(choices=TICKET_PRIORITIES)
    customer = serializers.CharField(
        allow_null=True, help_text="The linked customer's public id; null when unknown."
    )
    created_at = serializers.DateTimeField()
    first_response_due = serializers.DateTimeField(
        allow_null=True, help_text="When the first answer is due (SLA, working hours)."
    )
    resolution_due = serializers.DateTimeField(
        allow_null=True, help_text="When the resolution is due (SLA, working hours)."
    )
