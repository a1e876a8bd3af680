"""The shape of a segment's rule, its check and its canonical form.

A rule is a group; a group's items are groups or conditions::

    {"op": "and", "not": false, "items": [
        {"kind": "purchases", "measure": "count", "min": 1,
         "window": {"last_days": 90}, "partners": [3]},
        {"kind": "purchases", "not": true, "measure": "count", "min": 1,
         "window": {"last_days": 30}, "partners": [3]},
        {"op": "or", "items": [{"kind": "tier", "tiers": [2]}, {"kind": "segment", "segment": 7}]}
    ]}

``op`` is ``and`` or ``or``; ``not`` (false when left out) negates a group or a condition;
a condition's other keys are the parameters its kind declares. ``rule_clean`` refuses anything
else with a named error (``crm.errors.SegmentRuleError`` and its subclasses) and returns the
canonical form that is stored: every ``not`` written out, parameters in their canonical JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext_lazy as _

from crm.errors import (
    RuleGroupEmpty,
    RuleKindUnknown,
    RuleParamsInvalid,
    RuleSegmentCycle,
    RuleShapeInvalid,
    RuleTooLarge,
    SegmentRuleError,
)
from crm.segments.params import param_dump, param_parse, rows_check
from crm.segments.registry import CheckContext, ConditionKind, Values, kind_get

MAX_NODES = 100
MAX_DEPTH = 6
OPS = ("and", "or")


def is_group(node: Any) -> bool:
    return isinstance(node, dict) and "kind" not in node


def leaf_values(kind: ConditionKind, node: dict, path: str = "") -> Values:
    """The parsed parameters of a condition ``node`` of ``kind`` (no database read)."""
    known = {p.name for p in kind.params}
    unknown = sorted(set(node) - known - {"kind", "not"})
    if unknown:
        raise RuleParamsInvalid(
            _("Unknown parameters: %(names)s.") % {"names": ", ".join(unknown)},
            path=path,
            param=unknown[0],
        )
    values: Values = {}
    for param in kind.params:
        raw = node.get(param.name)
        if raw is None:
            if param.required:
                raise RuleParamsInvalid(
                    _("This parameter is required."), path=path, param=param.name
                )
            values[param.name] = None
            continue
        try:
            values[param.name] = param_parse(param, raw)
        except SegmentRuleError as exc:
            raise exc.at(path) from None
    return values


def _not(node: dict, path: str) -> bool:
    negated = node.get("not", False)
    if not isinstance(negated, bool):
        raise RuleShapeInvalid(_('"not" is true or false.'), path=path, param="not")
    return negated


def _walk_clean(node: Any, path: str, depth: int, counter: list[int], ctx: CheckContext) -> dict:
    counter[0] += 1
    if counter[0] > MAX_NODES or depth > MAX_DEPTH:
        raise RuleTooLarge(path=path)
    if not isinstance(node, dict):
        raise RuleShapeInvalid(path=path)
    if is_group(node):
        if set(node) - {"op", "not", "items"}:
            raise RuleShapeInvalid(path=path)
        if node.get("op") not in OPS:
            raise RuleShapeInvalid(_('A group\'s op is "and" or "or".'), path=path, param="op")
        items = node.get("items")
        if not isinstance(items, list):
            raise RuleShapeInvalid(_("A group's items are a list."), path=path, param="items")
        if not items:
            raise RuleGroupEmpty(path=path)
        prefix = f"{path}." if path else ""
        return {
            "op": node["op"],
            "not": _not(node, path),
            "items": [
                _walk_clean(item, f"{prefix}items.{i}", depth + 1, counter, ctx)
                for i, item in enumerate(items)
            ],
        }
    code = node.get("kind")
    kind = kind_get(code) if isinstance(code, str) else None
    if kind is None:
        raise RuleKindUnknown(
            _("There is no condition of kind “%(kind)s”.") % {"kind": code}, path=path, kind=code
        )
    values = leaf_values(kind, node, path)
    try:
        for param in kind.params:
            if param.type in ("id", "ids") and values[param.name] is not None:
                ids = values[param.name]
                rows_check(param, ids if isinstance(ids, list) else [ids], ctx.programme_id)
        if kind.check is not None:
            kind.check(values, ctx)
    except RuleSegmentCycle:
        raise
    except SegmentRuleError as exc:
        raise exc.at(path) from None
    out: dict[str, Any] = {"kind": kind.code, "not": _not(node, path)}
    for param in kind.params:
        if values[param.name] is not None:
            out[param.name] = param_dump(param, values[param.name])
    return out


def rule_clean(rule: Any, *, programme_id: int, segment_id: int | None = None) -> dict:
    """Check ``rule`` for a segment of ``programme_id`` (``segment_id``: the segment it is for,
    if saved) and return its canonical form.

    Raises a ``SegmentRuleError``: ``RuleShapeInvalid``, ``RuleGroupEmpty``, ``RuleTooLarge``,
    ``RuleKindUnknown``, ``RuleParamsInvalid`` (naming the parameter), ``RuleSegmentCycle``.
    Reads the rows the rule names (one query per kind of row) and the rules of the
    programme's other rule segments (one query, for cycles); writes nothing."""
    if not is_group(rule):
        raise RuleShapeInvalid(_('A rule is a group: {"op": "and", "items": [...]}.'))
    ctx = CheckContext(programme_id=programme_id, segment_id=segment_id)
    clean = _walk_clean(rule, "", 1, [0], ctx)
    _cycles_check(clean, programme_id, segment_id)
    return clean


