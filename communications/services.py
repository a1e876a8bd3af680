"""Queue messages to customers through the channels they consented to."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from communications.models import Message
from crm.models import Consent, ContactVerification, Customer

# Where each channel sends: the customer's phone or email.
ADDRESS_OF = {
    Consent.Channel.SMS: "phone",
    Consent.Channel.VIBER: "phone",
    Consent.Channel.TELEGRAM: "phone",
    Consent.Channel.PUSH: "phone",
    Consent.Channel.EMAIL: "email",
}


class _Macros(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unknown macro stays as written


def message_render(text: str, **values) -> str:
    """``text`` with ``{first_name}``-style macros replaced (unknown ones left as they are)."""
    return text.format_map(_Macros(values))


def messages_queue(
    customer: Customer, text: str, *, promotion_id: int | None = None, firing=None
) -> list[Message]:
    """Queue ``text`` on every channel the customer has consented to and has an address for
    (calls are not a messaging channel). Returns the messages queued (none without consent)."""
    if customer.is_anonymised or not text.strip():
        return []
    granted = Consent.objects.filter(customer=customer, is_granted=True).values_list(
        "channel", flat=True
    )
    messages = []
    for channel in sorted(granted):
        field = ADDRESS_OF.get(channel)
        address = getattr(customer, field) if field else None
        if address:
            messages.append(
                Message(
                    customer=customer,
                    channel=channel,
                    address=address,
                    text=text,
                    promotion_id=promotion_id,
                    firing=firing,
                )
            )
    return Message.objects.bulk_create(messages)


def message_resend(message: Message) -> Message | None:
    """Queue ``message``'s text again on its channel, to the customer's current address for it
    (the one it went to if they have none now). Returns the new message, or None when the
    customer no longer consents to that channel (or is anonymised)."""
    customer = message.customer
    consents = Consent.objects.filter(customer=customer, channel=message.channel, is_granted=True)
    if customer.is_anonymised or not consents.exists():
        return None
    field = ADDRESS_OF.get(message.channel)
    address = (getattr(customer, field) if field else None) or message.address
    return Message.objects.create(
        customer=customer,
        channel=message.channel,
        address=address,
        text=message.text,
        promotion_id=message.promotion_id,
    )


def on_occasion_rewarded(sender, firing, rule, points, **_kwargs) -> None:
    """``promotions.signals.occasion_rewarded``: tell the customer, if the promotion says so."""
    if not rule.customer_message:
        return
    customer = firing.customer
    total = sum((amount for _code, amount, _expires in points), Decimal("0"))
    expiries = [expires for _code, _amount, expires in points if expires is not None]
    text = message_render(
        rule.customer_message,
        first_name=customer.first_name,
        points=formats.number_format(total, decimal_pos=2) if points else "",
        currency=points[0][0] if points else "",
        expires=formats.date_format(timezone.localtime(min(expiries)), "DATE_FORMAT")
        if expiries
        else "",
    )
    messages_queue(customer, text, promotion_id=rule.id, firing=firing)


def on_customers_merging(sender, keep, gone, **_kwargs) -> None:
    """Move ``gone``'s messages, sent and queued, to ``keep`` in the merge's transaction: the
    history of what a person was told stays in one place. Each keeps the address it was
    queued for."""
    Message.objects.filter(customer=gone).update(customer=keep)


def on_customer_anonymising(sender, customer, **_kwargs) -> dict:
    """``crm.signals.customer_anonymising``: erase the address and text of the customer's
    messages (the rows stay for the delivery statistics); a queued one will not be sent."""
    messages = Message.objects.filter(customer=customer)
    messages.filter(status=Message.Status.QUEUED).update(status=Message.Status.FAILED)
    return {"messages_scrubbed": messages.update(address="", text="")}


def on_coupons_issued(sender, customer, coupons, receipt=None, **_kwargs) -> None:
    """``promotions.signals.coupons_issued``: tell the customer the codes a purchase earned
    them, on the channels they consented to, in the project's language."""
    for coupon in coupons:
        with translation.override(settings.LANGUAGE_CODE):
            if coupon.valid_until is not None:
                text = _("Your coupon for the next purchase: %(code)s, valid until %(until)s.") % {
                    "code": coupon.code,
                    "until": formats.date_format(
                        timezone.localtime(coupon.valid_until), "DATE_FORMAT"
                    ),
                }
            else:
                text = _("Your coupon for the next purchase: %(code)s.") % {"code": coupon.code}
        messages_queue(customer, str(text))


def on_contact_verification_started(sender, verification, code=None, link=None, **_kwargs):
    """``crm.signals.contact_verification_started``: queue the code (SMS) or the link (email)
    to the address being verified, in the start's transaction, in the project's language.

    Sent whatever the customer's marketing consents say: it is the service message they (or
    an operator for them) asked for. The text is the only place the plain code is kept; the
    outbox pages hide it (``Message.verification``)."""
    lifetime = verification.expires_at - verification.created_at
    with translation.override(settings.LANGUAGE_CODE):
        if verification.channel == ContactVerification.Channel.SMS:
            text = _(
                "%(code)s is your code to confirm this phone number in the loyalty programme. "
                "It is valid for %(minutes)d minutes."
            ) % {"code": code, "minutes": round(lifetime.total_seconds() / 60)}
        else:
            text = _(
                "To confirm this email address for the loyalty programme, open %(link)s and "
                "press Confirm. The link is valid for %(hours)d hours. If you did not ask for "
                "it, ignore this message."
            ) % {"link": link, "hours": round(lifetime.total_seconds() / 3600)}
    return Message.objects.create(
        customer=verification.customer,
        channel=verification.channel,
        address=verification.address,
        text=str(text),
        verification=verification,
    )
