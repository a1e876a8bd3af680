"""What the marketer types: lines with a decimal comma in Russian, numbers shown with the
locale's separators and never in scientific notation, and every unhappy path (an unknown SKU,
a malformed line, a misused comma, an unknown card, a date in an invalid format) answered with
a clear error, writing nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from loyalty.models import Receipt
from processing.sale import PurchaseLine, PurchaseRequest
from processing.simulator import parse_lines, receipt_lines_text, simulate
from tests.factories.loyalty import PartnerFactory, ProductFactory
from tests.processing.answers import confirm_answer
from tests.processing.simulated import line, rows_written, world_with_products

pytestmark = pytest.mark.django_db
D = Decimal
URL = "admin:promotions_promotion_simulator"


@pytest.fixture
def world():
    return world_with_products()


def _messages(text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_lines(text)
    return caught.value.messages


def test_russian_takes_a_decimal_comma_and_a_point():
    with translation.override("ru"):
        lines = parse_lines("A 2 89,90\nB 1,5 10.5")
    assert lines == [
        PurchaseLine(1, "A", D("2"), D("89.90")),
        PurchaseLine(2, "B", D("1.5"), D("10.5")),
    ]


def test_english_refuses_a_comma_and_names_the_fix():
    assert _messages("A 2 89,90") == [
        "Line 1: “89,90”: write the decimals after a point, e.g. 89.90."
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A 2 1,234.50", "Line 1: “1,234.50” is not a number such as 89.90."),
        ("A 2 89,9,0", "Line 1: “89,9,0” is not a number such as 89.90."),
        ("A 1E+2 5", "Line 1: “1E+2” is not a number such as 89.90."),
        ("A 2 89.999", "Line 1: “89.999” has more than 2 decimals."),
        ("A 2", "Line 1: write SKU, quantity and price, e.g. “A-1 2 89.90”."),
        ("A 0 1.00", "Line 1: the quantity must be above 0 and the price not negative."),
    ],
)
def test_a_misused_comma_or_a_malformed_line_is_named(text, message):
    # read in Russian, where a comma is a decimal separator (the sentences are compared in
    # English, the language they are written in)
    with translation.override("ru"):
        with pytest.raises(ValidationError):
            parse_lines(text)
    assert _messages(text) == [message]


def test_numbers_are_shown_with_the_locales_separators_never_in_scientific_notation(world):
    with translation.override("ru"):
        simulation = simulate(terminal=world.terminal, lines=[line(1, "A", "10", "1000.00")])
    row = simulation.lines[0]
    # 10 x 1 000,00 = 10 000,00 with Russia's (non-breaking) space between thousands
    assert row["quantity"] == "10"
    assert row["amount"].replace("\xa0", " ") == "10 000,00"
    assert simulation.totals["total"].replace("\xa0", " ") == "10 000,00"
    confirm_answer(
        world.terminal,
        PurchaseRequest(receipt_id="TEN", card=world.card.number, lines=(line(1, "A", "10", "1"),)),
    )
    assert receipt_lines_text(Receipt.objects.get(receipt_id="TEN")) == "A 10 1.00"


def _post(client, world, **fields):
    data = {"terminal": world.terminal.pk, "lines": "A 2 89.90", "spend_points": ""}
    data.update(fields)
    return client.post(reverse(URL), data).content.decode()


def test_each_unhappy_path_answers_a_clear_error_and_writes_nothing(world, admin_client):
    before = rows_written()
    cases = {
        "no product of the catalogue has the SKU “ZZZ”": {"lines": "A 1 1.00\nZZZ 1 5.00"},
        "write SKU, quantity and price": {"lines": "A 2"},
        "write the decimals after a point": {"lines": "A 2 89,90"},
        "Enter a valid date/time.": {"sold_at": "2025-13-45T10:00"},
        "Enter a valid date.": {"occasion": "date", "occasion_date": "31.02.2025"},
    }
    for message, fields in cases.items():
        content = _post(admin_client, world, **fields)
        assert message in content, message
        assert 'id="simulation-totals"' not in content
    unknown_card = _post(admin_client, world, card="0000000000000")
    assert 'class="errornote"' in unknown_card
    assert "0000000000000" in unknown_card
    assert 'id="simulation-totals"' not in unknown_card
    assert rows_written() == before


def test_an_unknown_sku_is_simulated_when_asked_and_a_past_receipt_asks(world, admin_client):
    content = _post(admin_client, world, lines="ZZZ 1 5.00", allow_unknown="on")
    assert 'id="simulation-totals"' in content
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="OLD", card=world.card.number, lines=(line(1, "ZZZ", "1", "5"),)
        ),
    )
    past = Receipt.objects.get(receipt_id="OLD")
    loaded = admin_client.get(reverse(URL), {"receipt": past.pk}).content.decode()
    assert re.search(r'<input type="checkbox" name="allow_unknown"[^>]*checked', loaded)


def test_the_product_picker_finds_by_sku_or_name_within_the_partners_catalogue(world, admin_client):
    ProductFactory(sku="LEMON-2", name="Lemon cake", partner=PartnerFactory())
    url = reverse("admin:promotions_promotion_simulator_products")
    by_name = admin_client.get(url, {"q": "lemon", "terminal": world.terminal.pk}).json()
    assert by_name["products"] == [{"sku": "A", "name": "Lemonade"}]  # not another partner's
    by_sku = admin_client.get(url, {"q": "b", "terminal": world.terminal.pk}).json()
    assert {"sku": "B", "name": "Bed"} in by_sku["products"]
    page = admin_client.get(reverse(URL)).content.decode()
    assert 'id="product-search"' in page
    assert 'list="product-options"' in page
    shown = _post(admin_client, world, lines="A 2 89.90\nB 1 40.00")
    assert "Lemonade" in shown
    assert "Bed" in shown
