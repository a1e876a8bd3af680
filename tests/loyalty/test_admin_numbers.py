"""Read-only amounts in the back office read like the list columns: the locale's decimal mark
and grouping, money with two places, points and quantities with as few places as they need
(never the column's four, never scientific notation)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.models import Receipt
from loyalty.templatetags import readable
from loyalty.templatetags.readable import zoned
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db


def _sell(world, receipt_id: str, quantity: str, price: str) -> None:
    """One confirmed purchase of product A on the world's card."""
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=world.card.number,
            lines=(PurchaseLine(1, "A", Decimal(quantity), Decimal(price)),),
        ),
    )


@pytest.fixture
def receipt_page(admin_client):
    world = coalition(percent="5")
    _sell(world, "BIG", "2", "1500.25")
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


def test_a_moment_on_the_receipt_names_its_zone(admin_client, receipt_page):
    receipt = Receipt.objects.get(receipt_id="BIG")
    zone = timezone.localtime(receipt.sold_at).tzname()

    html = admin_client.get(receipt_page).content.decode()

    assert zoned(receipt.sold_at, "DATETIME_FORMAT") in html
    assert zoned(receipt.sold_at, "DATETIME_FORMAT").endswith(f" {zone}")


def test_the_template_filters_follow_the_same_rule():
    moment = datetime(2026, 12, 7, 17, 20, tzinfo=UTC)

    assert readable.money(Decimal("1445.2")) == "1,445.20"
    assert readable.money(None) == "—"
    assert readable.number(Decimal("100.0000")) == "100"
    assert readable.number(Decimal("12.5000"), 2) == "12.50"
    assert readable.number("1E+2") == "100"
    assert readable.moment(moment, "j M H:i") == "7 Dec 20:20 MSK"  # Europe/Moscow
    with translation.override("ru"):
        assert readable.money(Decimal("1445.2")) == "1\xa0445,20"


def test_the_points_history_shows_balances_with_the_currency_s_places(admin_client):
    world = coalition(percent="5")
    _sell(world, "H1", "1", "1000.00")
    url = reverse("admin:crm_customer_points", args=[world.card.customer_id])

    html = admin_client.get(url).content.decode()

    assert ".0000" not in html
    assert "1,000.00" in html


def test_the_home_page_s_figures_are_in_the_page_s_language(admin_client):
    world = coalition(percent="5")
    _sell(world, "H2", "1", "30010.00")

    with translation.override("ru"):
        html = admin_client.get(reverse("admin:index"), headers={"accept-language": "ru"})
    running = html.content.decode().split('id="home-running"')[1].split("</table>")[0]

    assert "1\xa0500,5" in running  # 5 % of 30,010.00 in points
    assert "0,00" in running  # no discount
