"""Prize draws (mechanics.md item 19): who qualified, the draw, its rewards and its check.

The algorithm is the four pure functions below (``seed_commitment``, ``tickets_digest``,
``ticket_score``, ``winners_pick``), documented on ``promotions.models.Draw``: with the
published record (``draw_record``) anyone can re-run a draw in any language with SHA-256 and
a sort, and get the same winners.

- ``draw_candidates``: the customers who qualify, and with how many purchases.
- ``draw_schedule`` / ``draw_cancel``: the draw's life before it is drawn.
- ``draw_run``: draw the winners once, write the record and pay the points, under a row lock
  on the draw; a second run changes nothing. ``draws_run_due`` runs the scheduled draws whose
  period has ended (the beat job).
- ``draw_verify``: check a drawn draw against its record and against the database.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DecimalField, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Customer, SegmentMember
from loyalty.errors import LoyaltyError
from loyalty.models import (
    Account,
    LedgerEntry,
    Posting,
    Receipt,
    ReceiptLine,
    ReceiptLineReward,
    Refund,
    RefundLine,
)
from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES, QUANTITY_DECIMAL_PLACES, ZERO
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
    programme_account,
)
from promotions.errors import (
    DrawAlreadyDrawn,
    DrawCancelled,
    DrawNotDrawn,
    DrawNotDue,
    DrawSeedFixed,
    DrawSeedInvalid,
    DrawSeedTooLate,
)
from promotions.models import SEED_PATTERN, Draw, DrawWinner

logger = logging.getLogger(__name__)

SEED_BYTES = 32
ACTOR_NAME = "promotions.draw_run"

Ticket = tuple[str, int]  # (customer public id, ticket number from 1)


# --- The algorithm "sha256-rank/1" (pure: no database) -------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seed_normalize(seed: str) -> str:
    """Return ``seed`` in lower case; raise ``DrawSeedInvalid`` unless it is 32-128 hex digits."""
    value = seed.strip().lower()
    if not re.fullmatch(SEED_PATTERN, value):
        raise DrawSeedInvalid()
    return value


def seed_commitment(seed: str) -> str:
    """The SHA-256 (hex) of the seed's text: published before the draw, it binds the seed."""
    return _sha256(seed)


def tickets_digest(tickets: Sequence[Ticket]) -> str:
    """The SHA-256 (hex) of the tickets as text, one ``"<public_id>:<number>\\n"`` each."""
    return _sha256("".join(f"{public_id}:{number}\n" for public_id, number in tickets))


def ticket_score(seed: str, public_id: str, number: int) -> str:
    return _sha256(f"{seed}:{public_id}:{number}")


def winners_pick(seed: str, tickets: Sequence[Ticket], count: int) -> list[dict]:
    """The first ``count`` distinct customers of the tickets ranked by score (then public id,
    then number), ascending; every customer if there are fewer."""
    ranked = sorted((ticket_score(seed, p, n), p, n) for p, n in tickets)
    winners: list[dict] = []
    seen: set[str] = set()
    for score, public_id, number in ranked:
        if len(winners) == count:
            break
        if public_id in seen:
            continue
        seen.add(public_id)
        winners.append(
            {"place": len(winners) + 1, "public_id": public_id, "ticket_no": number, "score": score}
        )
    return winners


# --- Who qualifies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A customer who qualifies: their qualifying purchases and the money they paid in all."""

    customer_id: int
    public_id: str
    purchases: int
    paid: Decimal


def _total(queryset: QuerySet, group: str, field_name: str, places: int) -> Coalesce:
    """The sum of ``field_name`` over ``queryset`` for the receipt of the outer row (0 if none)."""
    output = DecimalField(max_digits=MAX_DIGITS, decimal_places=places)
    sums = queryset.order_by().values(group).annotate(total=Sum(field_name)).values("total")[:1]
    return Coalesce(Subquery(sums, output_field=output), Value(ZERO), output_field=output)


