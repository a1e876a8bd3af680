"""The contact centre's report for a period: tickets by category, channel and status, service
level (SLA) compliance, each operator's workload, and the manual adjustments made and decided.

A ticket belongs to the period it was opened in. A deadline is *met* when the answer or the
resolution came by it, *missed* when it came later or has not come and the deadline has passed,
and *running* otherwise (not counted in the compliance ratio yet). Waiting tickets have their
resolution clock stopped, so a deadline that moved while the customer was away is judged by
where it is now.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from contactcenter.models import Adjustment, Priority, Ticket, TicketComment

PRIORITY_RANK = {value: rank for rank, value in enumerate(Priority.values)}


@dataclass
class Compliance:
    met: int = 0
    missed: int = 0
    running: int = 0

    @property
    def judged(self) -> int:
        return self.met + self.missed

    @property
    def percent(self) -> Decimal | None:
        """The share of judged deadlines met, in percent to one decimal, or None when none."""
        if not self.judged:
            return None
        return (Decimal(self.met) * 100 / self.judged).quantize(Decimal("0.1"))


@dataclass
class SlaRow:
    category: str
    priority: str
    tickets: int = 0
    first_response: Compliance = field(default_factory=Compliance)
    resolution: Compliance = field(default_factory=Compliance)


@dataclass
class OperatorRow:
    operator: str
    assigned: int = 0  # tickets of the period assigned to them
    resolved: int = 0  # of which resolved or closed
    open_now: int = 0  # open tickets assigned to them now, whenever opened
    replies: int = 0  # public comments they wrote in the period
    notes: int = 0  # internal comments they wrote in the period
    missed: int = 0  # deadlines missed on their tickets of the period
    first_response_minutes: Decimal | None = None  # mean, over their answered tickets


@dataclass
class AdjustmentRow:
    operator: str
    currency: str
    requested: int = 0
    applied: int = 0
    pending: int = 0
    rejected: int = 0
    credited: Decimal = Decimal("0")  # applied credits
    debited: Decimal = Decimal("0")  # applied debits, as a positive amount


@dataclass
class DecisionRow:
    supervisor: str
    approved: int = 0
    rejected: int = 0


@dataclass
class CentreReport:
    since: datetime
    until: datetime
    total: int
    by_category: list[tuple[str, int]]
    by_channel: list[tuple[str, int]]
    by_status: list[tuple[str, int]]
    sla: list[SlaRow]
    sla_total: SlaRow
    workload: list[OperatorRow]
    adjustments: list[AdjustmentRow] = field(default_factory=list)
    decisions: list[DecisionRow] = field(default_factory=list)


def _first_response(ticket: Ticket, now: datetime) -> str | None:
    due = ticket.first_response_due
    if due is None:
        return None
    answered = ticket.first_responded_at
    if answered is not None:
        return "met" if answered <= due else "missed"
    if ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
        # closed without a public answer: judged by when it was closed
        done = ticket.resolved_at or ticket.closed_at
        return "met" if done is not None and done <= due else "missed"
    return "missed" if now > due else "running"


def _resolution(ticket: Ticket, now: datetime) -> str | None:
    due = ticket.resolution_due
    if due is None:
        return None
    if ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
        done = ticket.resolved_at or ticket.closed_at
        return "met" if done is not None and done <= due else "missed"
    if ticket.status == Ticket.Status.WAITING:
        return "running"  # the clock is stopped while the customer is away
    return "missed" if now > due else "running"


def _count(compliance: Compliance, verdict: str | None) -> None:
    if verdict is not None:
        setattr(compliance, verdict, getattr(compliance, verdict) + 1)


def _name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def centre_report(since: datetime, until: datetime, *, now: datetime | None = None) -> CentreReport:
    """The report of the tickets opened in [since, until)."""
    now = now or timezone.now()
    tickets = list(
        Ticket.objects.filter(created_at__gte=since, created_at__lt=until).select_related(
            "category", "assignee"
        )
    )
    channels = dict(Ticket.Channel.choices)
    statuses = dict(Ticket.Status.choices)
    priorities = dict(Priority.choices)
    by_category = Counter(t.category.name for t in tickets)
    by_channel = Counter(channels.get(t.channel, t.channel) for t in tickets)
    by_status = Counter(statuses.get(t.status, t.status) for t in tickets)

    sla: dict[tuple[str, str], SlaRow] = {}
    total = SlaRow(category="", priority="")
    operators: dict[int, OperatorRow] = {}
    response_minutes: dict[int, list[Decimal]] = defaultdict(list)
    for ticket in tickets:
        key = (ticket.category.name, ticket.priority)
        row = sla.setdefault(key, SlaRow(key[0], priorities.get(key[1], key[1])))
        first, resolution = _first_response(ticket, now), _resolution(ticket, now)
        for target in (row, total):
            target.tickets += 1
            _count(target.first_response, first)
            _count(target.resolution, resolution)
        if ticket.assignee_id is None:
            continue
        op = operators.setdefault(ticket.assignee_id, OperatorRow(_name(ticket.assignee)))
        op.assigned += 1
        op.resolved += ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
        op.missed += (first == "missed") + (resolution == "missed")
        if ticket.first_responded_at is not None:
            waited = (ticket.first_responded_at - ticket.created_at) / timedelta(minutes=1)
            response_minutes[ticket.assignee_id].append(Decimal(str(round(waited, 1))))

    open_now = (
        Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES + (Ticket.Status.WAITING,))
        .exclude(assignee=None)
        .values("assignee")
        .annotate(n=Count("pk"))
    )
    comments = (
        TicketComment.objects.filter(
            author_kind=TicketComment.Author.STAFF,
            created_at__gte=since,
            created_at__lt=until,
            author__isnull=False,
        )
        .values("author")
        .annotate(
            replies=Count("pk", filter=Q(is_internal=False)),
            notes=Count("pk", filter=Q(is_internal=True)),
        )
    )
    people = get_user_model().objects.in_bulk(
        {row["assignee"] for row in open_now} | {row["author"] for row in comments}
    )
    for row in open_now:
        op = operators.setdefault(row["assignee"], OperatorRow(_name(people.get(row["assignee"]))))
        op.open_now = row["n"]
    for row in comments:
        op = operators.setdefault(row["author"], OperatorRow(_name(people.get(row["author"]))))
        op.replies, op.notes = row["replies"], row["notes"]
    for user_id, minutes in response_minutes.items():
        operators[user_id].first_response_minutes = (sum(minutes) / len(minutes)).quantize(
            Decimal("0.1")
        )

    adjustments, decisions = _adjustments(since, until)

    def ordered(counter: Counter) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))

    return CentreReport(
        since=since,
        until=until,
        total=len(tickets),
        by_category=ordered(by_category),
        by_channel=ordered(by_channel),
        by_status=ordered(by_status),
        sla=[sla[key] for key in sorted(sla, key=lambda k: (k[0], PRIORITY_RANK.get(k[1], 9)))],
        sla_total=total,
        workload=sorted(operators.values(), key=lambda r: (-r.assigned, r.operator)),
        adjustments=adjustments,
        decisions=decisions,
    )


def _adjustments(since: datetime, until: datetime) -> tuple[list[AdjustmentRow], list[DecisionRow]]:
    """Manual adjustments asked for in the period, per operator and currency; and the
    supervisors' decisions taken in the period."""
    rows: dict[tuple[int | None, int], AdjustmentRow] = {}
    asked = Adjustment.objects.filter(
        requested_at__gte=since, requested_at__lt=until
    ).select_related("requested_by", "currency")
    for adjustment in asked:
        key = (adjustment.requested_by_id, adjustment.currency_id)
        row = rows.setdefault(
            key, AdjustmentRow(_name(adjustment.requested_by), adjustment.currency.code)
        )
        row.requested += 1
        status = adjustment.status
        if status == Adjustment.Status.APPLIED:
            row.applied += 1
            if adjustment.amount >= 0:
                row.credited += adjustment.amount
            else:
                row.debited -= adjustment.amount
        elif status == Adjustment.Status.PENDING:
            row.pending += 1
        else:
            row.rejected += 1
    decided: dict[int, DecisionRow] = {}
    taken = Adjustment.objects.filter(
        decided_at__gte=since, decided_at__lt=until, decided_by__isnull=False
    ).select_related("decided_by")
    for adjustment in taken:
        row = decided.setdefault(
            adjustment.decided_by_id, DecisionRow(_name(adjustment.decided_by))
        )
        if adjustment.status == Adjustment.Status.REJECTED:
            row.rejected += 1
        else:
            row.approved += 1
    return (
        sorted(rows.values(), key=lambda r: (r.operator, r.currency)),
        sorted(decided.values(), key=lambda r: r.supervisor),
    )
