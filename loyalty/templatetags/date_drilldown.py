"""The lists' date drill-down (``date_hierarchy``) without a date function per row.

Django's ``{% date_hierarchy cl %}`` asks the database for the distinct years, months or days
of the list's rows: ``SELECT DISTINCT`` of the truncated date of every row. On SQLite the
truncation is a Python function called per row (16,000 postings: ~100 ms of the page). Here
the tag is Django's own (its links, titles and levels, its ``date_hierarchy.html`` per model,
app or site), and only that question is asked another way: the periods between the list's
first and last date (which Django reads anyway, or which a ``MIN``/``MAX`` reads) are the
candidates; the first and the last hold a row, and the rows between them are read once, each
row's period found by a ``CASE`` of plain comparisons with the periods' bounds (a range read
of an index where the date has one). The answer is the same: a period is offered when at least
one row of the list, filters and search applied, falls in it on the current time zone's
calendar. Both still read the rows of the periods shown: on PostgreSQL at scale, an index on
the date is what makes either cheap.

``templates/admin/change_list.html`` puts this tag in the ``date_hierarchy`` block of every
list."""

from __future__ import annotations

import datetime

from django import template
from django.conf import settings
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.db.models import Case, IntegerField, Max, Min, Value, When
from django.utils import timezone

register = template.Library()

# More candidates than this (years of a very long history...): Django's own query.
MAX_CANDIDATES = 400


def _start(value, kind: str):
    """The first moment of the ``kind`` period holding ``value``, same type as ``value``."""
    day = value.day if kind == "day" else 1
    month = value.month if kind in ("month", "day") else 1
    if isinstance(value, datetime.datetime):
        return value.replace(month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
    return value.replace(month=month, day=day)


def _next(value, kind: str):
    """The start of the period after the one starting at ``value`` (a period start)."""
    if kind == "day":
        following = datetime.date(value.year, value.month, value.day) + datetime.timedelta(1)
    elif kind == "month":
        following = datetime.date(value.year + value.month // 12, value.month % 12 + 1, 1)
    else:
        following = datetime.date(value.year + 1, 1, 1)
    if isinstance(value, datetime.datetime):
        return value.replace(year=following.year, month=following.month, day=following.day)
    return following


class _Periods:
    """The list's queryset as the date drill-down reads it: ``aggregate`` as is (and
    remembered), ``dates`` and ``datetimes`` answered as the module says."""

    def __init__(self, queryset):
        self._queryset = queryset
        self._bounds: dict[str, dict] = {}

    def __getattr__(self, name):
        return getattr(self._queryset, name)

    def aggregate(self, *args, **kwargs):
        result = self._queryset.aggregate(*args, **kwargs)
        for name, expression in kwargs.items():
            if isinstance(expression, Min | Max):
                field = expression.get_source_expressions()[0].name
                self._bounds.setdefault(field, {})[type(expression)] = result[name]
        return result

    def dates(self, field_name, kind, order="ASC"):
        return self._periods(field_name, kind, order, aware=False)

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if tzinfo is not None:
            return self._queryset.datetimes(field_name, kind, order, tzinfo)
        return self._periods(field_name, kind, order, aware=settings.USE_TZ)

    def _first_last(self, field_name: str):
        known = self._bounds.get(field_name, {})
        if Min in known and Max in known:
            return known[Min], known[Max]
        found = self._queryset.aggregate(first=Min(field_name), last=Max(field_name))
        return found["first"], found["last"]

    def _periods(self, field_name: str, kind: str, order: str, *, aware: bool):
        if kind not in ("year", "month", "day"):
            return self._django(field_name, kind, order, aware)
        first, last = self._first_last(field_name)
        if first is None or last is None:
            return []
        zone = timezone.get_current_timezone() if aware else None
        if isinstance(first, datetime.datetime) and aware:
            # The calendar of the current time zone, as Django's truncation reads it.
            first = timezone.localtime(first, zone).replace(tzinfo=None)
            last = timezone.localtime(last, zone).replace(tzinfo=None)
        candidates = [_start(first, kind)]
        while _next(candidates[-1], kind) <= last:
            candidates.append(_next(candidates[-1], kind))
            if len(candidates) > MAX_CANDIDATES:
                return self._django(field_name, kind, order, aware)

        def moment(value):
            return timezone.make_aware(value, zone) if zone is not None else value

        # The first and the last period hold the first and the last row; the periods between
        # are asked in one pass over the rows between them, each row's period found by a
        # CASE of plain comparisons (Django's asks a truncation per row).
        bounds = [moment(start) for start in candidates]
        inner = bounds[1:-1]
        found = {0, len(candidates) - 1}
        if inner:
            period = Case(
                *(
                    When(**{f"{field_name}__lt": bound}, then=Value(number))
                    for number, bound in enumerate(bounds[2:-1], start=1)
                ),
                default=Value(len(candidates) - 2),
                output_field=IntegerField(),
            )
            found |= set(
                self._queryset.order_by()
                .filter(**{f"{field_name}__gte": bounds[1], f"{field_name}__lt": bounds[-1]})
                .annotate(drilldown_period=period)
                .values_list("drilldown_period", flat=True)
                .distinct()
            )
        periods = [bound for number, bound in enumerate(bounds) if number in found]
        return periods[::-1] if order == "DESC" else periods

    def _django(self, field_name, kind, order, aware):
        if aware:
            return list(self._queryset.datetimes(field_name, kind, order))
        return list(self._queryset.dates(field_name, kind, order))


class _DrillDownList:
    """The change list as Django's tag reads it, with the queryset above."""

    def __init__(self, cl):
        self._cl = cl
        self.queryset = _Periods(cl.queryset)

    def __getattr__(self, name):
        return getattr(self._cl, name)


def quick_date_hierarchy(cl):
    return date_hierarchy(_DrillDownList(cl))


@register.tag(name="quick_date_hierarchy")
def quick_date_hierarchy_tag(parser, token):
    return InclusionAdminNode(
        parser,
        token,
        func=quick_date_hierarchy,
        template_name="date_hierarchy.html",
        takes_context=False,
    )
