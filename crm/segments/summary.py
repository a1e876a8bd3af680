"""A segment's rule in words, from its JSON: what the admin shows under the rule builder and in
the list of segments.

    purchases (number of purchases, from: 1, in the last 90 days, at the partners: Pharmacy)
    AND NOT purchases (number of purchases, from: 1, in the last 30 days, at the partners:
    Pharmacy) AND (gender (gender: female) OR age (from, years: 60))

Every word comes from the registry (each kind's label, each parameter's label and choices), so
a kind another app registers reads as well as crm's own. The rows a rule names are read by
name, one query per model for any number of rules (``rule_summaries``). A rule that does not
pass ``rule_clean`` (a stored rule naming a row deleted since, a rule being edited) is still
described as far as it can be: a row that is gone reads "#id", a value of the wrong type as
written."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.segments.params import Param
from crm.segments.registry import kind_get
from crm.segments.rules import is_group

type Names = dict[str, dict[int, str]]  # model label -> id -> the row's name


def _id_params(node: dict) -> Iterable[tuple[Param, list]]:
    code = node.get("kind")
    kind = kind_get(code) if isinstance(code, str) else None
    if kind is None:
        return
    for param in kind.params:
        if param.type not in ("id", "ids"):
            continue
        raw = node.get(param.name)
        values = raw if isinstance(raw, list) else [raw]
        yield param, [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _walk(node: Any) -> Iterable[dict]:
    """Every condition of a rule, however malformed the rule around it."""
    if not isinstance(node, dict):
        return
    if is_group(node):
        items = node.get("items")
        for item in items if isinstance(items, list) else []:
            yield from _walk(item)
    else:
        yield node


def rule_names(rules: Iterable[Any]) -> Names:
    """The names of the rows ``rules`` name: one query per model."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for rule in rules:
        for node in _walk(rule):
            for param, ids in _id_params(node):
                wanted[param.model].update(ids)
    names: Names = {}
    for label, wanted_ids in wanted.items():
        if not wanted_ids:
            continue
        model = apps.get_model(label)
        rows = model._default_manager.filter(pk__in=sorted(wanted_ids))
        names[label] = {row.pk: str(row) for row in rows}
    return names


def _choice_label(param: Param, value: Any) -> str:
    if not isinstance(value, str):
        return str(value)
    choices = param.choices() if callable(param.choices) else param.choices
    return str(dict(choices).get(value, value))


def _window(raw: Any) -> str:
    if not isinstance(raw, dict):
        return str(raw)
    if "last_days" in raw:
        days = raw["last_days"]
        if isinstance(days, int):
            return ngettext("in the last %(count)s day", "in the last %(count)s days", days) % {
                "count": days
            }
        return _("in the last %(count)s days") % {"count": days}
    start, end = raw.get("from"), raw.get("to")
    if start and end:
        return _("from %(from)s to %(to)s") % {"from": start, "to": end}
    if start:
        return _("since %(from)s") % {"from": start}
    if end:
        return _("until %(to)s") % {"to": end}
    return _("all time")


def _value(param: Param, raw: Any, names: Names) -> str:
    """``raw`` as the part of a sentence ``param`` makes of it."""
    if param.type == "window":
        return _window(raw)
    if param.type == "choice":
        return _choice_label(param, raw)
    values = raw if isinstance(raw, list) else [raw]
    if param.type == "choices":
        shown = [_choice_label(param, value) for value in values]
    elif param.type in ("id", "ids"):
        found = names.get(param.model, {})
        shown = [
            found.get(value, f"#{value}") if isinstance(value, int) else str(value)
            for value in values
        ]
    elif param.type in ("text", "texts"):
        shown = [f"“{value}”" for value in values]
    elif param.type == "bool":
        shown = [_("yes") if raw is True else _("no") if raw is False else str(raw)]
    else:
        shown = [str(value) for value in values]
    return f"{param.label}: {', '.join(shown)}"


def condition_summary(node: dict, names: Names) -> str:
    code = node.get("kind")
    kind = kind_get(code) if isinstance(code, str) else None
    if kind is None:
        text = _("unknown condition “%(kind)s”") % {"kind": code}
    else:
        parts = [
            _value(param, node[param.name], names)
            for param in kind.params
            if node.get(param.name) is not None
        ]
        text = f"{kind.label} ({', '.join(parts)})" if parts else str(kind.label)
    return _("NOT %(condition)s") % {"condition": text} if node.get("not") is True else text


def _node_summary(node: Any, names: Names, nested: bool) -> str:
    if not isinstance(node, dict):
        return "?"
    if not is_group(node):
        return condition_summary(node, names)
    items = node.get("items")
    items = items if isinstance(items, list) else []
    joiner = f" {_('OR') if node.get('op') == 'or' else _('AND')} "
    text = joiner.join(_node_summary(item, names, True) for item in items) or _("(no conditions)")
    if node.get("not") is True:
        return _("NOT (%(group)s)") % {"group": text}
    return f"({text})" if nested and len(items) > 1 else text


def rule_summaries(rules: list[Any]) -> list[str]:
    """Each of ``rules`` in words (an empty string for no rule), reading the rows they name
    once for all."""
    names = rule_names(rules)
    return ["" if rule is None else _node_summary(rule, names, False) for rule in rules]


def rule_summary(rule: Any) -> str:
    """``rule`` (a group, as stored or as being edited) in words."""
    return rule_summaries([rule])[0]
