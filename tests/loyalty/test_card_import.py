"""Card batch import through the admin (an import job: check, summary, confirm) and the row
checks (through the django-import-export resource).

Each error has its own file, built here. ``admin_client`` is pytest-django's logged-in superuser.
"""

from __future__ import annotations

import io

import openpyxl
import pytest
import tablib

from loyalty.models import Card, CardBatch
from loyalty.resources import CardResource
from loyalty.validators import luhn_check_digit
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CardBatchFactory, CardFactory
from tests.loyalty.imports_helpers import confirm as press_import
from tests.loyalty.imports_helpers import preview as upload
from tests.loyalty.imports_helpers import summary

pytestmark = pytest.mark.django_db

HEADER = "number,batch,card_type,status,customer_phone\n"
CSV_FORMAT = "0"
XLSX_FORMAT = "1"


def luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


@pytest.fixture
def batch():
    return CardBatchFactory(code="B1", check_digit=CardBatch.CheckDigit.LUHN, prefix="7777")


def preview(client, text: str, *, name: str = "cards.csv", fmt: str = CSV_FORMAT, data=None):
    return upload(client, "card", data if data is not None else text.encode(), name=name)


def confirm(client, response):
    return press_import(client, "card", response)


def dry_run(text: str):
    dataset = tablib.Dataset().load(text, format="csv")
    return CardResource().import_data(dataset, dry_run=True, use_transactions=True)


def row_errors(result) -> dict[int, list[str]]:
    return {
        row.number: [m for messages in row.error_dict.values() for m in messages]
        for row in result.invalid_rows
    }


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_the_check_counts_the_rows_and_confirm_creates_the_cards(admin_client, batch):
    # given
    customer = CustomerFactory(phone="+79001112233")
    first, second = luhn("777700000001"), luhn("777700000002")
    text = HEADER + f"{first},B1,loyalty,new,\n{second},B1,gift,issued,8 900 111-22-33\n"

    # when
    response = preview(admin_client, text)

    # then
    assert response.status_code == 200
    assert summary(response) == "2 rows: 2 new, 0 errors"
    assert Card.objects.count() == 0

    # when
    confirm(admin_client, response)

    # then
    card = Card.objects.get(number=second)
    assert card.customer == customer
    assert card.status == Card.Status.ISSUED
    assert card.card_type == "gift"
    assert card.batch == batch
    assert card.programme == batch.programme
    assert card.issued_at is not None
    assert Card.objects.get(number=first).customer is None


def test_xlsx_file_imports_with_numeric_cells(admin_client, batch):
    # given
    number = luhn("777700000003")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["number", "batch", "card_type", "status", "customer_phone"])
    sheet.append([int(number), "B1", "loyalty", "active", None])
    buffer = io.BytesIO()
    book.save(buffer)

    # when
    response = preview(admin_client, "", name="cards.xlsx", fmt=XLSX_FORMAT, data=buffer.getvalue())
    confirm(admin_client, response)

    # then
    card = Card.objects.get(number=number)
    assert card.status == Card.Status.ACTIVE
    assert card.activated_at is not None


def test_bad_check_digit_names_the_row(batch):
    good = luhn("777700000001")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)

    result = dry_run(HEADER + f"{good},B1,,,\n{bad},B1,,,\n")

    assert row_errors(result) == {2: [f"The number {bad} has a wrong check digit (Luhn (mod 10))."]}


def test_batch_without_check_digit_accepts_any_number():
    CardBatchFactory(code="PLAIN", check_digit=CardBatch.CheckDigit.NONE)

    result = dry_run(HEADER + "123456789,PLAIN,,,\n")

    assert not result.has_validation_errors()


def test_duplicate_number_inside_the_file(batch):
    number = luhn("777700000001")

    result = dry_run(HEADER + f"{number},B1,,,\n{luhn('777700000002')},B1,,,\n{number},B1,,,\n")

    assert row_errors(result) == {3: [f"The number {number} is already on row 1 of this file."]}


def test_card_already_exists(batch):
    existing = CardFactory(number=luhn("777700000009"))

    result = dry_run(HEADER + f"{existing.number},B1,,,\n")

    assert row_errors(result) == {1: [f"A card with the number {existing.number} already exists."]}


def test_unknown_customer_phone(batch):
    number = luhn("777700000001")

    result = dry_run(HEADER + f"{number},B1,loyalty,issued,+79009999999\n")

    assert row_errors(result) == {1: ["No customer has the phone +79009999999."]}


def test_unknown_batch():
    result = dry_run(HEADER + "1234567890,NOPE,,,\n")

    assert row_errors(result) == {1: ["Unknown batch NOPE."]}


def test_unknown_status_and_type_and_new_card_with_customer(batch):
    CustomerFactory(phone="+79001112233")
    one, two = luhn("777700000001"), luhn("777700000002")

    result = dry_run(HEADER + f"{one},B1,paper,replaced,\n{two},B1,,new,+79001112233\n")

    errors = row_errors(result)
    assert errors[1] == [
        "Unknown card type paper: use one of loyalty, gift.",
        "The status replaced cannot be imported: use one of active, blocked, issued, lost, new.",
    ]
    assert errors[2] == ["A new card cannot have a customer: give it the status issued."]


def test_the_check_names_the_bad_row_and_its_reason_and_writes_nothing(admin_client, batch):
    bad = "7777000000010"  # wrong Luhn digit
    text = HEADER + f"{luhn('777700000001')},B1,,,\n{bad},B1,,,\n"
    assert not Card.objects.filter(number=bad).exists()

    response = preview(admin_client, text)

    page = response.content.decode()
    assert summary(response) == "2 rows: 1 new, 1 error"
    assert "wrong check digit" in page
    assert bad in page
    assert Card.objects.count() == 0


def test_failed_import_leaves_the_database_unchanged(batch):
    # given: one existing card and a file with good rows around one bad row
    CardFactory(number=luhn("777700000009"))
    before = list(Card.objects.values_list("number", "status").order_by("number"))
    rows = [f"{luhn(f'7777000001{i:02d}')},B1,,,\n" for i in range(5)]
    rows.insert(3, f"{luhn('777700000001')},B1,,,+79000000000\n")
    dataset = tablib.Dataset().load(HEADER + "".join(rows), format="csv")

    # when: a real (not dry) run, as confirm does
    result = CardResource().import_data(
        dataset, dry_run=False, use_transactions=True, rollback_on_validation_errors=True
    )

    # then
    assert result.has_validation_errors()
    assert list(Card.objects.values_list("number", "status").order_by("number")) == before


def test_import_messages_are_translated_to_russian(batch):
    from django.utils import translation

    with translation.override("ru"):
        result = dry_run(HEADER + "1234567890,NOPE,,,\n")

    assert row_errors(result)[1] == ["Неизвестная партия NOPE."]
