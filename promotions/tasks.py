"""Scheduled jobs of the promotions (the schedule is in django-celery-beat's tables)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from promotions.draws import draws_run_due
from promotions.usage import usage_prune


@shared_task(name="promotions.usage_prune", ignore_result=True)
def usage_prune_task(keep_days: int = 2) -> int:
    """Drop the per-day usage rows of days gone (a day is kept a little longer than it lasts
    anywhere, for receipts confirmed just after midnight and time zones ahead)."""
    return usage_prune(timezone.now().date() - timedelta(days=keep_days))


@shared_task(name="promotions.lifecycle_dates", ignore_result=True)
def lifecycle_dates_task() -> dict[str, int]:
    """Reward the customers' dates due since the last run (idempotent; catches up)."""
    from promotions.lifecycle import lifecycle_dates_run

    return lifecycle_dates_run()


@shared_task(name="promotions.draws_run", acks_late=True, ignore_result=True)
def draws_run_task() -> dict[str, int]:
    """Run the scheduled prize draws whose period has ended (each at most once)."""
    return draws_run_due()


@shared_task(name="promotions.coupon_grants_issue", ignore_result=True)
def coupon_grants_issue_task() -> int:
    """Issue the coupons earned before their series existed."""
    from promotions.coupons import coupon_grants_issue

    return coupon_grants_issue()
