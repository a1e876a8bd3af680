import pytest
from django.core.exceptions import ValidationError

from loyalty.validators import (
    ean13_check_digit,
    has_valid_check_digit,
    luhn_check_digit,
    tax_id_check_digits,
    validate_card_number,
    validate_tax_id,
    validate_timezone,
)


@pytest.mark.parametrize("tax_id", ["7707083893", "500100732259", tax_id_check_digits("540600001")])
def test_valid_tax_ids_pass(tax_id):
    validate_tax_id(tax_id)


@pytest.mark.parametrize(
    ("tax_id", "code"),
    [
        ("7707083894", "tax_id_checksum"),
        ("500100732258", "tax_id_checksum"),
        ("12345", "tax_id_length"),
        ("77070838ab", "tax_id_length"),
    ],
)
def test_invalid_tax_ids_are_rejected_with_a_code(tax_id, code):
    with pytest.raises(ValidationError) as error:
        validate_tax_id(tax_id)
    assert error.value.code == code


def test_check_digits():
    assert ean13_check_digit("460123456789") == "3"
    assert has_valid_check_digit("4601234567893", "ean13")
    assert not has_valid_check_digit("4601234567892", "ean13")
    assert luhn_check_digit("7992739871") == "3"
    assert has_valid_check_digit("79927398713", "luhn")
    assert not has_valid_check_digit("79927398710", "luhn")
    assert has_valid_check_digit("ANYTHING", "none")
    with pytest.raises(ValueError, match="unknown"):
        has_valid_check_digit("123", "mod97")


def test_timezone_and_card_number_validators():
    validate_timezone("Asia/Novosibirsk")
    with pytest.raises(ValidationError):
        validate_timezone("Mars/Olympus")
    validate_card_number("2700000000017")
    for bad in ["27", "2700 0000", "abc123", "X" * 33]:
        with pytest.raises(ValidationError):
            validate_card_number(bad)
