"""Static segments: a manual segment's members set from a list (a file of phones, cards or
emails resolved by ``loyalty.services.segment_import``), set-wise, with the history.

``segment_members_set`` takes the customers in chunks of ids, as the caller resolves them, into
a temporary table, then applies the difference in SQL as a refresh does
(``crm.segments.refresh``): who entered and, when the list replaces the members, who left are
recorded in ``SegmentMembershipChange`` with no refresh (a list is not a refresh), the members
who left are deleted and those who entered inserted. The segment's row lock is held
throughout, so two lists applied to one segment at once queue, and the second finds what the
first did. Only customers who can be members at all (neither anonymised nor merged into
another) enter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from crm.errors import SegmentIsRefreshed
from crm.models import Customer, Segment, SegmentMember, SegmentMembershipChange
from crm.segments.refresh import Difference

TEMP_TABLE = "segment_static_members"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: type[Model], name: str) -> str:
    return _q(model._meta.get_field(name).column)  # type: ignore[union-attr, arg-type]


def segment_members_set(
    segment_id: int,
    customer_chunks: Iterable[Sequence[int]],
    *,
    replace: bool,
    now: dt.datetime | None = None,
) -> Difference:
    """Add the customers of ``customer_chunks`` to a manual segment, or with ``replace`` make
    them its only members; record who entered and left, and the segment's new size.

    Raises ``SegmentIsRefreshed`` for a rule segment (nothing is written) and
    ``Segment.DoesNotExist``. Safe to run twice: a second run with the same list finds nothing
    to change and records no history. The chunks are read inside the transaction, so a caller
    may resolve them lazily (a generator)."""
    now = now or timezone.now()
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment_id)
        if segment.kind != Segment.Kind.MANUAL:
            raise SegmentIsRefreshed(segment=segment_id)
        difference = _apply(segment.pk, customer_chunks, replace=replace, now=now)
        Segment.objects.filter(pk=segment.pk).update(size=difference.size)
    return difference


def _apply(
    segment_id: int, customer_chunks: Iterable[Sequence[int]], *, replace: bool, now: dt.datetime
) -> Difference:
    m_table = _q(SegmentMember._meta.db_table)
    c_table = _q(SegmentMembershipChange._meta.db_table)
    p_table = _q(Customer._meta.db_table)
    tmp = _q(TEMP_TABLE)
    m_segment = _column(SegmentMember, "segment")
    m_customer = _column(SegmentMember, "customer")
    m_added = _column(SegmentMember, "added_at")
    p_id = _column(Customer, "id")
    p_anonymised = _column(Customer, "is_anonymised")
    p_merged = _column(Customer, "merged_into")
    c_cols = ", ".join(
        _column(SegmentMembershipChange, name)
        for name in ("segment", "customer", "refresh", "change", "at")
    )
    at = connection.ops.adapt_datetimefield_value(now)
    is_member = (
        f"SELECT 1 FROM {m_table} m WHERE m.{m_segment} = %s AND m.{m_customer} = t.customer_id"
    )
    not_listed = f"NOT EXISTS (SELECT 1 FROM {tmp} t WHERE t.customer_id = {m_table}.{m_customer})"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {tmp}")
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} (customer_id bigint PRIMARY KEY)")
        insert = f"INSERT INTO {tmp} (customer_id) VALUES (%s) ON CONFLICT DO NOTHING"
        for chunk in customer_chunks:
            if chunk:
                cursor.executemany(insert, [(customer_id,) for customer_id in chunk])
        # Who can be a member at all: not anonymised, not merged into another customer.
        cursor.execute(
            f"DELETE FROM {tmp} WHERE EXISTS (SELECT 1 FROM {p_table} p WHERE"
            f" p.{p_id} = {tmp}.customer_id AND (p.{p_anonymised} = %s OR p.{p_merged} IS NOT NULL))",
            [True],
        )
        cursor.execute(
            f"INSERT INTO {c_table} ({c_cols}) SELECT %s, t.customer_id, %s, %s, %s FROM {tmp} t"
            f" WHERE NOT EXISTS ({is_member})",
            [segment_id, None, SegmentMembershipChange.Change.ENTERED, at, segment_id],
        )
        entered = cursor.rowcount
        left = 0
        if replace:
            cursor.execute(
                f"INSERT INTO {c_table} ({c_cols}) SELECT %s, {m_table}.{m_customer}, %s, %s, %s"
                f" FROM {m_table} WHERE {m_table}.{m_segment} = %s AND {not_listed}",
                [segment_id, None, SegmentMembershipChange.Change.LEFT, at, segment_id],
            )
            left = cursor.rowcount
            if left:
                cursor.execute(
                    f"DELETE FROM {m_table} WHERE {m_segment} = %s AND {not_listed}", [segment_id]
                )
        if entered:
            cursor.execute(
                f"INSERT INTO {m_table} ({m_segment}, {m_customer}, {m_added})"
                f" SELECT %s, t.customer_id, %s FROM {tmp} t WHERE NOT EXISTS ({is_member})",
                [segment_id, at, segment_id],
            )
        cursor.execute(f"SELECT COUNT(*) FROM {m_table} WHERE {m_segment} = %s", [segment_id])
        size = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {tmp}")
    return Difference(size=size, entered=entered, left=left)