def leaves(rule: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """(path, condition) of every condition of a canonical rule, in order."""
    if is_group(rule):
        prefix = f"{path}." if path else ""
        for i, item in enumerate(rule.get("items", [])):
            yield from leaves(item, f"{prefix}items.{i}")
    else:
        yield path, rule


def rule_references(rule: Any) -> set[int]:
    """The segments a stored rule reads (an unreadable rule reads none)."""
    found: set[int] = set()
    if not is_group(rule):
        return found
    for path, node in leaves(rule):
        kind = kind_get(node.get("kind", ""))
        if kind is None or kind.references is None:
            continue
        try:
            found.update(kind.references(leaf_values(kind, node, path)))
        except SegmentRuleError:
            continue
    return found


def rule_graph(programme_id: int) -> dict[int, set[int]]:
    """Segment id -> the segments its stored rule reads, for the programme's rule segments."""
    from crm.models import Segment

    rows = Segment.objects.filter(programme_id=programme_id, kind=Segment.Kind.RULES)
    return {pk: rule_references(rule) for pk, rule in rows.values_list("pk", "rule")}


def _cycles_check(rule: dict, programme_id: int, segment_id: int | None) -> None:
    refs = rule_references(rule)
    if not refs:
        return
    if segment_id is not None and segment_id in refs:
        raise RuleSegmentCycle(segment=segment_id)
    if segment_id is None:
        return  # nothing refers to a segment not saved yet
    graph = rule_graph(programme_id)
    graph[segment_id] = refs
    seen: set[int] = set()
    todo = list(refs)
    while todo:
        node = todo.pop()
        if node == segment_id:
            raise RuleSegmentCycle(segment=segment_id)
        if node in seen:
            continue
        seen.add(node)
        todo.extend(graph.get(node, ()))


def refresh_order(graph: dict[int, set[int]]) -> list[int]:
    """The segments of ``graph`` with every segment after those it reads (a cycle, which
    ``rule_clean`` refuses, is broken anywhere)."""
    order: list[int] = []
    state: dict[int, int] = {}

    def visit(node: int) -> None:
        if state.get(node):
            return
        state[node] = 1
        for ref in sorted(graph.get(node, ())):
            if ref in graph:
                visit(ref)
        state[node] = 2
        order.append(node)

    for node in sorted(graph):
        visit(node)
    return order
