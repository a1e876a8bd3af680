"""Ordinary rule segments made from a scheme's cells, and their refresh after each run.

A cell's segment is a rule segment like any other (``kind = "rules"``, the rule one
``rfm_cell`` condition), so promotions, mailings and other rules use it as they use every
segment, and the registers read only its member rows. ``rfm_cell_segments_create`` makes
one per cell (code ``rfm.<scheme>.<cell>``), leaving a segment that already has the code as
it is; after every run of the scheme ``rfm_segments_refresh`` refreshes the programme's rule
segments whose rule names the scheme (those made here and any other), so who is in a cell's
segment follows the run without waiting for the nightly refresh of the segments."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction

from crm.errors import SegmentRuleError
from crm.models import Segment, SegmentRefresh
from crm.segments.refresh import segment_refresh
from crm.segments.rules import is_group, leaves, rule_clean
from loyalty.models.rfm import RfmCell, RfmScheme

log = logging.getLogger(__name__)

KIND = "rfm_cell"


def cell_segment_code(scheme: RfmScheme, cell: RfmCell) -> str:
    return f"rfm.{scheme.code}.{cell.code}"


def cell_rule(scheme_id: int, cells: list[str]) -> dict:
    return {"op": "and", "items": [{"kind": KIND, "scheme": scheme_id, "cells": cells}]}


def reads_scheme(rule, scheme_id: int) -> bool:
    """Whether a stored rule has an ``rfm_cell`` condition on the scheme."""
    if not is_group(rule):
        return False
    return any(
        node.get("kind") == KIND and node.get("scheme") == scheme_id for _path, node in leaves(rule)
    )


@dataclass
class Made:
    created: list[Segment] = field(default_factory=list)
    existing: list[Segment] = field(default_factory=list)


def rfm_cell_segments_create(scheme: RfmScheme, *, user=None) -> Made:
    """Make a rule segment for each cell of ``scheme`` that has none yet (by code), and
    refresh the new ones from the current scores. A segment already holding the code is left
    as it is (a marketer may have changed it)."""
    made = Made()
    with transaction.atomic():
        cells = list(RfmCell.objects.filter(scheme=scheme).order_by("position", "pk"))
        codes = {cell_segment_code(scheme, cell): cell for cell in cells}
        known = {
            segment.code: segment
            for segment in Segment.objects.filter(programme_id=scheme.programme_id, code__in=codes)
        }
        for code, cell in codes.items():
            if code in known:
                made.existing.append(known[code])
                continue
            rule = rule_clean(cell_rule(scheme.pk, [cell.code]), programme_id=scheme.programme_id)
            made.created.append(
                Segment.objects.create(
                    programme_id=scheme.programme_id,
                    code=code,
                    name=f"{scheme.name}: {cell.name}",
                    description=f"R {cell.r_min}-{cell.r_max}, F {cell.f_min}-{cell.f_max}",
                    kind=Segment.Kind.RULES,
                    rule=rule,
                )
            )
    for segment in made.created:
        segment_refresh(segment.pk, trigger=SegmentRefresh.Trigger.STAFF, user=user)
    return made


@dataclass
class Refreshed:
    refreshed: int = 0
    failed: int = 0


def rfm_segments_refresh(scheme_id: int, *, now: dt.datetime | None = None, user=None) -> Refreshed:
    """Refresh the programme's rule segments whose rule reads the scheme (in id order); a
    segment that fails keeps its error (``Segment.refresh_error``) and the others go on."""
    done = Refreshed()
    programme_id = RfmScheme.objects.filter(pk=scheme_id).values_list("programme_id", flat=True)
    rows = Segment.objects.filter(programme_id__in=programme_id, kind=Segment.Kind.RULES)
    for segment_id, rule in rows.order_by("pk").values_list("pk", "rule"):
        if not reads_scheme(rule, scheme_id):
            continue
        try:
            segment_refresh(segment_id, now=now, user=user)
        except SegmentRuleError as exc:
            log.warning("segment %s not refreshed after RFM: %s", segment_id, exc)
            done.failed += 1
        except Segment.DoesNotExist:
            continue
        else:
            done.refreshed += 1
    return done
