"""Scheduled and on-demand jobs of the customer base: thin wrappers over services, safe to
run twice. The nightly refresh of the rule segments is in django-celery-beat's schedule
(migration 0006), editable in the admin under "Periodic tasks"."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections, connection

from crm.errors import SegmentIsManual, SegmentRuleError
from crm.segments.refresh import segment_refresh, segments_refresh_all


def _fresh_connection() -> None:
    if not connection.in_atomic_block:
        close_old_connections()


@shared_task(name="crm.segments_refresh", acks_late=True, ignore_result=True)
def segments_refresh_task() -> dict[str, int]:
    """Refresh every rule segment (nightly)."""
    _fresh_connection()
    try:
        return segments_refresh_all()
    finally:
        _fresh_connection()


@shared_task(name="crm.segment_refresh", acks_late=True, ignore_result=True)
def segment_refresh_task(segment_id: int) -> int | None:
    """Refresh one rule segment on demand; returns its size (None when it failed: the error
    is kept on the segment)."""
    _fresh_connection()
    try:
        return segment_refresh(segment_id).size
    except (SegmentIsManual, SegmentRuleError):
        return None
    finally:
        _fresh_connection()
