"""Scheduled jobs of the contact centre: thin wrappers over services, safe to run twice.

Migration 0003 puts ``contactcenter.tickets_escalate`` in the beat schedule (every 5 minutes).
"""

from __future__ import annotations

from celery import shared_task

from contactcenter.services import tickets_escalate


@shared_task(name="contactcenter.tickets_escalate", acks_late=True, ignore_result=True)
def tickets_escalate_task() -> int:
    """Escalate tickets whose SLA deadline is within the margin or past (once per deadline)."""
    return tickets_escalate()
