"""Every admin page of every registered model opens, empty and with a processed purchase."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from processing.refund import purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db
MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def purchase_made():
    world = coalition(percent="5")
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="R1",
            card=world.card.number,
            lines=(PurchaseLine(1, "A", Decimal("2"), Decimal("50.00")),),
        ),
    )
    purchase_refund(world.terminal, "R1", "F1", [(1, Decimal("1"))])
    return world


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_changelist_and_change_pages_open(model, admin_client, purchase_made):
    opts = model._meta
    response = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    obj = model._default_manager.first()
    if obj is not None:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert admin_client.get(url).status_code == 200
