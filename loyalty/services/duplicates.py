"""Deciding a suggested duplicate (``crm.services.duplicates`` finds them): merge the two
customers with the usual merge (``customers_merge``: cards, points, tiers, counters and the
rest), keeping the one the reviewer chose; the suggestion records who decided and when, and the
other open suggestions about the customer who is gone no longer hold."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Customer, DuplicateSuggestion
from loyalty.services.card_operations import customers_merge

Status = DuplicateSuggestion.Status


@transaction.atomic
def duplicate_merge(*, suggestion: DuplicateSuggestion, keep: Customer, user) -> Customer:
    """Merge the pair of ``suggestion`` into ``keep`` (one of its two customers).

    Raises ``ValueError`` for a customer outside the pair or a suggestion already decided, and
    what ``customers_merge`` raises (points held at a register, a customer already merged);
    nothing is written then."""
    suggestion = DuplicateSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    if suggestion.status != Status.OPEN:
        raise ValueError(f"suggestion {suggestion.pk} is {suggestion.status}, not open")
    pair = {suggestion.customer_a_id, suggestion.customer_b_id}
    if keep.pk not in pair:
        raise ValueError(f"customer {keep.pk} is not one of suggestion {suggestion.pk}")
    (gone_id,) = pair - {keep.pk}
    kept = customers_merge(keep=keep, gone=Customer.objects.get(pk=gone_id), user=user)
    now = timezone.now()
    suggestion.status, suggestion.decided_at, suggestion.decided_by = Status.MERGED, now, user
    suggestion.save(update_fields=["status", "decided_at", "decided_by"])
    DuplicateSuggestion.objects.filter(
        Q(customer_a_id=gone_id) | Q(customer_b_id=gone_id), status=Status.OPEN
    ).update(status=Status.OBSOLETE, decided_at=now)
    return kept
