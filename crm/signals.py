"""Domain events of the customer core, for the outer apps to subscribe to (architecture.md).

``customer_occasion`` is sent *inside* the transaction that caused it, so what a subscriber
writes (a welcome bonus, a referral reward) commits or rolls back with its cause: it can be
neither lost nor given for something that did not happen. Subscribers must be idempotent:
the same occasion may be sent again (a profile saved twice, a job re-run).

Arguments of ``customer_occasion``:

- ``kind``: ``registration``, ``first_purchase``, ``profile_completed``, ``consent``,
  ``tier_change``, ``counter`` or ``event``;
- ``customer``: the ``crm.Customer``;
- ``at``: when it happened (aware);
- ``terminal``: the ``loyalty.Terminal`` it came through, or None;
- ``details``: a dict of what the kind needs: ``channel`` (consent), ``tier_id`` and ``up``
  (tier change), ``counter_id``, ``period_start``, ``before``, ``after`` (counter),
  ``event`` (a ``loyalty.CustomerEvent``), ``receipt`` (first purchase).
"""

from __future__ import annotations

from django.dispatch import Signal

customer_occasion = Signal()


def occasion_send(kind: str, customer, at, terminal=None, **details) -> list:
    """Send ``customer_occasion`` (in the caller's transaction); return what the receivers
    answered, flattened (the promotions' firings)."""
    answers = customer_occasion.send(
        sender=type(customer),
        kind=kind,
        customer=customer,
        at=at,
        terminal=terminal,
        details=details,
    )
    return [item for _receiver, answer in answers for item in (answer or ())]


# Sent inside ``crm.services.anonymisation.customer_anonymise``'s transaction, after the profile
# is erased, with ``customer``, ``user`` and ``at``: each outer app erases the personal data it
# keeps about the customer. A receiver may answer a dict of counts for the audit event.
customer_anonymising = Signal()

# Sent inside the same transaction once the customer is anonymised, with ``customer``,
# ``user``, ``reason``, ``before`` ({"fields": the names erased}) and ``after`` (what was
# deleted and revoked, with the counts the ``customer_anonymising`` receivers answered): the
# audit trail records the ANONYMISE event from it.
customer_anonymised = Signal()

# Sent inside ``crm.services.verification.verification_start``'s transaction with
# ``verification`` (a ``crm.ContactVerification``), ``code`` (the SMS code, else None) and
# ``link`` (the absolute email link, else None). The outbox (communications) answers the
# message it queued; the start is refused and rolled back unless exactly one receiver
# answered one, so a code is never stored without its message, nor sent twice. The plain code
# and link exist only in these arguments and in that message.
contact_verification_started = Signal()
