"""The scheduled jobs (beat entries, idempotent runs) and the customer's history in the admin."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from loyalty.models import Account
from loyalty.tasks import holds_expire_task, lots_mature_task
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db


def confirm(world, receipt_id="R1", price="100.00"):
    return confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=world.card.number,
            lines=(PurchaseLine(1, "SKU", Decimal("1"), Decimal(price)),),
        ),
    )


def test_the_jobs_are_scheduled_in_the_database_and_editable():
    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert tasks["loyalty.lots_mature"] is True
    assert tasks["loyalty.holds_expire"] is True


def test_the_jobs_run_through_celery_and_twice_is_once(assert_ledger_consistent, monkeypatch):
    world = coalition(percent="10", activation_delay_days=1)
    confirm(world)
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr("loyalty.services.lots.timezone.now", lambda: later)
    lots_mature_task.apply()
    lots_mature_task.apply()
    holds_expire_task.apply()
    account = Account.objects.get(customer=world.customer, currency=world.currency)
    assert (account.balance, account.pending) == (Decimal("10.00"), Decimal("0.00"))
    assert_ledger_consistent()


def test_the_customer_history_shows_balances_receipts_and_entries(admin_client):
    world = coalition(percent="10")
    confirm(world, "CHECK-0042")
    url = reverse("admin:crm_customer_points", args=[world.customer.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "CHECK-0042" in page
    assert ">earn<" in page  # the ledger entry's kind, linked to its posting
    assert "10.00" in page
    change = admin_client.get(reverse("admin:crm_customer_change", args=[world.customer.pk]))
    assert url in change.content.decode()


def test_the_history_is_for_staff_only(client):
    world = coalition()
    response = client.get(reverse("admin:crm_customer_points", args=[world.customer.pk]))
    assert response.status_code == 302
