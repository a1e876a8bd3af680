"""Ready segmentations: a set of ordinary rule segments made at once from a few parameters (a
BCG matrix of customers, buyers and non-buyers of a category, bands of promotion sensitivity
or of churn risk...). Each segment made is a plain ``kind = "rules"`` segment with a
generated code and name, refreshed at once, then every night like any other; nothing but its
code and description remembers where it came from.

As with the kinds of condition, crm knows only this registry: the app that owns the data
registers the types (``loyalty.segmentations``, from ``LoyaltyConfig.ready``). A type
declares its parameters with the kinds' own ``Param`` (so they are parsed and checked alike)
and ``build``: the segments to make, each a suffix of the code, a name and a rule.

Codes are ``<prefix>-<suffix>`` (the prefix defaults to the type's code), unique per
programme: making a segmentation again with the same prefix is refused, and nothing is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from crm.errors import (
    SegmentationExists,
    SegmentationParamsInvalid,
    SegmentationUnknown,
    SegmentRuleError,
)
from crm.models import Segment, SegmentRefresh
from crm.segments.params import Label, Param, param_parse, rows_check
from crm.segments.preview import SegmentPreview, segment_preview
from crm.segments.refresh import segment_refresh
from crm.segments.registry import Values
from crm.segments.rules import rule_clean
from crm.validators import CODE_RE

MAX_CODE = 64


@dataclass(frozen=True)
class SegmentPlan:
    """One segment a segmentation makes: ``suffix`` of its code, its ``label`` (the name
    after the segmentation's title), a ``description`` and its ``rule``."""

    suffix: str
    label: Label
    rule: dict
    description: Label = ""


@dataclass(frozen=True)
class Segmentation:
    """``initial``: the parameters' values the admin form starts with (their JSON)."""

    code: str
    label: Label
    params: tuple[Param, ...]
    build: Callable[[Values], list[SegmentPlan]]
    check: Callable[[Values], None] | None = None
    help_text: Label = ""
    initial: dict[str, Any] = field(default_factory=dict)
    app_label: str = ""


@dataclass(frozen=True)
class PlannedSegment:
    code: str
    name: str
    description: str
    rule: dict  # canonical


_TYPES: dict[str, Segmentation] = {}


def register_segmentation(*types: Segmentation) -> None:
    """Add ``types``; the same code from the same app replaces it, from another app is a
    configuration error."""
    for one in types:
        known = _TYPES.get(one.code)
        if known is not None and known.app_label != one.app_label:
            raise ImproperlyConfigured(
                f"ready segmentation {one.code!r} is registered by {known.app_label} "
                f"and {one.app_label}"
            )
        _TYPES[one.code] = one


def segmentation_get(code: str) -> Segmentation | None:
    return _TYPES.get(code)


def segmentations() -> list[Segmentation]:
    return list(_TYPES.values())


def segmentation_values(segmentation: Segmentation, params: Any, programme_id: int) -> Values:
    """The parsed parameters (raising ``SegmentationParamsInvalid`` naming the one at fault):
    parsed as a condition's are, rows checked to exist in the programme, then the type's own
    check."""
    if not isinstance(params, dict):
        raise SegmentationParamsInvalid(_("Expected the parameters as an object."))
    unknown = sorted(set(params) - {p.name for p in segmentation.params})
    if unknown:
        raise SegmentationParamsInvalid(
            _("Unknown parameters: %(names)s.") % {"names": ", ".join(unknown)}, param=unknown[0]
        )
    values: Values = {}
    try:
        for param in segmentation.params:
            raw = params.get(param.name)
            if raw is None or raw == "" or raw == []:
                if param.required:
                    raise SegmentationParamsInvalid(
                        _("This parameter is required."), param=param.name
                    )
                values[param.name] = None
                continue
            values[param.name] = param_parse(param, raw)
            if param.type in ("id", "ids"):
                ids = values[param.name] if param.type == "ids" else [values[param.name]]
                rows_check(param, ids, programme_id)
        if segmentation.check is not None:
            segmentation.check(values)
    except SegmentRuleError as exc:  # the parameter parsers' and the checks' errors
        raise SegmentationParamsInvalid(exc.text, param=exc.param) from None
    return values


def segmentation_plan(
    *, programme_id: int, kind: str, params: Any, prefix: str | None = None
) -> list[PlannedSegment]:
    """The segments ``kind`` would make with ``params``: codes, names and canonical rules.
    Reads, writes nothing; raises the ``SegmentationError`` subclasses."""
    segmentation = segmentation_get(kind) if isinstance(kind, str) else None
    if segmentation is None:
        raise SegmentationUnknown(param="kind")
    prefix = segmentation.code if prefix is None else prefix
    values = segmentation_values(segmentation, params, programme_id)
    plans = segmentation.build(values)
    longest = max(len(plan.suffix) for plan in plans)
    if not isinstance(prefix, str) or not CODE_RE.match(prefix):
        raise SegmentationParamsInvalid(
            _("Use letters, digits, dots, dashes or underscores, starting with a letter or digit."),
            param="prefix",
        )
    if len(prefix) + 1 + longest > MAX_CODE:
        raise SegmentationParamsInvalid(
            _("At most %(count)s characters.") % {"count": MAX_CODE - 1 - longest},
            param="prefix",
        )
    title = f"{segmentation.label} ({prefix})"
    planned = []
    for plan in plans:
        try:
            rule = rule_clean(plan.rule, programme_id=programme_id)
        except SegmentRuleError as exc:  # a parameter the build passed on unchecked
            raise SegmentationParamsInvalid(exc.text, param=exc.param) from None
        planned.append(
            PlannedSegment(
                code=f"{prefix}-{plan.suffix}",
                name=f"{title}: {plan.label}",
                description=str(plan.description),
                rule=rule,
            )
        )
    return planned


def _refuse_taken(programme_id: int, codes: list[str]) -> None:
    taken = sorted(
        Segment.objects.filter(programme_id=programme_id, code__in=codes).values_list(
            "code", flat=True
        )
    )
    if taken:
        raise SegmentationExists(
            _(
                "The programme already has segments with the codes %(codes)s: choose another "
                "prefix, or delete them first."
            )
            % {"codes": ", ".join(taken)},
            param="prefix",
            codes=taken,
        )


def segmentation_preview(
    *,
    programme_id: int,
    kind: str,
    params: Any,
    prefix: str | None = None,
    limit: int = 5,
    now: dt.datetime | None = None,
) -> list[tuple[PlannedSegment, SegmentPreview]]:
    """Each segment ``segmentation_create`` would make, with its size and first customers
    (``segment_preview``); refused as creating would be. Writes nothing."""
    planned = segmentation_plan(programme_id=programme_id, kind=kind, params=params, prefix=prefix)
    _refuse_taken(programme_id, [one.code for one in planned])
    return [
        (one, segment_preview(one.rule, programme_id=programme_id, limit=limit, now=now))
        for one in planned
    ]


def segmentation_create(
    *,
    programme,
    kind: str,
    params: Any,
    user=None,
    prefix: str | None = None,
    now: dt.datetime | None = None,
) -> list[Segment]:
    """Make the segments of the ready segmentation ``kind`` in ``programme`` and refresh
    each (``user`` starts the refreshes). All or nothing: raises ``SegmentationUnknown``,
    ``SegmentationParamsInvalid`` or ``SegmentationExists`` (a code taken in the programme,
    also when another request made it meanwhile) and makes no segment."""
    planned = segmentation_plan(programme_id=programme.pk, kind=kind, params=params, prefix=prefix)
    codes = [one.code for one in planned]
    _refuse_taken(programme.pk, codes)
    try:
        with transaction.atomic():
            made = [
                Segment.objects.create(
                    programme=programme,
                    code=one.code,
                    name=one.name[:200],
                    description=one.description,
                    kind=Segment.Kind.RULES,
                    rule=one.rule,
                )
                for one in planned
            ]
            for segment in made:
                segment_refresh(
                    segment.pk, trigger=SegmentRefresh.Trigger.STAFF, user=user, now=now
                )
    except IntegrityError:  # the same codes made by a concurrent request
        _refuse_taken(programme.pk, codes)
        raise
    for segment in made:
        segment.refresh_from_db()
    return made
