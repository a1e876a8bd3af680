"""The size and the first customers of a rule not saved yet: what the admin builder shows
while a marketer edits a segment. Nothing is written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from crm.models import Customer
from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean


@dataclass(frozen=True)
class SegmentPreview:
    rule: dict  # the canonical form of the rule previewed
    size: int
    customers: list[Customer]  # the first ``limit``, newest registrations first


def segment_preview(
    rule: Any,
    *,
    programme_id: int,
    segment_id: int | None = None,
    limit: int = 20,
    now: dt.datetime | None = None,
) -> SegmentPreview:
    """Check ``rule`` as ``rule_clean`` does (raising its named errors), then count its members
    and read the first ``limit`` of them: two queries besides the check's reads."""
    clean = rule_clean(rule, programme_id=programme_id, segment_id=segment_id)
    members = rule_members(clean, programme_id=programme_id, now=now)
    size = members.count()
    first = list(members.order_by("-registered_at", "-pk")[: max(limit, 0)]) if size else []
    return SegmentPreview(rule=clean, size=size, customers=first)
