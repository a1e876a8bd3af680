"""A canonical rule as one ``Q`` over ``Customer``: groups become AND / OR / NOT of their
items, conditions the ``Q`` their kind compiles to. The members of a rule are then one SQL
statement (``rule_members``); nothing is evaluated per customer in Python.

Who can be a member at all (``population``): customers neither anonymised nor merged into
another (their cards, points and purchases are the other customer's)."""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import and_, or_

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from crm.errors import RuleKindUnknown
from crm.models import Customer
from crm.segments.registry import CompileContext, kind_get
from crm.segments.rules import is_group, leaf_values


def population() -> QuerySet[Customer]:
    return Customer.objects.filter(is_anonymised=False, merged_into__isnull=True)


def compile_context(
    programme_id: int, now: dt.datetime | None = None, candidates: str | None = None
) -> CompileContext:
    now = now or timezone.now()
    return CompileContext(
        now=now,
        today=timezone.localdate(now),
        programme_id=programme_id,
        candidates=candidates,
    )


def rule_q(node: dict, ctx: CompileContext, path: str = "") -> Q:
    """``node`` (a canonical group or condition) as a ``Q`` over ``Customer``."""
    if is_group(node):
        prefix = f"{path}." if path else ""
        parts = [rule_q(item, ctx, f"{prefix}items.{i}") for i, item in enumerate(node["items"])]
        q = reduce(and_ if node["op"] == "and" else or_, parts)
    else:
        kind = kind_get(node["kind"])
        if kind is None:  # a kind whose app was removed since the rule was saved
            raise RuleKindUnknown(path=path, kind=node["kind"])
        q = kind.compile(leaf_values(kind, node, path), ctx)
    return ~q if node.get("not") else q


def rule_members(
    rule: dict,
    *,
    programme_id: int,
    now: dt.datetime | None = None,
    candidates: str | None = None,
) -> QuerySet[Customer]:
    """The customers a canonical ``rule`` finds at ``now``: one query, unordered.
    ``candidates``: an SQL ``SELECT`` of customer ids, the only ones looked at."""
    ctx = compile_context(programme_id, now, candidates)
    rows = population()
    if candidates:
        rows = rows.filter(pk__in=RawSQL(candidates, ()))
    return rows.filter(rule_q(rule, ctx)).order_by()
