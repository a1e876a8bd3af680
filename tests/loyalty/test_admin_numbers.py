"""Read-only amounts in the back office read like the list columns: the locale's decimal mark
and grouping, money with two places, points and quantities with as few places as they need
(never the column's four, never scientific notation)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from loyalty.models import Receipt
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipt_page(admin_client):
    world = coalition(percent="5")
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="BIG",
            card=world.card.number,
            lines=(PurchaseLine(1, "A", Decimal("2"), Decimal("1500.25")),),
        ),
    )
    receipt = Receipt.objects.get(receipt_id="BIG")
    return reverse("admin:loyalty_receipt_change", args=[receipt.pk])


def _cells(html: str, css_class: str) -> list[str]:

    pattern = rf'<td class="[^"]*field-{css_class}\b.*?<div class="readonly[^"]*">\s*([^<]*?)\s*<'
    return re.findall(pattern, html, re.DOTALL)


def test_the_receipt_s_lines_read_in_english(admin_client, receipt_page):
    html = admin_client.get(receipt_page).content.decode()

    assert _cells(html, "amount") == ["3,000.50"]
    assert _cells(html, "quantity") == ["2"]  # not 2.000
    assert _cells(html, "points_earned") == ["150.03"]  # 5 % of 3,000.50, not 150.0250
    assert "E+" not in html


def test_the_receipt_s_lines_read_in_russian(admin_client, receipt_page):
    with translation.override("ru"):
        html = admin_client.get(receipt_page, headers={"accept-language": "ru"}).content.decode()

    assert _cells(html, "amount") == ["3\xa0000,50"]
    assert _cells(html, "quantity") == ["2"]
