"""What changed from one version of a promotion to the next, read from the two JSON documents
a ``PromotionVersion`` keeps (the exchange format, docs/promotion-format.md).

``version_diff`` compares the documents only: no database, so a version stays readable after
its product sets, stores or tiers are renamed or gone. Conditions and rewards have no identity
of their own in the document: unchanged rows are matched first, and the rows left between two
matches are paired in order (a changed row), the extra ones being added or removed rows.
``change_rows`` turns the changes into labelled, translated text for the history page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _

from loyalty.models import Store
from promotions.bands import bands_summary
from promotions.models import Condition, Promotion, Reward

ROWS = {"conditions": Condition, "rewards": Reward}
CHANGED, ADDED, REMOVED = "changed", "added", "removed"
EMPTY = (None, "", [])


@dataclass(frozen=True)
class Change:
    """One difference. ``part`` is ``promotion``, ``conditions`` or ``rewards``; ``number`` the
    row's place (1-based) in the new version, or in the old one for a removed row; ``field``
    is None when a whole row was added or removed, ``old`` or ``new`` being that row."""

    part: str
    action: str
    field: str | None = None
    old: Any = None
    new: Any = None
    number: int | None = None


def version_diff(old: dict, new: dict) -> list[Change]:
    """The changes from ``old`` to ``new``: the promotion's fields in the document's order,
    then its conditions, then its rewards."""
    changes = [
        Change("promotion", CHANGED, key, old.get(key), new.get(key))
        for key in _keys(old, new)
        if key not in ROWS and not _same(old.get(key), new.get(key))
    ]
    for part in ROWS:
        changes += _row_changes(part, old.get(part) or [], new.get(part) or [])
    return changes


def _keys(*documents: dict) -> list[str]:
    return list(dict.fromkeys(key for document in documents for key in document))


def _empty(value: Any) -> bool:
    # False too: a flag an older document did not have yet was off.
    return value is False or value in EMPTY


def _instant(value: Any):
    """A moment written as ISO text, as an aware datetime; None for anything else."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _same(old: Any, new: Any) -> bool:
    # A key an older document did not have yet reads as empty, whatever its empty value.
    if old == new or (_empty(old) and _empty(new)):
        return True
    # The same moment written in another zone's notation (a form saves it in the back
    # office's zone, a bulk action as read from the database, in UTC) is no change.
    before, after = _instant(old), _instant(new)
    return before is not None and after is not None and before == after


def _row_changes(part: str, old_rows: list, new_rows: list) -> list[Change]:
    def key(row) -> str:
        # Empty values left out, so a row of an older document (without the keys added
        # since) matches the same row as saved now.
        if isinstance(row, dict):
            row = {field: value for field, value in row.items() if not _empty(value)}
        return json.dumps(row, sort_keys=True, default=str)

    matcher = SequenceMatcher(
        a=[key(r) for r in old_rows], b=[key(r) for r in new_rows], autojunk=False
    )
    changes = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        for k in range(paired):
            before, after = old_rows[i1 + k], new_rows[j1 + k]
            changes += [
                Change(part, CHANGED, field, before.get(field), after.get(field), j1 + k + 1)
                for field in _keys(before, after)
                if not _same(before.get(field), after.get(field))
            ]
        changes += [
            Change(part, REMOVED, old=old_rows[i], number=i + 1) for i in range(i1 + paired, i2)
        ]
        changes += [
            Change(part, ADDED, new=new_rows[j], number=j + 1) for j in range(j1 + paired, j2)
        ]
    return changes


# --- Text for people --------------------------------------------------------------------------

MODELS = {"promotion": Promotion, **ROWS}


@dataclass(frozen=True)
class ChangeRow:
    where: str  # "" for the promotion itself, else e.g. "condition 2"
    what: str  # the field's label, or "added" / "removed"
    old: str
    new: str


def change_rows(changes: list[Change]) -> list[ChangeRow]:
    """The changes in the words of the admin: field labels, choice labels, dates and days."""
    rows = []
    for change in changes:
        model = MODELS[change.part]
        where = _where(change)
        if change.field is not None:
            old, new = (
                _show(model, change.field, change.old),
                _show(model, change.field, change.new),
            )
            if old == new:  # e.g. moments a fraction of a second apart: show them exactly
                old, new = str(change.old), str(change.new)
            rows.append(ChangeRow(where, _label(model, change.field), old, new))
        elif change.action == ADDED:
            rows.append(ChangeRow(where, _("added"), "", _summary(model, change.new)))
        else:
            rows.append(ChangeRow(where, _("removed"), _summary(model, change.old), ""))
    return rows


def _where(change: Change) -> str:
    if change.part == "conditions":
        return _("condition %(number)s") % {"number": change.number}
    if change.part == "rewards":
        return _("reward %(number)s") % {"number": change.number}
    return ""


def _label(model, field: str) -> str:
    try:
        return str(model._meta.get_field(field).verbose_name)
    except FieldDoesNotExist:
        return field


def _summary(model, row: Any) -> str:
    """A whole condition or reward on one line: its kind first, then what is filled in."""
    if not isinstance(row, dict):
        return str(row)
    parts = [_show(model, "kind", row.get("kind"))]
    parts += [
        f"{_label(model, field)}: {_show(model, field, value)}"
        for field, value in row.items()
        if field != "kind" and value not in (None, "", [], 0)
    ]
    return "; ".join(parts)


def _show(model, field: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if field == "bands" and model is Reward:
        return bands_summary(value)
    if isinstance(value, list):
        return ", ".join(_show(model, field, item) for item in value)
    if field == "weekdays" and isinstance(value, int) and 1 <= value <= 7:
        return str(WEEKDAYS[value - 1])
    if field == "channels":
        return str(dict(Store.Channel.choices).get(value, value))
    if field in ("starts_at", "ends_at") and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None and timezone.is_aware(moment):
            return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    try:
        choices = dict(model._meta.get_field(field).flatchoices)
    except FieldDoesNotExist:
        choices = {}
    return str(choices.get(value, value))
