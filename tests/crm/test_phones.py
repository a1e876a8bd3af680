"""Phone numbers: any notation in, E.164 stored; masked wherever a list shows them."""

import pytest
from django.core.exceptions import ValidationError

from crm.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["8 900 123-45-67", "+7 (900) 123-45-67", "79001234567", "+79001234567", " 8(900)1234567 "],
)
def test_notations_of_one_number_normalise_to_e164(raw):
    # when
    phone = normalize_phone(raw)
    # then
    assert phone == "+79001234567"


def test_foreign_numbers_keep_their_country():
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "hello",
        "12345",
        "8 900 123",
        "+7 900 123",
        "8 000 000-00-00",
        "+7 900 123 45 67 89",
    ],
)
def test_garbage_and_wrong_lengths_are_rejected(raw):
    # when
    with pytest.raises(ValidationError) as error:
        normalize_phone(raw)
    # then
    assert error.value.code == "invalid_phone"


def test_masking_keeps_the_operator_code_and_the_last_two_digits():
    assert mask_phone("+79001234567") == "+7900***-**-67"
    assert mask_phone("+442079460958") == "+4420***-**-58"
    assert mask_phone("") == ""