def draw_purchases(draw: Draw, *, at: datetime) -> QuerySet[Receipt]:
    """The draw's qualifying purchases as they stood at ``at`` (see ``Draw``), before the
    per-customer rules; each annotated with ``refunded`` (money its refunds returned by
    ``at``), ``bought`` and ``returned`` (its quantities, bought and refunded by ``at``).

    Only rows recorded by ``at`` count (receipts, refunds, cancellations, segment members), so
    the same ``at`` gives the same purchases later, whatever happened since.
    """
    refunds = Refund.objects.filter(
        receipt=OuterRef("pk"), kind=Refund.Kind.REFUND, created_at__lte=at
    )
    receipts = (
        Receipt.objects.filter(
            currency__programme_id=draw.programme_id,
            customer__isnull=False,
            sold_at__gte=draw.period_from,
            sold_at__lt=draw.period_to,
            recorded_at__lte=at,
        )
        # An anonymised customer never qualifies; one anonymised after ``at`` did then.
        .filter(Q(customer__is_anonymised=False) | Q(customer__anonymised_at__gt=at))
        .exclude(
            Exists(
                Refund.objects.filter(
                    receipt=OuterRef("pk"), kind=Refund.Kind.CANCEL, created_at__lte=at
                )
            )
        )
        .annotate(
            refunded=_total(refunds, "receipt", "to_pay", 2),
            bought=_total(
                ReceiptLine.objects.filter(receipt=OuterRef("pk")),
                "receipt",
                "quantity",
                QUANTITY_DECIMAL_PLACES,
            ),
            returned=_total(
                RefundLine.objects.filter(
                    refund__receipt=OuterRef("pk"),
                    refund__kind=Refund.Kind.REFUND,
                    refund__created_at__lte=at,
                ),
                "refund__receipt",
                "quantity",
                QUANTITY_DECIMAL_PLACES,
            ),
        )
    )
    if draw.partner_id is not None:
        receipts = receipts.filter(partner_id=draw.partner_id)
    store_ids = list(draw.stores.values_list("pk", flat=True))
    if store_ids:
        receipts = receipts.filter(store_id__in=store_ids)
    if draw.segment_id is not None:
        receipts = receipts.filter(
            Exists(
                SegmentMember.objects.filter(
                    segment_id=draw.segment_id,
                    customer_id=OuterRef("customer_id"),
                    added_at__lte=at,
                )
            )
        )
    if draw.promotion_id is not None:
        given = ReceiptLineReward.objects.filter(
            line__receipt=OuterRef("pk"), promotion_id=draw.promotion_id
        ).filter(Q(refund__isnull=True) | Q(refund__created_at__lte=at))
        receipts = receipts.annotate(
            given=_total(given, "line__receipt", "amount", POINTS_DECIMAL_PLACES)
        ).filter(given__gt=0)
    return receipts


def draw_candidates(draw: Draw, *, at: datetime | None = None) -> list[Candidate]:
    """The customers who qualify for ``draw`` at ``at`` (default: now), by public id.

    A receipt wholly refunded by ``at`` is no purchase; a partly refunded one counts with the
    money paid less the money refunded. Reads only, without locks.
    """
    at = at or timezone.now()
    found: dict[int, list] = {}
    rows = draw_purchases(draw, at=at).values_list(
        "customer_id", "customer__public_id", "to_pay", "refunded", "bought", "returned"
    )
    for customer_id, public_id, to_pay, refunded, bought, returned in rows.order_by("pk").iterator(
        chunk_size=2000
    ):
        if returned >= bought:
            continue  # wholly refunded
        entry = found.setdefault(customer_id, [public_id, 0, ZERO])
        entry[1] += 1
        entry[2] += to_pay - refunded
    candidates = [
        Candidate(customer_id, public_id, purchases, paid)
        for customer_id, (public_id, purchases, paid) in found.items()
        if purchases >= draw.min_purchases and (draw.min_amount is None or paid >= draw.min_amount)
    ]
    # Python's order of str is the order of code points, which is the order of UTF-8 bytes:
    # the order anyone re-running the draw gets, whatever the database's collation.
    return sorted(candidates, key=lambda candidate: candidate.public_id)


