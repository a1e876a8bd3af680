"""The purchase body read without DRF (``purchase_fast``) against the DRF serializer.

Whatever the body, the fast reader either steps aside (``None``: the serializer decides) or
gives exactly what the serializer would: it may never accept a body the serializer refuses,
nor read a value differently. And it must take the common body, or it saves nothing.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing.api.serializers import (
    PurchaseCalculateSerializer,
    PurchaseSerializer,
    purchase_fast,
)
from processing.sale import PurchaseLine, PurchaseRequest

MAX_LINES = 20


def _drf(body, calculate: bool):
    serializer_class = PurchaseCalculateSerializer if calculate else PurchaseSerializer
    serializer = serializer_class(data=body, context={"max_lines": MAX_LINES})
    if not serializer.is_valid():
        return None
    return serializer.purchase_request(), serializer.validated_data.get("hold", False)


def _common(lines: int = 15, **extra) -> dict:
    body = {
        "receipt_id": "T1-000123",
        "card": "2900000000013",
        "lines": [
            {"line": n, "sku": f"4690000{n:06d}", "quantity": "1.250", "price": "89.90"}
            for n in range(1, lines + 1)
        ],
    }
    body.update(extra)
    return body


def test_the_common_bodies_are_read_as_drf_reads_them():
    for body, calculate in [
        (_common(), False),
        (_common(spend_points="max"), False),
        (_common(spend_points="50.00"), False),
        (_common(spend_points=50), False),
        (_common(hold=True), True),
        (_common(datetime="2026-03-08T13:45:00+07:00"), False),
        (_common(card=None), False),
        (_common(card=""), False),
        (_common(phone=None, coupons=[]), True),
        (_common(lines=1, receipt_id="x"), False),
        ({**_common(), "lines": [{"line": 7, "sku": "A", "quantity": 2, "price": 0}]}, False),
    ]:
        fast = purchase_fast(body, MAX_LINES, calculate=calculate)
        assert fast is not None, body
        assert fast == _drf(body, calculate)


def test_the_values_are_exact():
    request, hold = purchase_fast(_common(lines=1, spend_points="7.5"), MAX_LINES, calculate=True)
    assert hold is False
    assert request == PurchaseRequest(
        receipt_id="T1-000123",
        card="2900000000013",
        lines=(PurchaseLine(1, "4690000000001", Decimal("1.250"), Decimal("89.90")),),
        spend_points=Decimal("7.50"),
    )
    assert str(request.lines[0].quantity) == "1.250"
    assert str(request.spend_points) == "7.50"


def test_anything_unusual_is_left_to_drf():
    for body, calculate in [
        ([], False),
        (_common(hold=True), False),  # confirm has no hold: DRF ignores it, its messages rule
        (_common(receipt_id=" padded "), False),
        (_common(receipt_id=123), False),
        (_common(card=2900000000013), False),
        (_common(phone="+79001234567"), False),
        (_common(coupons=["SPRING"]), False),
        (_common(spend_points="MAX"), False),
        (_common(spend_points=1.5), False),
        (_common(hold="true"), True),
        (_common(lines=MAX_LINES + 1), False),
        (_common(lines=0), False),
        (_common(extra_field=1), False),
        ({**_common(), "lines": [{"line": 1, "sku": "Сыр", "quantity": "1", "price": "1"}]}, False),
        (
            {**_common(), "lines": [{"line": 1, "sku": "A", "quantity": "1.0000", "price": "1"}]},
            False,
        ),
        (
            {**_common(), "lines": [{"line": True, "sku": "A", "quantity": "1", "price": "1"}]},
            False,
        ),
    ]:
        assert purchase_fast(body, MAX_LINES, calculate=calculate) is None, body


_text = st.one_of(
    st.text(max_size=70),
    st.text(alphabet="AZaz09-_ .\x00\t", max_size=70),
    st.integers(-5, 10**14),
    st.none(),
    st.floats(allow_nan=True),
    st.booleans(),
)
_number = st.one_of(
    st.from_regex(r"\s?-?\d{0,14}(\.\d{0,4})?\s?", fullmatch=True),
    st.sampled_from(["1e3", "NaN", "Infinity", "0", "0.000", "0.001", "00012.50", "+5"]),
    st.integers(-10, 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=5),
)
_line = st.fixed_dictionaries(
    {
        "line": st.one_of(
            st.integers(-2, 2**31 + 2), st.booleans(), st.floats(), st.text(max_size=3)
        ),
        "sku": _text,
        "quantity": _number,
        "price": _number,
    },
    optional={"extra": st.integers()},
)
_body = st.fixed_dictionaries(
    {"lines": st.one_of(st.lists(_line, max_size=MAX_LINES + 2), _text)},
    optional={
        "receipt_id": _text,
        "card": _text,
        "phone": st.one_of(st.none(), st.just(""), st.just("+79001234567"), _text),
        "datetime": st.one_of(
            st.none(),
            st.sampled_from(
                ["2026-03-08T13:45:00+07:00", "2026-03-08T13:45:00", "2026-13-08T00:00:00Z", ""]
            ),
            _text,
        ),
        "spend_points": st.one_of(st.just("max"), _number),
        "coupons": st.one_of(st.just([]), st.lists(_text, max_size=2), _text),
        "hold": st.one_of(st.booleans(), _text),
        "other": st.integers(),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(_body, _text), calculate=st.booleans())
def test_the_fast_reader_never_disagrees_with_drf(body, calculate):
    fast = purchase_fast(body, MAX_LINES, calculate=calculate)
    if fast is not None:
        assert fast == _drf(body, calculate)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True),
            st.from_regex(r"\d{1,4}(\.\d{1,3})?", fullmatch=True),
            st.from_regex(r"\d{1,6}(\.\d{1,2})?", fullmatch=True),
        ),
        min_size=1,
        max_size=MAX_LINES,
    ),
    spend=st.one_of(st.none(), st.just("max"), st.from_regex(r"\d{1,5}\.\d{2}", fullmatch=True)),
)
def test_well_formed_bodies_take_the_fast_reader(lines, spend):
    body = {
        "receipt_id": "R-1",
        "card": "2900000000013",
        "lines": [
            {"line": n, "sku": sku, "quantity": q, "price": p}
            for n, (sku, q, p) in enumerate(lines, start=1)
        ],
        "spend_points": spend,
    }
    drf = _drf(body, False)
    fast = purchase_fast(body, MAX_LINES, calculate=False)
    if drf is None:  # a zero quantity: DRF refuses it, and so must the fast reader
        assert fast is None
    else:
        assert fast == drf
