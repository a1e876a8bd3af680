"""Tier progress of a purchase or a refund: the qualifying spend moves, the tier follows (unless
set by hand), a tier a promotion gives is recorded so that a cancel takes it back. The tiers
come from the rules snapshot; the record of each move is ``loyalty.services.tiers``'."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from crm.models import Customer
from loyalty.models import (
    Receipt,
    ReceiptTierAward,
    Refund,
    TierChange,
    TierMembership,
)
from loyalty.money import ZERO
from loyalty.services.tiers import tier_change_record
from promotions.rules.snapshot import snapshot_get


def tier_step(membership: TierMembership, tiers, delta: Decimal) -> str | None:
    """Move a membership's qualifying spend by ``delta`` and re-rank it (unless the tier was
    set by hand); return the tier's name. Changes the instance only: the caller saves it."""
    if not delta:
        return next((t.name for t in tiers if t.id == membership.tier_id), None)
    membership.qualifying_amount = max(membership.qualifying_amount + delta, ZERO)
    name = next((t.name for t in tiers if t.id == membership.tier_id), tiers[-1].name)
    if not membership.is_manual:
        tier = next((t for t in tiers if membership.qualifying_amount >= t.threshold), tiers[-1])
        if tier.id != membership.tier_id or membership.pk is None:
            membership.tier_id = tier.id
            membership.since = timezone.now()
        name = tier.name
    return name


def tier_progress(
    customer: Customer, programme_id: int, delta: Decimal, reason: str
) -> tuple[str | None, TierChange | None]:
    """Move the customer's qualifying spend by ``delta`` and re-rank their tier; return its
    name and, when the tier moved, the change to record (unsaved: see ``tier_record``)."""
    tiers = snapshot_get().tiers_of(programme_id)
    if not tiers:
        return None, None
    membership = (
        TierMembership.objects.select_for_update(of=("self",))
        .filter(customer=customer, programme_id=programme_id)
        .first()
    )
    name, moved, change = tier_progress_step(
        customer, programme_id, tiers, membership, membership is not None, delta, reason
    )
    if moved is not None:
        moved.save()
    return name, change


def tier_progress_step(
    customer: Customer,
    programme_id: int,
    tiers,
    membership: TierMembership | None,
    exists: bool,
    delta: Decimal,
    reason: str,
) -> tuple[str | None, TierMembership | None, TierChange | None]:
    """``delta`` added to the qualifying spend of ``membership`` (``exists``: it is the
    customer's, saved or about to be), without writing: the tier's name, the membership to
    write (None: nothing changed) and the change of tier (unsaved), if any."""
    if not delta:
        name = tier_step(membership, tiers, delta) if exists and membership is not None else None
        return name, None, None
    if membership is None:
        # A first purchase: entering the entry tier is no change; entering a higher one is.
        membership = TierMembership(
            customer=customer, programme_id=programme_id, tier_id=tiers[-1].id
        )
        membership.qualifying_amount = ZERO
    before = (membership.tier_id if exists else None, membership.qualifying_amount)
    name = tier_step(membership, tiers, delta)
    return name, membership, tier_move(membership, *before, reason)


def tier_move(
    membership: TierMembership, from_tier_id: int | None, amount_before: Decimal, reason: str
) -> TierChange | None:
    """The change of ``membership``'s tier from ``from_tier_id``, or None if it stayed."""
    if membership.tier_id == from_tier_id or (
        from_tier_id is None
        and membership.tier_id == snapshot_get().entry_tier_id(membership.programme_id)
    ):
        return None
    return TierChange(
        customer_id=membership.customer_id,
        programme_id=membership.programme_id,
        from_tier_id=from_tier_id,
        to_tier_id=membership.tier_id,
        reason=reason,
        qualifying_amount_before=amount_before,
        qualifying_amount_after=membership.qualifying_amount,
        changed_at=membership.since,
    )


def tier_record(change: TierChange, receipt: Receipt | None = None) -> None:
    """Insert ``change`` (see ``loyalty.services.tiers.tier_change_record``), telling the
    promotions waiting for a tier change whether it went up, when any waits for one."""
    snapshot = snapshot_get()
    waited = "tier_change" in snapshot.occasion_kinds
    up = False
    if waited:
        # Up: from no tier (entering the entry tier is never recorded) or to a higher one.
        thresholds = {tier.id: tier.threshold for tier in snapshot.tiers}
        up = change.from_tier_id is None or thresholds.get(
            change.to_tier_id, ZERO
        ) > thresholds.get(change.from_tier_id, ZERO)
    tier_change_record(change, receipt, up=up, occasion=waited)


def tier_awards_undo(
    receipt: Receipt, refund: Refund, now: datetime, customer_id: int | None
) -> None:
    """Take back, once, the tiers promotions gave with ``receipt``: the qualifying spend goes
    down by what each added and, if the customer is still in the tier it gave, the tier
    follows the spend (a tier set by hand goes back to where it was)."""
    awards = list(ReceiptTierAward.objects.filter(receipt=receipt, undone_by__isnull=True))
    for award in sorted(awards, key=lambda a: a.pk, reverse=True):
        membership = (
            TierMembership.objects.select_for_update(of=("self",))
            .filter(customer_id=customer_id, programme_id=award.programme_id)
            .first()
            if customer_id is not None  # an anonymous receipt: no membership
            else None
        )
        if membership is not None:
            tiers = snapshot_get().tiers_of(award.programme_id)
            before = (membership.tier_id, membership.qualifying_amount)
            membership.qualifying_amount = max(
                membership.qualifying_amount - award.amount_added, ZERO
            )
            if membership.tier_id == award.to_tier_id and tiers:
                if membership.is_manual:
                    membership.tier_id = award.from_tier_id or tiers[-1].id
                else:
                    membership.tier_id = next(
                        (t.id for t in tiers if membership.qualifying_amount >= t.threshold),
                        tiers[-1].id,
                    )
                if membership.tier_id != before[0]:
                    membership.since = now
            membership.save(update_fields=["qualifying_amount", "tier_id", "since"])
            change = tier_move(membership, *before, TierChange.Reason.REFUND)
            if change is not None:
                tier_record(change, receipt)
        award.undone_by = refund
        award.save(update_fields=["undone_by"])