def draw_tickets(candidates: Sequence[Candidate], tickets_per: str) -> list[Ticket]:
    """The tickets of ``candidates`` (ordered by public id), numbered from 1 per customer."""
    tickets: list[Ticket] = []
    for candidate in sorted(candidates, key=lambda candidate: candidate.public_id):
        count = candidate.purchases if tickets_per == Draw.TicketsPer.PURCHASE else 1
        tickets.extend((candidate.public_id, number) for number in range(1, count + 1))
    return tickets


# --- The draw's life -----------------------------------------------------------------------


def _locked(draw: Draw) -> Draw:
    return (
        Draw.objects.select_for_update(of=("self",))
        .select_related("partner", "prize_currency")
        .get(pk=draw.pk)
    )


@transaction.atomic
def draw_schedule(draw: Draw, *, at: datetime | None = None) -> Draw:
    """Schedule ``draw``: the beat job runs it once its period has ended. Idempotent.

    A seed fixed beforehand gets its commitment now, which is only worth publishing before
    the period ends: later, ``DrawSeedTooLate``. Raises ``ValidationError`` for a draw that
    does not validate, ``DrawAlreadyDrawn`` and ``DrawCancelled``.
    """
    at = at or timezone.now()
    draw = _locked(draw)
    if draw.status == Draw.Status.SCHEDULED:
        return draw
    if draw.status == Draw.Status.DRAWN:
        raise DrawAlreadyDrawn(draw=draw.pk)
    if draw.status == Draw.Status.CANCELLED:
        raise DrawCancelled(draw=draw.pk)
    draw.full_clean()
    if draw.seed:
        if at >= draw.period_to:
            raise DrawSeedTooLate(draw=draw.pk)
        draw.seed_commitment = seed_commitment(draw.seed)
    draw.status = Draw.Status.SCHEDULED
    draw.scheduled_at = at
    draw.save(update_fields=["status", "seed_commitment", "scheduled_at", "updated_at"])
    return draw


@transaction.atomic
def draw_cancel(draw: Draw, *, at: datetime | None = None) -> Draw:
    """Cancel a draft or scheduled draw; idempotent. Raises ``DrawAlreadyDrawn``: a drawn
    draw is final (its points are corrected by reversing postings, not by cancelling it)."""
    draw = _locked(draw)
    if draw.status == Draw.Status.CANCELLED:
        return draw
    if draw.status == Draw.Status.DRAWN:
        raise DrawAlreadyDrawn(draw=draw.pk)
    draw.status = Draw.Status.CANCELLED
    draw.cancelled_at = at or timezone.now()
    draw.save(update_fields=["status", "cancelled_at", "updated_at"])
    return draw


