"""The nightly tier review: a customer who stopped buying goes down (mechanics.md, item 6).

An active programme reviews its tiers when it has a review period of X days
(``Programme.tier_review_days``); ``tier_review_min_spend`` is Y and ``tier_downgrade`` says
how far down. A membership is reviewed when it is not set by hand (``is_manual``), its tier is
above the programme's entry tier (the lowest rank), and it has been in that tier for at least
X days (``since`` at most X days ago).

The review counts the customer's receipts in the programme (in its currencies) sold in the
last X days that still stand: confirmed or partially refunded; a cancelled or fully refunded
receipt is no purchase. Each counts what it added to the tier (``Receipt.tier_amount``, the
part paid in money) less what its refunds took back, computed as the refund path computes it
(``_tier_undo``). No receipt: down, reason ``no_purchase``. Receipts worth less than Y in all:
down, reason ``low_spend``. Y = 0 means that only a period without any purchase counts; a
receipt paid wholly with points is a purchase worth 0.

Down is one rank down, or to the entry tier. The membership's ``since`` becomes the time of
the review, so its next review is X days later: a second run the same night lowers nobody
again. Its ``qualifying_amount`` becomes the new tier's threshold: purchases re-rank the
customer by that amount, so keeping the all-time total would put them straight back on their
next purchase; after a downgrade they climb by spending the difference between the thresholds
anew. The amount before is kept in the ``TierChange`` written for each downgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from crm.signals import occasion_send
from loyalty.errors import RequestInProgress
from loyalty.locks import accounts_for_update
from loyalty.models import Account, Programme, Receipt, Tier, TierChange, TierMembership
from loyalty.money import ZERO, quantize, share
from loyalty.signals import tier_changed
from loyalty.transactions import money_transaction, retrying

# Receipts that still stand as purchases; a cancelled or fully refunded one does not.
STANDING = (Receipt.Status.CONFIRMED, Receipt.Status.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class _Review:
    """One programme's review at one moment."""

    programme: Programme
    tiers: list[Tier]  # by rank, the entry tier first
    now: datetime

    @property
    def start(self) -> datetime:
        days = self.programme.tier_review_days
        assert days is not None  # only the programmes with a review period are reviewed
        return self.now - timedelta(days=days)

    def due(self) -> QuerySet[TierMembership]:
        return TierMembership.objects.filter(
            programme=self.programme,
            is_manual=False,
            tier__rank__gt=self.tiers[0].rank,
            since__lte=self.start,
        )

    def is_due(self, membership: TierMembership) -> bool:
        """``due()`` for one row read again under its lock."""
        rank = next((t.rank for t in self.tiers if t.pk == membership.tier_id), None)
        return (
            membership.programme_id == self.programme.pk
            and not membership.is_manual
            and rank is not None
            and rank > self.tiers[0].rank
            and membership.since <= self.start
        )

    def reason(self, found: tuple[int, Decimal] | None) -> str | None:
        """Why the tier goes down given (receipts, spend) of the period, or None if it stays."""
        if found is None or found[0] == 0:
            return TierChange.Reason.NO_PURCHASE
        if found[1] < self.programme.tier_review_min_spend:
            return TierChange.Reason.LOW_SPEND
        return None

    def target(self, tier_id: int) -> Tier:
        if self.programme.tier_downgrade == Programme.TierDowngrade.LOWEST:
            return self.tiers[0]
        rank = next(t.rank for t in self.tiers if t.pk == tier_id)
        return [t for t in self.tiers if t.rank < rank][-1]


