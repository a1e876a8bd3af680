"""The bulk path: manage.py cards_import checks every row, then loads all (COPY) or nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from loyalty.models import Card, CardBatch
from loyalty.validators import luhn_check_digit
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CardBatchFactory, CardFactory

pytestmark = pytest.mark.django_db(transaction=False)


def luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


@pytest.fixture
def batch():
    return CardBatchFactory(code="BULK", check_digit=CardBatch.CheckDigit.LUHN)


def run(tmp_path, text: str, *args: str) -> tuple[str, str]:
    path = tmp_path / "cards.csv"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("cards_import", str(path), *args, stdout=out, stderr=err)
    finally:
        run.stderr = err.getvalue()
    return out.getvalue(), err.getvalue()


def test_numbers_only_file_loads_into_the_given_batch(tmp_path, batch):
    # given
    customer = CustomerFactory(phone="+79005554433")
    numbers = [luhn(f"4000{i:08d}") for i in range(1, 301)]
    text = "number,status,customer_phone\n" + "".join(f"{n},,\n" for n in numbers[:-1])
    text += f"{numbers[-1]},active,+7 900 555-44-33\n"

    # when
    out, _err = run(tmp_path, text, "--batch", "BULK")

    # then
    assert "300 cards imported" in out
    assert Card.objects.filter(batch=batch, programme=batch.programme).count() == 300
    last = Card.objects.get(number=numbers[-1])
    assert last.customer == customer
    assert last.activated_at is not None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("4000000000010,,,,\n", "row 2: The number 4000000000010 has a wrong check digit"),
        (
            f"{luhn('400000000001')},,,,\n{luhn('400000000001')},,,,\n",
            f"row 3: The number {luhn('400000000001')} is already on row 2 of this file.",
        ),
        (f"{luhn('400000000001')},NOPE,,,\n", "row 2: Unknown batch NOPE."),
        (f"{luhn('400000000001')},,,issued,+79001110000\n", "row 2: No customer has the phone"),
    ],
    ids=["check_digit", "duplicate_in_file", "unknown_batch", "unknown_phone"],
)
def test_row_errors_are_reported_and_nothing_is_written(tmp_path, batch, rows, message):
    good = f"{luhn('400000000099')},,,,\n"

    with pytest.raises(CommandError, match="nothing was imported"):
        run(
            tmp_path,
            "number,batch,card_type,status,customer_phone\n" + good + rows,
            "--batch",
            "BULK",
        )

    assert message in run.stderr
    assert Card.objects.count() == 0


def test_an_existing_number_fails_the_whole_file(tmp_path, batch):
    # given
    taken = CardFactory(number=luhn("400000000005"))
    numbers = [luhn(f"4000000000{i:02d}") for i in range(1, 11)]
    before = set(Card.objects.values_list("number", flat=True))

    # when
    with pytest.raises(CommandError, match="1 error"):
        run(tmp_path, "number\n" + "".join(f"{n}\n" for n in numbers), "--batch", "BULK")

    # then
    assert f"row 5: A card with the number {taken.number} already exists." in run.stderr
    assert set(Card.objects.values_list("number", flat=True)) == before


def test_dry_run_writes_nothing(tmp_path, batch):
    out, _err = run(tmp_path, f"number\n{luhn('400000000001')}\n", "--batch", "BULK", "--dry-run")

    assert "checked (dry run)" in out
    assert Card.objects.count() == 0


@pytest.mark.postgres
def test_postgres_path_uses_copy(tmp_path, batch, django_assert_max_num_queries):
    assert connection.vendor == "postgresql"
    numbers = [luhn(f"4100{i:08d}") for i in range(1, 2001)]

    with django_assert_max_num_queries(12):
        run(tmp_path, "number\n" + "".join(f"{n}\n" for n in numbers), "--batch", "BULK")

    assert Card.objects.filter(batch=batch).count() == 2000
