"""Scheduled jobs of the processing core. Thin wrappers over services; safe to run twice or
concurrently with purchases (every account is locked, and what is done is no longer due).

The schedule lives in django-celery-beat's tables (editable in the admin under "Periodic
tasks"); migrations 0004, 0009 and 0011 create the default entries.
"""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections, connection

from crm.services.duplicates import duplicates_find
from loyalty.rfm.compute import rfm_recompute_all
from loyalty.services.card_operations import merged_leftovers_sweep
from loyalty.services.favourites import favourites_recompute
from loyalty.services.import_jobs import import_job_run_by_id
from loyalty.services.ledger import ledger_rollup
from loyalty.services.lots import holds_expire, lots_mature
from loyalty.services.tiers import tiers_review


def _fresh_connection() -> None:
    """Drop a connection the database closed meanwhile (not inside a caller's transaction,
    which is where an eagerly run task finds itself)."""
    if not connection.in_atomic_block:
        close_old_connections()


@shared_task(name="loyalty.lots_mature", acks_late=True, ignore_result=True)
def lots_mature_task(batch: int = 500) -> dict[str, int]:
    """Activate pending points whose day has come and expire lots at their end."""
    _fresh_connection()
    try:
        return lots_mature(batch=batch)
    finally:
        _fresh_connection()


@shared_task(name="loyalty.holds_expire", acks_late=True, ignore_result=True)
def holds_expire_task() -> int:
    """Give back the points of holds that calculate made and no confirm consumed in time."""
    _fresh_connection()
    try:
        return holds_expire()
    finally:
        _fresh_connection()


@shared_task(name="loyalty.ledger_rollup", ignore_result=True)
def ledger_rollup_task() -> int:
    """Refresh the cached balances of partner and programme accounts from their entries."""
    _fresh_connection()
    try:
        return ledger_rollup()
    finally:
        _fresh_connection()


@shared_task(name="loyalty.tiers_review", acks_late=True, ignore_result=True)
def tiers_review_task(batch: int = 500) -> dict[str, int]:
    """Lower the tiers of customers who bought nothing, or too little, in the review period."""
    _fresh_connection()
    try:
        return tiers_review(batch=batch)
    finally:
        _fresh_connection()


@shared_task(name="loyalty.favourites_recompute", acks_late=True, ignore_result=True)
def favourites_recompute_task() -> dict[str, int]:
    """Rank each customer's favourite products anew from the programme's window of purchases."""
    _fresh_connection()
    try:
        return favourites_recompute()
    finally:
        _fresh_connection()


@shared_task(name="loyalty.import_job_run", acks_late=True, ignore_result=True)
def import_job_run_task(label: str, job_id: int) -> None:
    """Run the queued stage of an import job (``loyalty.CardImport`` or ``loyalty.DataImport``):
    a second delivery finds it no longer queued and does nothing."""
    _fresh_connection()
    try:
        import_job_run_by_id(label, job_id)
    finally:
        _fresh_connection()


@shared_task(name="loyalty.card_import_run", acks_late=True, ignore_result=True)
def card_import_run_task(card_import_id: int) -> None:
    """A card import queued before ``import_job_run`` existed (drains old queues)."""
    import_job_run_task("loyalty.CardImport", card_import_id)


@shared_task(name="loyalty.data_import_run", acks_late=True, ignore_result=True)
def data_import_run_task(data_import_id: int) -> None:
    """A product or store import queued before ``import_job_run`` existed."""
    import_job_run_task("loyalty.DataImport", data_import_id)


@shared_task(name="loyalty.merged_leftovers_sweep", acks_late=True, ignore_result=True)
def merged_leftovers_sweep_task() -> int:
    """Move points that reached a merged customer after the merge on to the kept customer."""
    _fresh_connection()
    try:
        return merged_leftovers_sweep()
    finally:
        _fresh_connection()


@shared_task(name="loyalty.certificates_expire", acks_late=True, ignore_result=True)
def certificates_expire_task(batch: int = 500) -> int:
    """Burn the balance of gift certificates whose end has come (idempotent)."""
    from loyalty.services.certificates import certificates_expire

    return certificates_expire(batch=batch)


@shared_task(name="loyalty.duplicates_find", acks_late=True, ignore_result=True)
def duplicates_find_task() -> dict[str, int]:
    """Suggest the customers who are probably one person (nightly; safe to run twice)."""
    _fresh_connection()
    try:
        found = duplicates_find()
        return {"pairs": found.pairs, "new": found.new, "obsolete": found.obsolete}
    finally:
        _fresh_connection()


@shared_task(name="loyalty.rfm_recompute_all", acks_late=True, ignore_result=True)
def rfm_recompute_all_task() -> dict[str, int]:
    """Recompute every active RFM scheme and refresh the segments reading it (nightly)."""
    _fresh_connection()
    try:
        return rfm_recompute_all()
    finally:
        _fresh_connection()


@shared_task(name="loyalty.rfm_recompute", acks_late=True, ignore_result=True)
def rfm_recompute_task(scheme_id: int, user_id: int | None = None) -> int | None:
    """Recompute one RFM scheme on demand (the admin's "Recompute now" with a broker) and
    refresh the segments reading it; returns the customers scored (None when its cells are
    invalid: nothing is written)."""
    from loyalty.errors import RfmCellsInvalid
    from loyalty.models import RfmRun
    from loyalty.rfm.compute import rfm_recompute
    from loyalty.rfm.segments import rfm_segments_refresh

    _fresh_connection()
    try:
        run = rfm_recompute(
            scheme_id, trigger=RfmRun.Trigger.STAFF, user=user_id and _user(user_id)
        )
        rfm_segments_refresh(scheme_id)
        return run.size
    except RfmCellsInvalid:
        return None
    finally:
        _fresh_connection()


def _user(user_id: int):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first()