def draw_run(
    draw: Draw,
    *,
    seed: str | None = None,
    at: datetime | None = None,
    actor: Actor | None = None,
) -> Draw:
    """Draw the winners of ``draw`` at ``at`` (default: now), write its record and reward the
    winners; return the draw as drawn.

    Runs under a row lock on the draw and at most once: a drawn draw is returned as it is, so
    a second run (the beat job racing the admin's button) neither draws nor pays again. The
    seed is the one fixed beforehand, else ``seed``, else 32 random bytes from ``secrets``.
    Each winner of a points prize gets one posting (kind ``reward``, cause ``campaign``,
    cause reference ``draw:<id>``) from the partner's account, or the programme's marketing
    account for a coalition draw; ``actor`` defaults to this system task.

    Raises ``DrawNotDue`` before the period's end, ``DrawCancelled``, ``DrawSeedFixed`` for a
    ``seed`` other than the one fixed beforehand and ``DrawSeedInvalid``.
    """
    now = timezone.now()
    at = at or now
    if at > now:
        raise ValueError("a draw cannot be run at a moment still to come")
    if seed is not None:
        seed = seed_normalize(seed)
    with transaction.atomic():
        draw = _locked(draw)
        if draw.status == Draw.Status.DRAWN:
            return draw
        if draw.status == Draw.Status.CANCELLED:
            raise DrawCancelled(draw=draw.pk)
        if at < draw.period_to:
            raise DrawNotDue(draw=draw.pk, period_to=draw.period_to.isoformat())
        if draw.seed and seed is not None and seed != draw.seed:
            raise DrawSeedFixed(draw=draw.pk)
        seed = draw.seed or seed or secrets.token_hex(SEED_BYTES)

        candidates = draw_candidates(draw, at=at)
        tickets = draw_tickets(candidates, draw.tickets_per)
        winners = winners_pick(seed, tickets, draw.winners_count)
        customer_ids = {c.public_id: c.customer_id for c in candidates}
        postings = _prizes_pay(draw, [customer_ids[w["public_id"]] for w in winners], at, actor)
        DrawWinner.objects.bulk_create(
            [
                DrawWinner(
                    draw=draw,
                    place=winner["place"],
                    customer_id=customer_ids[winner["public_id"]],
                    ticket_no=winner["ticket_no"],
                    score=winner["score"],
                    posting=postings[index] if postings else None,
                )
                for index, winner in enumerate(winners)
            ]
        )
        draw.status = Draw.Status.DRAWN
        draw.seed = seed
        draw.drawn_at = at
        draw.algorithm = Draw.ALGORITHM
        draw.ticket_list = [[public_id, number] for public_id, number in tickets]
        draw.tickets_digest = tickets_digest(tickets)
        draw.winner_list = winners
        draw.save(
            update_fields=[
                "status",
                "seed",
                "drawn_at",
                "algorithm",
                "ticket_list",
                "tickets_digest",
                "winner_list",
                "updated_at",
            ]
        )
    return draw


def _prizes_pay(
    draw: Draw, customer_ids: list[int], at: datetime, actor: Actor | None
) -> list[Posting]:
    """One posting per winner, in the winners' order; none for a prize without points."""
    if draw.prize_points is None or not customer_ids:
        return []
    currency = draw.prize_currency
    payer = (
        partner_account(draw.partner, currency)
        if draw.partner_id is not None
        else programme_account(currency, Account.Purpose.MARKETING)
    )
    lifetime = draw.prize_lifetime_days
    expires_at = timezone.now() + timedelta(days=lifetime) if lifetime else None
    customers = Customer.objects.in_bulk(customer_ids)
    specs = [
        PostingSpec(
            kind=Posting.Kind.REWARD,
            cause=Posting.Cause.CAMPAIGN,
            cause_ref=f"draw:{draw.pk}",
            actor=actor or Actor.system(ACTOR_NAME),
            legs=[
                Leg(
                    account=customer_account(customers[customer_id], currency),
                    amount=draw.prize_points,
                    expires_at=expires_at,
                ),
                Leg(account=payer, amount=-draw.prize_points),
            ],
            partner=draw.partner,
            description=f"Prize draw #{draw.pk}: {draw.name}"[:300],
            occurred_at=at,
        )
        for customer_id in customer_ids
    ]
    return postings_create(specs)


def draws_run_due(at: datetime | None = None) -> dict[str, int]:
    """Run every scheduled draw whose period has ended; return how many were drawn and how
    many failed (logged, and tried again on the next run). Safe to run twice."""
    at = at or timezone.now()
    totals = {"drawn": 0, "failed": 0}
    due = Draw.objects.filter(status=Draw.Status.SCHEDULED, period_to__lte=at).order_by("pk")
    for draw in list(due):
        try:
            done = draw_run(draw, at=at)
        except (LoyaltyError, ValidationError):
            logger.exception("prize draw %s could not be run", draw.pk)
            totals["failed"] += 1
            continue
        if done.drawn_at == at:
            totals["drawn"] += 1
    return totals


# --- The record and its check --------------------------------------------------------------


