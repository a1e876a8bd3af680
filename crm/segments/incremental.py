"""Whether a refresh may look only at the customers whose data changed, and who they are.

A rule is **time-stable** when every condition in it is (its kind's ``time_stable`` says so
for its values: no window relative to the moment of evaluation, no age, no date coming, no
points expiring, no recency, nothing read from the catalogue): its answer for a customer then
changes only when rows of that customer change. Such a rule, refreshed before with the same
rule, is refreshed **incrementally**: only for the customers some condition's ``changes``
names (a receipt recorded, a refund made, the customer saved, an answer given, a change of a
segment it reads...) since the previous refresh began, moved back by
``SEGMENT_REFRESH_OVERLAP_SECONDS`` (a row written by a transaction that committed after the
previous refresh read the data carries an earlier time: the overlap catches it, provided no
such transaction lasts longer), plus the customers who entered the population since
(registered) or left it (anonymised, merged, and the customers they were merged into).

Otherwise, and at least every ``SEGMENT_FULL_REFRESH_DAYS`` days after the last full refresh
(a safety net for writes no timestamp records: a raw ``UPDATE`` by hand, a restored backup),
the refresh is a full one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from crm.models import Customer, Segment, SegmentRefresh
from crm.segments.registry import ChangeContext, kind_get
from crm.segments.rules import leaf_values, leaves

FULL = SegmentRefresh.Mode.FULL
INCREMENTAL = SegmentRefresh.Mode.INCREMENTAL


@dataclass(frozen=True)
class Plan:
    """How a refresh goes: ``mode``, and for an incremental one the querysets of the
    customer ids to evaluate (``candidates``) and since when they were looked for."""

    mode: str
    digest: str
    since: dt.datetime | None = None
    candidates: tuple[QuerySet, ...] = ()


def rule_digest(rule: dict) -> str:
    """The canonical rule's fingerprint: a refresh is incremental only after one of the same
    rule."""
    text = json.dumps(rule, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def rule_time_stable(rule: dict) -> bool:
    for path, node in leaves(rule):
        kind = kind_get(node["kind"])
        if kind is None or kind.time_stable is None:
            return False
        if not kind.time_stable(leaf_values(kind, node, path)):
            return False
    return True


def population_changes(since: dt.datetime) -> list[QuerySet]:
    """Customers who entered the population since (registered: a rule such as "no purchase"
    finds them without any row of theirs) or left it (anonymised, merged), and those merged
    customers went into."""
    # updated_at is indexed and never before created_at: the index finds the new ones
    new = Customer.objects.filter(updated_at__gte=since, created_at__gte=since)
    gone = Customer.objects.filter(Q(anonymised_at__gte=since) | Q(merged_at__gte=since))
    return [
        new.values("pk"),
        gone.values("pk"),
        gone.filter(merged_into__isnull=False).values("merged_into_id"),
    ]


def rule_changes(rule: dict, *, programme_id: int, since: dt.datetime) -> list[QuerySet] | None:
    """Querysets of the customer ids whose data ``rule`` reads changed since ``since``; None
    when a condition cannot tell."""
    ctx = ChangeContext(since=since, programme_id=programme_id)
    found = population_changes(since)
    for path, node in leaves(rule):
        kind = kind_get(node["kind"])
        if kind is None or kind.changes is None:
            return None
        part = kind.changes(leaf_values(kind, node, path), ctx)
        if part is None:
            return None
        found.extend(part)
    return found


def refresh_plan(segment: Segment, rule: dict, *, started_at: dt.datetime, mode: str) -> Plan:
    """Full or incremental (``mode``: ``auto`` picks; ``full`` forces a full one)."""
    digest = rule_digest(rule)
    if mode == FULL or not rule_time_stable(rule):
        return Plan(FULL, digest)
    done = SegmentRefresh.objects.filter(segment=segment, error="", size__isnull=False)
    previous = done.order_by("-started_at", "-pk").first()
    if previous is None or previous.rule_digest != digest:
        return Plan(FULL, digest)
    last_full = done.filter(mode=FULL).order_by("-started_at", "-pk").first()
    every = dt.timedelta(days=settings.SEGMENT_FULL_REFRESH_DAYS)
    if last_full is None or last_full.started_at <= started_at - every:
        return Plan(FULL, digest)
    since = previous.started_at - dt.timedelta(seconds=settings.SEGMENT_REFRESH_OVERLAP_SECONDS)
    changed = rule_changes(rule, programme_id=segment.programme_id, since=since)
    if changed is None:
        return Plan(FULL, digest)
    return Plan(INCREMENTAL, digest, since=since, candidates=tuple(changed))