def tiers_review(now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Lower the tier of every customer who bought nothing, or too little, in the review
    period of their programme; return how many memberships were reviewed, lowered, and left
    for the next night because their rows stayed locked (``busy``).

    Memberships are read in chunks of ``batch``; the receipts of a chunk are summed in two
    queries without locks, and only a membership that goes down is then locked and checked
    again, in a short transaction of its own (``_downgrade``). Safe to run twice and
    concurrently with purchases and refunds.
    """
    now = now or timezone.now()
    totals = {"reviewed": 0, "downgraded": 0, "busy": 0}
    programmes = Programme.objects.filter(is_active=True, tier_review_days__isnull=False)
    for programme in programmes.order_by("pk"):
        tiers = list(Tier.objects.filter(programme=programme).order_by("rank"))
        if len(tiers) < 2:
            continue
        review = _Review(programme, tiers, now)
        last = 0
        while True:
            chunk = list(
                review.due()
                .filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "customer_id")[:batch]
            )
            if not chunk:
                break
            spend = _period_spend(programme.pk, [c for _m, c in chunk], review.start)
            for membership_id, customer_id in chunk:
                totals["reviewed"] += 1
                if review.reason(spend.get(customer_id)) is None:
                    continue
                try:
                    change = retrying(partial(_downgrade, review, membership_id, customer_id))
                except RequestInProgress:
                    totals["busy"] += 1
                    continue
                if change is not None:
                    totals["downgraded"] += 1
            last = chunk[-1][0]
    return totals


def _period_spend(
    programme_id: int, customer_ids: list[int], start: datetime
) -> dict[int, tuple[int, Decimal]]:
    """Per customer: the standing receipts of the programme sold after ``start``, and what
    they count towards the tier (money paid, less what refunds took back)."""
    receipts = Receipt.objects.filter(
        customer_id__in=customer_ids,
        currency__programme_id=programme_id,
        sold_at__gt=start,
        status__in=STANDING,
    ).order_by()
    found: dict[int, tuple[int, Decimal]] = {}
    confirmed = (
        receipts.filter(status=Receipt.Status.CONFIRMED)
        .values("customer_id")
        .annotate(count=Count("pk"), amount=Sum("tier_amount"))
        .values_list("customer_id", "count", "amount")
    )
    for customer_id, count, amount in confirmed:
        found[customer_id] = (count, quantize(amount or ZERO))
    partly = (
        receipts.filter(status=Receipt.Status.PARTIALLY_REFUNDED)
        .annotate(refunded=Sum("lines__refund_lines__to_pay"))
        .values_list("customer_id", "tier_amount", "to_pay", "refunded")
    )
    for customer_id, tier_amount, to_pay, refunded in partly:
        # What _tier_undo has taken back so far, the same cumulative share.
        taken = share(tier_amount, quantize(refunded or ZERO), to_pay or Decimal(1), 2)
        count, amount = found.get(customer_id, (0, ZERO))
        found[customer_id] = (count + 1, amount + tier_amount - taken)
    return found


def _downgrade(review: _Review, membership_id: int, customer_id: int) -> TierChange | None:
    """Lower one membership if it is still due, under its locks; return the change or None.

    Locks, in this order: the customer's accounts (pk order, ``loyalty.locks``), then the
    membership row. It is the order of every writer of a membership: a purchase locks the
    accounts (``_lock``) and then the membership (``purchase_sql.lock``, ``_tier_progress``),
    a refund the accounts, its receipt and lines, then the membership; an operator's edit in
    the admin locks the membership alone. The review locks nothing else (receipts are only
    read; the TierChange insert key-shares the customer, programme and tier rows, as a
    purchase's receipt does, and may wait for an operator saving the customer, who takes none
    of these locks), so no cycle can form: that would need someone holding a membership while
    waiting for an account, and nobody does.

    Taking the accounts first also settles the race with a purchase of the same customer: a
    purchase holds its accounts from before it reads the tier until it commits, so the review
    waits for it and then counts its receipt; a purchase that comes later waits for the review
    and sees the lowered tier. The waits are bounded (``lock_timeout``): a busy membership
    raises ``RequestInProgress`` and is reviewed again the next night.
    """
    with money_transaction():
        account_ids = list(
            Account.objects.filter(kind=Account.Kind.CUSTOMER, customer_id=customer_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        list(accounts_for_update(account_ids))
        membership = (
            TierMembership.objects.select_for_update(of=("self",)).filter(pk=membership_id).first()
        )
        if membership is None or not review.is_due(membership):
            return None
        found = _period_spend(review.programme.pk, [customer_id], review.start).get(customer_id)
        reason = review.reason(found)
        if reason is None:
            return None
        target = review.target(membership.tier_id)
        change = TierChange(
            customer_id=customer_id,
            programme=review.programme,
            from_tier_id=membership.tier_id,
            to_tier=target,
            reason=reason,
            qualifying_amount_before=membership.qualifying_amount,
            qualifying_amount_after=target.threshold,
            period_spend=found[1] if found else ZERO,
            changed_at=review.now,
        )
        membership.tier = target
        membership.qualifying_amount = target.threshold
        membership.since = review.now
        membership.save(update_fields=["tier", "qualifying_amount", "since"])
        tier_change_record(change, up=False)
        return change


def tier_change_record(
    change: TierChange, receipt: Receipt | None = None, *, up: bool, occasion: bool = True
) -> None:
    """Insert ``change``; send the ``tier_change`` occasion in this transaction (``occasion``:
    the promotions waiting for it reward it with its cause; ``up``: whether it went up) and
    ``tier_changed`` once the transaction commits."""
    change.receipt = receipt
    change.save()
    if occasion:
        occasion_send(
            "tier_change",
            change.customer,
            change.changed_at,
            tier_id=change.to_tier_id,
            up=up,
            receipt=receipt,
        )
    transaction.on_commit(lambda: tier_changed.send(sender=TierChange, change=change))