def draw_record(draw: Draw) -> dict:
    """What to publish about a drawn draw: enough for anyone to re-run it."""
    if draw.status != Draw.Status.DRAWN:
        raise DrawNotDrawn(draw=draw.pk)
    return {
        "draw": draw.pk,
        "name": draw.name,
        "algorithm": draw.algorithm,
        "period_from": draw.period_from.isoformat(),
        "period_to": draw.period_to.isoformat(),
        "drawn_at": draw.drawn_at.isoformat(),
        "tickets_per": draw.tickets_per,
        "winners_count": draw.winners_count,
        "seed": draw.seed,
        "seed_commitment": draw.seed_commitment or None,
        "tickets_digest": draw.tickets_digest,
        "tickets": draw.ticket_list,
        "winners": draw.winner_list,
    }


CHECKS = {
    "commitment": _("The seed matches the commitment published before the draw"),
    "tickets": _("The tickets match their digest"),
    "winners": _("The winners follow from the seed and the tickets"),
    "rewards": _("The winners recorded were rewarded, once each"),
    "database": _("The database gives the same tickets for the moment of the draw"),
}


@dataclass
class DrawCheck:
    """What ``draw_verify`` found. Each check is True (holds), False (does not) or None (does
    not apply: no seed was committed beforehand)."""

    draw_id: int
    commitment: bool | None
    tickets: bool
    winners: bool
    rewards: bool
    database: bool
    expected_winners: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result is not False for _name, _label, result in self.results())

    def results(self) -> list[tuple[str, str, bool | None]]:
        """(name, label, result) of every check, in order."""
        return [(name, str(label), getattr(self, name)) for name, label in CHECKS.items()]


def draw_verify(draw: Draw) -> DrawCheck:
    """Check a drawn draw: its seed against the commitment, its tickets against their digest,
    its winners against the algorithm re-run on the record, its winners' rows and postings
    against the record, and the tickets the database gives for the moment of the draw
    against the record's tickets and digest. Raises ``DrawNotDrawn``.

    The database check can only fail when rows the draw read were changed afterwards (a
    member removed from the segment, a receipt rewritten): receipts, refunds and customers
    anonymised after the draw are left out by their times.
    """
    draw = Draw.objects.select_related("prize_currency").get(pk=draw.pk)
    if draw.status != Draw.Status.DRAWN:
        raise DrawNotDrawn(draw=draw.pk)
    tickets = [(str(public_id), int(number)) for public_id, number in draw.ticket_list]
    expected = winners_pick(draw.seed, tickets, draw.winners_count)
    database = draw_tickets(draw_candidates(draw, at=draw.drawn_at), draw.tickets_per)
    return DrawCheck(
        draw_id=draw.pk,
        commitment=(
            seed_commitment(draw.seed) == draw.seed_commitment if draw.seed_commitment else None
        ),
        tickets=tickets_digest(tickets) == draw.tickets_digest,
        winners=expected == draw.winner_list,
        rewards=_rewards_match(draw),
        database=database == tickets and tickets_digest(database) == draw.tickets_digest,
        expected_winners=expected,
    )


def _rewards_match(draw: Draw) -> bool:
    """Whether the winner rows are the record's winners, and the draw's postings pay exactly
    each of them the prize (or there are none, for a prize without points)."""
    rows = list(draw.winners.select_related("customer").order_by("place"))
    linked = [(row.place, row.customer.public_id, row.ticket_no, row.score) for row in rows]
    recorded = [
        (winner.get("place"), winner.get("public_id"), winner.get("ticket_no"), winner.get("score"))
        for winner in draw.winner_list
    ]
    if linked != recorded:
        return False
    postings = Posting.objects.filter(cause=Posting.Cause.CAMPAIGN, cause_ref=f"draw:{draw.pk}")
    if draw.prize_points is None:
        return not postings.exists()
    paid = sorted(
        LedgerEntry.objects.filter(posting__in=postings, account__kind=Account.Kind.CUSTOMER)
        .values_list("posting_id", "account__customer_id", "currency_id", "amount")
        .order_by("posting_id")
    )
    owed = sorted(
        (row.posting_id, row.customer_id, draw.prize_currency_id, draw.prize_points) for row in rows
    )
    return postings.count() == len(rows) and paid == owed
