"""Building blocks the kinds of every app share: ranges ``min``..``max`` (both inclusive,
either open) and conditions over an aggregate per customer (a count, a sum, a last date),
written as ``pk IN (SELECT customer ... GROUP BY customer HAVING ...)``: one pass over the
rows, which PostgreSQL runs as a hash semi-join and SQLite as a lookup.

A customer with no rows at all has no group; for measures where that means zero (a count, a
sum) a range that holds zero is written as the complement, ``pk NOT IN (groups outside the
range)``, so customers without rows are in it. Subqueries never yield NULL (the key is
filtered ``IS NOT NULL``), so NOT IN is exact.

Sums of money are compared within half a kopeck (half a unit of the last place): SQLite adds
decimals as binary floats, and amounts and bounds are both multiples of a kopeck, so the
comparison is still exact on both databases."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Expression, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from crm.segments.params import bad
from crm.segments.registry import CompileContext, Values


def range_check(values: Values, low: str = "min", high: str = "max") -> None:
    """At least one bound is given, and the lower is not above the upper."""
    lo, hi = values.get(low), values.get(high)
    if lo is None and hi is None:
        raise bad(low, _("Give a lower bound, an upper bound or both."))
    if lo is not None and hi is not None and lo > hi:
        raise bad(high, _("The upper bound is below the lower one."))


def range_q(name: str, lo, hi, tolerance: Decimal | None = None) -> Q:
    """``name`` between ``lo`` and ``hi`` inclusive (either may be None)."""
    q = Q()
    if lo is not None:
        q &= Q(**{f"{name}__gt": lo - tolerance}) if tolerance else Q(**{f"{name}__gte": lo})
    if hi is not None:
        q &= Q(**{f"{name}__lt": hi + tolerance}) if tolerance else Q(**{f"{name}__lte": hi})
    return q


def holds_zero(lo, hi) -> bool:
    return (lo is None or lo <= 0) and (hi is None or hi >= 0)


def grouped(rows: QuerySet, key: str, ctx: CompileContext | None) -> QuerySet:
    """``rows`` of a customer (``key``, never NULL) by customer, ready to be annotated with an
    aggregate; for an incremental refresh only the rows of its candidates (whose groups are
    the same as over all rows, so no answer changes: an index on the key then replaces a pass
    over the whole table)."""
    rows = rows.filter(**{f"{key}__isnull": False})
    if ctx is not None and ctx.candidates:
        rows = rows.filter(**{f"{key}__in": RawSQL(ctx.candidates, ())})
    return rows.order_by().values(key)


def aggregate_q(
    rows: QuerySet,
    key: str,
    measure: Expression,
    lo,
    hi,
    *,
    zero_when_none: bool,
    tolerance: Decimal | None = None,
    ctx: CompileContext | None = None,
) -> Q:
    """Customers whose ``measure`` over their ``rows`` (grouped by the customer id ``key``)
    lies in ``lo``..``hi``. ``zero_when_none``: a customer without rows measures zero."""
    grouped_rows = grouped(rows, key, ctx).annotate(segment_measure=measure)
    inside = range_q("segment_measure", lo, hi, tolerance)
    if zero_when_none and holds_zero(lo, hi):
        return ~Q(pk__in=grouped_rows.exclude(inside).values(key))
    return Q(pk__in=grouped_rows.filter(inside).values(key))
