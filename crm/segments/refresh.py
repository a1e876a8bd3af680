"""Refreshing a rule segment: its members recomputed in SQL and the difference applied set-wise.

One transaction per segment, holding the segment's row lock (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite lets one writer in at a time), so concurrent refreshes of one segment queue
and the second finds nothing left to change. Inside it, on the database alone:

1. the rule's members go into a temporary table (the rule is evaluated once);
2. the customers in it who are not members are recorded as ``entered``, the members not in it
   as ``left`` (``INSERT ... SELECT``), both naming the refresh;
3. the members who left are deleted and those who entered inserted.

No customer id travels to Python. A rule that cannot be evaluated (a segment or promotion it
names was deleted since) changes no member: the error is kept on the segment and on a
refresh row, and raised. Manual segments are never refreshed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from crm.errors import SegmentIsManual, SegmentRuleError
from crm.models import Segment, SegmentMember, SegmentMembershipChange, SegmentRefresh
from crm.segments.compile import rule_members
from crm.segments.incremental import Plan, refresh_plan
from crm.segments.rules import refresh_order, rule_clean, rule_graph

log = logging.getLogger(__name__)

TEMP_TABLE = "segment_refresh_members"
CANDIDATES = "segment_refresh_candidates"


@dataclass(frozen=True)
class Difference:
    size: int
    entered: int
    left: int
    evaluated: int | None = None


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: type[Model], name: str) -> str:
    return _q(model._meta.get_field(name).column)  # type: ignore[union-attr, arg-type]


def _candidates_fill(cursor, plan: Plan) -> int:
    """The customers an incremental refresh evaluates, into ``CANDIDATES``; how many."""
    cand = _q(CANDIDATES)
    cursor.execute(f"DROP TABLE IF EXISTS {cand}")
    cursor.execute(f"CREATE TEMPORARY TABLE {cand} (customer_id bigint PRIMARY KEY)")
    for rows in plan.candidates:
        sql, params = rows.order_by().query.sql_with_params()
        # WHERE true: SQLite needs it before ON CONFLICT after a SELECT
        cursor.execute(
            f"INSERT INTO {cand} (customer_id) SELECT DISTINCT * FROM ({sql}) u WHERE true"
            " ON CONFLICT (customer_id) DO NOTHING",
            params,
        )
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {cand}")
    cursor.execute(f"SELECT COUNT(*) FROM {cand}")
    return cursor.fetchone()[0]


def _apply(
    segment: Segment, rule: dict, refresh: SegmentRefresh, now: dt.datetime, plan: Plan
) -> Difference:
    """Make the segment's members the rule's, recording who entered and left (in SQL). An
    incremental plan evaluates and changes only its candidates."""
    incremental = plan.mode == SegmentRefresh.Mode.INCREMENTAL
    m_table = _q(SegmentMember._meta.db_table)
    c_table = _q(SegmentMembershipChange._meta.db_table)
    tmp, cand = _q(TEMP_TABLE), _q(CANDIDATES)
    m_segment = _column(SegmentMember, "segment")
    m_customer = _column(SegmentMember, "customer")
    m_added = _column(SegmentMember, "added_at")
    c_cols = ", ".join(
        _column(SegmentMembershipChange, name)
        for name in ("segment", "customer", "refresh", "change", "at")
    )
    at = connection.ops.adapt_datetimefield_value(now)
    is_member = (
        f"SELECT 1 FROM {m_table} m WHERE m.{m_segment} = %s AND m.{m_customer} = t.customer_id"
    )
    # the members who may leave: all, or the candidates among them
    among = f" AND {{column}} IN (SELECT customer_id FROM {cand})" if incremental else ""
    evaluated = None
    with connection.cursor() as cursor:
        if incremental:
            evaluated = _candidates_fill(cursor, plan)
        members_sql, members_params = (
            rule_members(
                rule,
                programme_id=segment.programme_id,
                now=now,
                candidates=f"SELECT customer_id FROM {cand}" if incremental else None,
            )
            .values_list("pk")
            .query.sql_with_params()
        )
        cursor.execute(f"DROP TABLE IF EXISTS {tmp}")
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} (customer_id bigint PRIMARY KEY)")
        cursor.execute(f"INSERT INTO {tmp} (customer_id) {members_sql}", members_params)
        cursor.execute(
            f"INSERT INTO {c_table} ({c_cols}) SELECT %s, t.customer_id, %s, %s, %s FROM {tmp} t"
            f" WHERE NOT EXISTS ({is_member})",
            [segment.pk, refresh.pk, SegmentMembershipChange.Change.ENTERED, at, segment.pk],
        )
        entered = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {c_table} ({c_cols}) SELECT %s, m.{m_customer}, %s, %s, %s"
            f" FROM {m_table} m WHERE m.{m_segment} = %s"
            + among.format(column=f"m.{m_customer}")
            + f" AND NOT EXISTS (SELECT 1 FROM {tmp} t WHERE t.customer_id = m.{m_customer})",
            [segment.pk, refresh.pk, SegmentMembershipChange.Change.LEFT, at, segment.pk],
        )
        left = cursor.rowcount
        if left:
            cursor.execute(
                f"DELETE FROM {m_table} WHERE {m_segment} = %s"
                + among.format(column=m_customer)
                + f" AND NOT EXISTS (SELECT 1 FROM {tmp} t"
                f" WHERE t.customer_id = {m_table}.{m_customer})",
                [segment.pk],
            )
        if entered:
            cursor.execute(
                f"INSERT INTO {m_table} ({m_segment}, {m_customer}, {m_added})"
                f" SELECT %s, t.customer_id, %s FROM {tmp} t WHERE NOT EXISTS ({is_member})",
                [segment.pk, at, segment.pk],
            )
        if incremental:
            cursor.execute(f"SELECT COUNT(*) FROM {m_table} WHERE {m_segment} = %s", [segment.pk])
        else:
            cursor.execute(f"SELECT COUNT(*) FROM {tmp}")
        size = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {tmp}")
        if incremental:
            cursor.execute(f"DROP TABLE {cand}")
    return Difference(size=size, entered=entered, left=left, evaluated=evaluated)


def segment_refresh(
    segment_id: int,
    *,
    now: dt.datetime | None = None,
    trigger: str = SegmentRefresh.Trigger.STAFF,
    user=None,
    mode: str = "auto",
) -> SegmentRefresh:
    """Recompute the members of a rule segment as of ``now`` and record the refresh.

    ``mode``: ``auto`` refreshes incrementally when the rule allows it
    (``crm.segments.incremental``), ``full`` evaluates every customer; the refresh row says
    which it was.

    Raises ``SegmentIsManual`` for a manual segment (nothing is written) and a
    ``SegmentRuleError`` when its rule cannot be evaluated (the members stay; the error is
    recorded on the segment and on a refresh row). Safe to run twice and concurrently: the
    segment's row lock makes refreshes of one segment queue, and a refresh that finds the
    members already right records no change."""
    now = now or timezone.now()
    started = time.monotonic()
    started_at = timezone.now()
    try:
        with transaction.atomic():
            segment = Segment.objects.select_for_update().get(pk=segment_id)
            if segment.kind != Segment.Kind.RULES:
                raise SegmentIsManual(segment=segment_id)
            rule = rule_clean(
                segment.rule, programme_id=segment.programme_id, segment_id=segment.pk
            )
            plan = refresh_plan(segment, rule, started_at=started_at, mode=mode)
            refresh = SegmentRefresh.objects.create(
                segment=segment,
                trigger=trigger,
                user=user,
                started_at=started_at,
                as_of=now,
                mode=plan.mode,
                rule_digest=plan.digest,
            )
            difference = _apply(segment, rule, refresh, now, plan)
            took = round((time.monotonic() - started) * 1000)
            SegmentRefresh.objects.filter(pk=refresh.pk).update(
                took_ms=took,
                size=difference.size,
                entered=difference.entered,
                left=difference.left,
                evaluated=difference.evaluated,
            )
            Segment.objects.filter(pk=segment.pk).update(
                size=difference.size, refreshed_at=now, refresh_ms=took, refresh_error=""
            )
    except SegmentRuleError as exc:
        took = round((time.monotonic() - started) * 1000)
        with transaction.atomic():
            SegmentRefresh.objects.create(
                segment_id=segment_id,
                trigger=trigger,
                user=user,
                started_at=started_at,
                as_of=now,
                took_ms=took,
                error=str(exc),
            )
            Segment.objects.filter(pk=segment_id).update(refresh_error=str(exc))
        raise
    refresh.refresh_from_db()
    return refresh


def segments_refresh_all(
    *, now: dt.datetime | None = None, trigger: str = SegmentRefresh.Trigger.SCHEDULE
) -> dict[str, int]:
    """Refresh every rule segment, each after the segments its rule reads; a segment that
    fails is logged and recorded, and the others go on. Returns counts for the job's log."""
    now = now or timezone.now()
    done = {"refreshed": 0, "failed": 0}
    programmes = (
        Segment.objects.filter(kind=Segment.Kind.RULES)
        .values_list("programme_id", flat=True)
        .distinct()
        .order_by("programme_id")
    )
    for programme_id in list(programmes):
        for segment_id in refresh_order(rule_graph(programme_id)):
            try:
                segment_refresh(segment_id, now=now, trigger=trigger)
            except SegmentRuleError as exc:
                log.warning("segment %s not refreshed: %s", segment_id, exc)
                done["failed"] += 1
            except Segment.DoesNotExist:
                continue  # deleted meanwhile
            else:
                done["refreshed"] += 1
    return done
