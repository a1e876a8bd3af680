"""The segment conditions on the communication history, registered into
``crm.segments.registry`` by ``CommunicationsConfig.ready`` (communications is an outer app:
it reads crm, loyalty and promotions, and crm knows only the registry):

- ``messages_received``: at least ``min`` messages (one when left out) sent to the customer
  (``Message`` in status sent) within the window (by ``sent_at``), on the channels and for the
  promotions named (any when left out);
- ``messages_opened`` / ``messages_clicked``: the same, counting the messages the customer
  opened / followed a link in within the window (by ``opened_at`` / ``clicked_at``, which the
  channels' tracking fills);
- ``unsubscribed``: the customer withdrew their consent to one of the channels (any when left
  out) and has not given it again, withdrawn within the window when one is given
  (``Consent``: not granted, ``revoked_at`` set).

Each is an ``Exists`` (or, for more than one message, ``pk IN`` a grouped subquery of customer
ids, never NULL), so it is true or false for every customer.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from communications.models import Message
from crm.models import Consent
from crm.segments.aggregates import aggregate_q
from crm.segments.params import Param
from crm.segments.registry import CompileContext, ConditionKind, Values, register

COMMUNICATIONS = _("Communications")
# Calls are consented to, but no message goes through them.
MESSAGE_CHANNELS = [(value, label) for value, label in Consent.Channel.choices if value != "call"]

# kind -> (the moment the window reads, what the message must have)
MESSAGE_MOMENTS = {
    "messages_received": ("sent_at", Q(status=Message.Status.SENT)),
    "messages_opened": ("opened_at", Q(opened_at__isnull=False)),
    "messages_clicked": ("clicked_at", Q(clicked_at__isnull=False)),
}


def _messages(kind: str):
    moment, has = MESSAGE_MOMENTS[kind]

    def compile_(values: Values, ctx: CompileContext) -> Q:
        q = has
        if values["channels"]:
            q &= Q(channel__in=values["channels"])
        if values["promotions"]:
            q &= Q(promotion_id__in=values["promotions"])
        if values["window"] is not None:
            q &= Q(**{f"{moment}__isnull": False}) & values["window"].q(moment, ctx.now)
        least = values["min"]
        if least is None or least <= 1:
            return Q(Exists(Message.objects.filter(q, customer=OuterRef("pk"))))
        return aggregate_q(
            Message.objects.filter(q), "customer_id", Count("pk"), least, None, zero_when_none=False
        )

    return compile_


def _unsubscribed(values: Values, ctx: CompileContext) -> Q:
    q = Q(customer=OuterRef("pk"), is_granted=False, revoked_at__isnull=False)
    if values["channels"]:
        q &= Q(channel__in=values["channels"])
    if values["window"] is not None:
        q &= values["window"].q("revoked_at", ctx.now)
    return Q(Exists(Consent.objects.filter(q)))


def _message_params(least_label) -> tuple[Param, ...]:
    return (
        Param(
            "channels",
            _("through the channels"),
            "choices",
            choices=MESSAGE_CHANNELS,
            help_text=_("Empty: any channel."),
        ),
        Param(
            "promotions",
            _("from the promotions"),
            "ids",
            model="promotions.Promotion",
            programme_field="programme",
            help_text=_("Empty: any message, whatever sent it."),
        ),
        Param("window", _("when"), "window", help_text=_("Empty: all time.")),
        Param(
            "min",
            least_label,
            "int",
            minimum=1,
            maximum=100000,
            help_text=_("Empty: at least one."),
        ),
    )


def register_communication_kinds() -> None:
    register(
        ConditionKind(
            "messages_received",
            _("received messages"),
            COMMUNICATIONS,
            _message_params(_("at least, messages")),
            _messages("messages_received"),
            app_label="communications",
            help_text=_("Messages sent to the customer, dated by when they were sent."),
        ),
        ConditionKind(
            "messages_opened",
            _("opened messages"),
            COMMUNICATIONS,
            _message_params(_("at least, messages opened")),
            _messages("messages_opened"),
            app_label="communications",
            help_text=_(
                "Dated by when the customer opened them, as the channel's tracking reports."
            ),
        ),
        ConditionKind(
            "messages_clicked",
            _("clicked a link in messages"),
            COMMUNICATIONS,
            _message_params(_("at least, messages clicked")),
            _messages("messages_clicked"),
            app_label="communications",
            help_text=_(
                "Dated by when the customer followed a link, as the channel's tracking reports."
            ),
        ),
        ConditionKind(
            "unsubscribed",
            _("unsubscribed"),
            COMMUNICATIONS,
            (
                Param(
                    "channels",
                    _("from the channels"),
                    "choices",
                    choices=Consent.Channel.choices,
                    help_text=_("Empty: any channel."),
                ),
                Param(
                    "window",
                    _("when"),
                    "window",
                    help_text=_("Empty: whenever, as long as the consent is still withdrawn."),
                ),
            ),
            _unsubscribed,
            app_label="communications",
            help_text=_("Withdrew a consent to be contacted and has not given it again."),
        ),
    )
