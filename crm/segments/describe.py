"""The registry as data: every kind of condition with its heading and parameters, in the active
language, for the admin's rule builder to render its fields from (``kinds_description``). A
kind another app registers shows up in the builder with no change to it.

A parameter is described by its ``type`` (``crm.segments.params``), label, help, whether it
is required, its bounds and decimal places, its choices, and for ``id`` / ``ids`` the model
whose rows it names and whether those rows are limited to the segment's programme."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.apps import apps

from crm.segments.params import Param
from crm.segments.registry import ConditionKind, kinds


def _number(value: int | Decimal | None) -> int | str | None:
    if value is None or isinstance(value, int):
        return value
    return str(value)


def param_description(param: Param) -> dict[str, Any]:
    choices = param.choices() if callable(param.choices) else param.choices
    out: dict[str, Any] = {
        "name": param.name,
        "label": str(param.label),
        "type": param.type,
        "required": param.required,
        "help": str(param.help_text),
        "choices": [[value, str(label)] for value, label in choices],
        "minimum": _number(param.minimum),
        "maximum": _number(param.maximum),
        "places": param.places,
    }
    if param.type in ("id", "ids"):
        model = apps.get_model(param.model)
        out["model"] = param.model
        out["model_label"] = str(model._meta.verbose_name)
        out["programme_scoped"] = bool(param.programme_field)
    return out


def kind_description(kind: ConditionKind) -> dict[str, Any]:
    return {
        "code": kind.code,
        "label": str(kind.label),
        "group": str(kind.group),
        "help": str(kind.help_text),
        "params": [param_description(param) for param in kind.params],
    }


def kinds_description() -> list[dict[str, Any]]:
    """Every registered kind, in the registry's order (the builder lists them under their
    ``group`` headings, in the order the headings first appear)."""
    return [kind_description(kind) for kind in kinds()]
