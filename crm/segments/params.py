"""The parameter types a condition kind declares: how each is written in the rule's JSON, how it
is checked and what value the compiler receives. The admin builder renders its fields from
the same declarations.

| type       | JSON                                           | compiler receives            |
|------------|------------------------------------------------|------------------------------|
| ``int``    | an integer                                     | ``int``                      |
| ``decimal``| a string ``"1500.50"`` or an integer           | ``Decimal``                  |
| ``date``   | ``"YYYY-MM-DD"``                               | ``date``                     |
| ``bool``   | ``true`` / ``false``                           | ``bool``                     |
| ``text``   | a non-empty string (200 characters at most)    | ``str``                      |
| ``texts``  | a non-empty list of such strings               | ``list[str]``                |
| ``choice`` | one of the declared values                     | ``str``                      |
| ``choices``| a non-empty list of declared values            | ``list[str]``                |
| ``id``     | the primary key of a row of ``model``          | ``int``                      |
| ``ids``    | a non-empty list of such keys                  | ``list[int]`` (sorted)       |
| ``window`` | ``{"last_days": N}`` or ``{"from": d, "to": d}`` | ``Window``                 |

A window of the last N days runs from N×24 hours before the moment of evaluation to that
moment; a window of dates runs from the start of ``from`` to the end of ``to`` (either may be
left out) in the project's time zone (settings.TIME_ZONE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.errors import RuleParamsInvalid

type Label = str | Promise
type Choices = Sequence[tuple[str, Label]]

TYPES = frozenset(
    ["int", "decimal", "date", "bool", "text", "texts", "choice", "choices", "id", "ids", "window"]
)
MAX_TEXT = 200
MAX_WINDOW_DAYS = 3660


@dataclass(frozen=True)
class Window:
    """A period of time: the last ``last_days`` days before the moment of evaluation, or the
    dates from ``start`` to ``end`` inclusive (either open)."""

    last_days: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def bounds(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None, bool]:
        """(since, until, until_inclusive): ``since <= t`` and ``t <= until`` (or ``<``)."""
        if self.last_days is not None:
            return now - dt.timedelta(days=self.last_days), now, True
        zone = ZoneInfo(settings.TIME_ZONE)
        since = dt.datetime.combine(self.start, dt.time.min, tzinfo=zone) if self.start else None
        until = (
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
            if self.end
            else None
        )
        return since, until, False

    def q(self, field_name: str, now: dt.datetime) -> Q:
        """``field_name`` (a moment) within the window."""
        since, until, inclusive = self.bounds(now)
        q = Q()
        if since is not None:
            q &= Q(**{f"{field_name}__gte": since})
        if until is not None:
            q &= Q(**{f"{field_name}__{'lte' if inclusive else 'lt'}": until})
        return q


@dataclass(frozen=True)
class Param:
    """One parameter of a condition kind.

    ``model`` (``"app_label.Model"``) for ``id``/``ids``: the rows must exist, and, when
    ``programme_field`` is set, belong to the segment's programme through it.
    ``choices`` may be a callable, read when the rule is checked."""

    name: str
    label: Label
    type: str
    required: bool = False
    choices: Choices | Callable[[], Choices] = ()
    model: str = ""
    programme_field: str = ""
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    places: int = 2
    help_text: Label = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown parameter type {self.type!r}")
        if self.type in ("id", "ids") and not self.model:
            raise ValueError(f"parameter {self.name!r} of type {self.type} names no model")

    def choice_values(self) -> list[str]:
        choices = self.choices() if callable(self.choices) else self.choices
        return [value for value, _label in choices]


def bad(param: str, message: Label, **details) -> RuleParamsInvalid:
    return RuleParamsInvalid(message, param=param, **details)


def _int(param: Param, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise bad(param.name, _("Expected a whole number."))
    _within(param, raw)
    return raw


def _within(param: Param, value: int | Decimal) -> None:
    if param.minimum is not None and value < param.minimum:
        raise bad(param.name, _("Must be at least %(minimum)s.") % {"minimum": param.minimum})
    if param.maximum is not None and value > param.maximum:
        raise bad(param.name, _("Must be at most %(maximum)s.") % {"maximum": param.maximum})


def _decimal(param: Param, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise bad(param.name, _('Expected a number written as a string, such as "1500.50".'))
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise bad(param.name, _('Expected a number, such as "1500.50".')) from None
    if not value.is_finite():
        raise bad(param.name, _('Expected a number, such as "1500.50".'))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -param.places:
        raise bad(
            param.name,
            _("At most %(places)s digits after the point.") % {"places": param.places},
        )
    if abs(value) >= Decimal(10) ** 15:
        raise bad(param.name, _("The number is too large."))
    _within(param, value)
    return value


def _date(param: Param, raw: Any) -> dt.date:
    if not isinstance(raw, str):
        raise bad(param.name, _("Expected a date as YYYY-MM-DD."))
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise bad(param.name, _("Expected a date as YYYY-MM-DD.")) from None


def _bool(param: Param, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise bad(param.name, _("Expected true or false."))
    return raw


def _text(param: Param, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise bad(param.name, _("Expected some text."))
    if len(raw) > MAX_TEXT:
        raise bad(param.name, _("At most %(count)s characters.") % {"count": MAX_TEXT})
    return raw.strip()


def _texts(param: Param, raw: Any) -> list[str]:
    return list(dict.fromkeys(_text(param, item) for item in _list(param, raw)))


def _choice(param: Param, raw: Any) -> str:
    allowed = param.choice_values()
    if not isinstance(raw, str) or raw not in allowed:
        raise bad(
            param.name,
            _("Expected one of: %(values)s.") % {"values": ", ".join(allowed)},
        )
    return raw


def _list(param: Param, raw: Any) -> list:
    if not isinstance(raw, list) or not raw:
        raise bad(param.name, _("Expected a non-empty list."))
    if len(raw) > 1000:
        raise bad(param.name, _("At most 1000 values."))
    return raw


def _choices(param: Param, raw: Any) -> list[str]:
    values = [_choice(param, item) for item in _list(param, raw)]
    return list(dict.fromkeys(values))


def _id(param: Param, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise bad(param.name, _("Expected the id of a row."))
    return raw


def _ids(param: Param, raw: Any) -> list[int]:
    return sorted({_id(param, item) for item in _list(param, raw)})


def _window(param: Param, raw: Any) -> Window:
    if not isinstance(raw, dict) or not raw:
        raise bad(param.name, _('Expected {"last_days": N} or {"from": date, "to": date}.'))
    keys = set(raw)
    if keys == {"last_days"}:
        days = raw["last_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
            raise bad(
                param.name,
                _("The last days: a whole number from 1 to %(maximum)s.")
                % {"maximum": MAX_WINDOW_DAYS},
            )
        return Window(last_days=days)
    if keys <= {"from", "to"}:
        start = _date(param, raw["from"]) if "from" in raw else None
        end = _date(param, raw["to"]) if "to" in raw else None
        if start and end and start > end:
            raise bad(param.name, _("The window ends before it starts."))
        return Window(start=start, end=end)
    raise bad(param.name, _('Expected {"last_days": N} or {"from": date, "to": date}.'))


PARSERS: dict[str, Callable[[Param, Any], Any]] = {
    "int": _int,
    "decimal": _decimal,
    "date": _date,
    "bool": _bool,
    "text": _text,
    "texts": _texts,
    "choice": _choice,
    "choices": _choices,
    "id": _id,
    "ids": _ids,
    "window": _window,
}


def param_parse(param: Param, raw: Any) -> Any:
    """The value of ``raw`` for ``param``; raises ``RuleParamsInvalid``."""
    return PARSERS[param.type](param, raw)


def param_dump(param: Param, value: Any) -> Any:
    """The canonical JSON of a parsed value."""
    if param.type == "decimal":
        return str(value)
    if param.type == "date":
        return value.isoformat()
    if param.type == "window":
        if value.last_days is not None:
            return {"last_days": value.last_days}
        out = {}
        if value.start:
            out["from"] = value.start.isoformat()
        if value.end:
            out["to"] = value.end.isoformat()
        return out
    return value


def rows_check(param: Param, ids: Sequence[int], programme_id: int | None) -> None:
    """Every id names a row of ``param.model`` (of the programme, when scoped)."""
    model = apps.get_model(param.model)
    rows = model._default_manager.filter(pk__in=ids)
    if param.programme_field and programme_id is not None:
        rows = rows.filter(**{param.programme_field: programme_id})
    found = set(rows.values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise bad(
            param.name,
            _("No %(model)s with id %(ids)s in this programme.")
            % {"model": model._meta.verbose_name, "ids": ", ".join(map(str, missing))},
            missing=missing,
        )
