from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.money import allocate, line_amount, quantize


def test_quantize_rounds_half_up_not_half_even():
    # given a value exactly half-way (half-even would give 1.00)
    # when / then
    assert quantize(Decimal("1.005")) == Decimal("1.01")
    assert quantize(Decimal("4.9995")) == Decimal("5.00")
    assert quantize(Decimal("-1.005")) == Decimal("-1.01")


def test_line_amount_is_quantity_times_price_rounded_to_kopecks():
    assert line_amount(Decimal("0.350"), Decimal("199.99")) == Decimal("70.00")
    assert line_amount(Decimal("2"), Decimal("89.90")) == Decimal("179.80")


def test_allocate_gives_ties_to_the_earlier_line():
    assert allocate(Decimal("0.01"), [Decimal("1"), Decimal("1")]) == [
        Decimal("0.01"),
        Decimal("0.00"),
    ]
    assert allocate(Decimal("0.02"), [Decimal("1"), Decimal("1"), Decimal("1")]) == [
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.00"),
    ]


def test_allocate_spreads_by_largest_remainder():
    # 300.00 over 179.80 and 15990.00 as in pos-api.md
    parts = allocate(Decimal("300.00"), [Decimal("179.80"), Decimal("15990.00")])
    assert parts == [Decimal("3.34"), Decimal("296.66")]
    assert sum(parts) == Decimal("300.00")


def test_allocate_refuses_bad_input():
    with pytest.raises(ValueError, match="decimal places"):
        allocate(Decimal("1.001"), [Decimal("1")])
    with pytest.raises(ValueError, match="negative"):
        allocate(Decimal("1.00"), [Decimal("-1")])
    with pytest.raises(ValueError, match="zero weights"):
        allocate(Decimal("1.00"), [Decimal("0")])
    assert allocate(Decimal("0.00"), []) == []


amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)


@given(total=amounts, weights=st.lists(amounts, min_size=1, max_size=30))
def test_allocate_parts_sum_to_total_and_are_never_negative(total, weights):
    if sum(weights) == 0:
        weights = [*weights[:-1], Decimal("1")]
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(part >= 0 for part in parts)
    assert all(quantize(part) == part for part in parts)
    # no part is more than one kopeck away from its exact share
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * weight / weight_sum) < Decimal("0.01")
