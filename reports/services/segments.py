"""The segments' size over time, from their refreshes (``SegmentRefresh``: the size a refresh
found, how many entered and left, how long it took).

``segments_overview`` lists segments with their last ``SPARK`` successful refreshes (one query
for the segments, one for the refreshes, whatever their number: a window function numbers each
segment's refreshes, newest first, and keeps the first ones); ``segment_sizes`` is one
segment's last ``HISTORY`` refreshes, failed ones too. ``size_chart`` draws sizes as an inline
SVG polyline (no script, nothing from outside the page).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import RowNumber

from crm.models import Segment, SegmentRefresh

SPARK = 30
HISTORY = 200
CHART_WIDTH = 240
CHART_HEIGHT = 40


@dataclass
class SegmentSizes:
    segment: Segment
    members: int
    refreshes: list[SegmentRefresh] = field(default_factory=list)  # oldest first

    @property
    def chart(self) -> Chart:
        return size_chart([r.size or 0 for r in self.refreshes])


@dataclass(frozen=True)
class Chart:
    """An SVG polyline's points in a ``width`` × ``height`` box; ``low`` and ``high`` label
    the axis (the smallest and the largest size drawn)."""

    points: str
    width: int
    height: int
    low: int
    high: int


def size_chart(sizes: list[int], width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> Chart:
    """Sizes (oldest first) as points evenly across ``width``, the smallest at the bottom and
    the largest at the top (a flat line in the middle when they are all equal)."""
    if not sizes:
        return Chart("", width, height, 0, 0)
    low, high = min(sizes), max(sizes)
    step = width / (len(sizes) - 1) if len(sizes) > 1 else 0
    points = []
    for index, size in enumerate(sizes):
        x = index * step if len(sizes) > 1 else width / 2
        y = height / 2 if high == low else height - (size - low) * height / (high - low)
        points.append(f"{x:.1f},{y:.1f}")
    return Chart(" ".join(points), width, height, low, high)


def segments_overview(segments: QuerySet[Segment], spark: int = SPARK) -> list[SegmentSizes]:
    """Each of ``segments`` (by name) with its member count now and its last ``spark``
    refreshes that found a size, oldest first."""
    rows = list(
        segments.annotate(member_total=Count("members"))
        .order_by("name", "pk")
        .select_related("programme")
    )
    by_id = {row.pk: SegmentSizes(row, row.member_total) for row in rows}
    recent = (
        SegmentRefresh.objects.filter(segment_id__in=list(by_id), size__isnull=False)
        .annotate(
            newest=Window(
                RowNumber(),
                partition_by=[F("segment_id")],
                order_by=[F("started_at").desc(), F("pk").desc()],
            )
        )
        .filter(newest__lte=spark)
        .order_by("segment_id", "started_at", "pk")
    )
    for refresh in recent:
        by_id[refresh.segment_id].refreshes.append(refresh)
    return list(by_id.values())


def segment_sizes(segment: Segment, limit: int = HISTORY) -> list[SegmentRefresh]:
    """The segment's last ``limit`` refreshes, failed ones included, newest first."""
    return list(
        SegmentRefresh.objects.filter(segment=segment)
        .select_related("user")
        .order_by("-started_at", "-pk")[:limit]
    )
