"""The kinds of condition a segment's rule may use, registered by the app that owns the data.

crm knows only this registry, never the kinds of the apps above it: loyalty and promotions
register theirs from their ``AppConfig.ready`` (``loyalty.segment_kinds``,
``promotions.segment_kinds``), crm its own (``crm.segments.kinds``). A kind declares its
parameters (``crm.segments.params``), an optional ``check`` for what the parameters alone
cannot say (one against the other, or against the database), and ``compile``: the condition
as a ``Q`` over ``Customer``, built from columns, ``Exists`` and subqueries only, so that the
whole rule is one SQL statement on PostgreSQL and SQLite alike.

A ``Q`` a kind compiles to must be true or false for every customer, never NULL (an
``Exists``, a ``pk__in`` over a subquery that yields no NULL, a nullable column guarded by
``__isnull=False``): NOT of a group is then exactly the customers the group leaves out.

Incremental refreshes (``crm.segments.incremental``): a kind whose condition, with given
values, can change its answer for a customer only when that customer's own rows change (no
window relative to the moment of evaluation, no age, no "date near", no expiring points...)
declares it with ``time_stable`` and names, with ``changes``, the customers whose rows it
reads changed since a moment. A rule all of whose conditions are time-stable is refreshed for
those customers only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet

from crm.segments.params import Label, Param


@dataclass
class CompileContext:
    """What every condition is compiled against: the moment of evaluation (windows end
    there), today's date in the project's time zone, the segment's programme, and a cache a
    kind may keep what it read once per compile in (the category tree...).

    ``candidates``: when set, an SQL ``SELECT`` of the only customer ids the rule is evaluated
    for (an incremental refresh); a kind may restrict its aggregates' rows to them
    (``crm.segments.aggregates.grouped``), which changes no answer, only the work."""

    now: dt.datetime
    today: dt.date
    programme_id: int
    cache: dict[str, Any] = field(default_factory=dict)
    candidates: str | None = None


@dataclass(frozen=True)
class ChangeContext:
    """Since when changes are looked for (already moved back by the refresh's overlap)."""

    since: dt.datetime
    programme_id: int


@dataclass(frozen=True)
class CheckContext:
    programme_id: int
    segment_id: int | None


type Values = dict[str, Any]


@dataclass(frozen=True)
class ConditionKind:
    """``code``: the ``kind`` of the rule's JSON; ``group``: the heading the builder lists it
    under; ``references``: the segments a condition of this kind reads (for cycles and the
    order of the nightly refresh).

    ``time_stable``: whether a condition with these values can change its answer for a
    customer only when the rows ``changes`` watches change (never when only time passes);
    ``changes``: querysets of the customer ids whose such rows changed since
    ``ctx.since``, or None when that cannot be told (then the refresh is a full one). A kind
    that declares neither is never refreshed incrementally."""

    code: str
    label: Label
    group: Label
    params: tuple[Param, ...]
    compile: Callable[[Values, CompileContext], Q]
    check: Callable[[Values, CheckContext], None] | None = None
    references: Callable[[Values], Iterable[int]] | None = None
    app_label: str = ""
    help_text: Label = ""
    time_stable: Callable[[Values], bool] | None = None
    changes: Callable[[Values, ChangeContext], list[QuerySet] | None] | None = None

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


_KINDS: dict[str, ConditionKind] = {}


def register(*kinds: ConditionKind) -> None:
    """Add ``kinds``; the same code again from the same app replaces it (``ready`` may run
    twice in tests), from another app is a configuration error."""
    for kind in kinds:
        known = _KINDS.get(kind.code)
        if known is not None and known.app_label != kind.app_label:
            raise ImproperlyConfigured(
                f"segment condition {kind.code!r} is registered by {known.app_label} "
                f"and {kind.app_label}"
            )
        if (kind.time_stable is None) != (kind.changes is None):
            raise ImproperlyConfigured(
                f"segment condition {kind.code!r}: time_stable and changes go together"
            )
        names = [p.name for p in kind.params]
        if len(set(names)) != len(names) or {"kind", "not"} & set(names):
            raise ImproperlyConfigured(f"segment condition {kind.code!r}: bad parameter names")
        _KINDS[kind.code] = kind


def kind_get(code: str) -> ConditionKind | None:
    return _KINDS.get(code)


def kinds() -> list[ConditionKind]:
    """Every registered kind, in the order registered (crm's, loyalty's, promotions')."""
    return list(_KINDS.values())
