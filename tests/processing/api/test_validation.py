"""The shape of a purchase, refund and offline body, as pos-api.md states it: each bad input is a
clear 400 naming the field by its dotted path, and nothing is written."""

from __future__ import annotations

import pytest

from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db

CONFIRM = API + "purchases/confirm"
CALCULATE = API + "purchases/calculate"
REFUND = API + "purchases/refund"


def _line(no=1, sku="SKU-1", quantity="1", price="100.00", **extra):
    return {"line": no, "sku": sku, "quantity": quantity, "price": price, **extra}


def _refused(client, body, path: str, url=CONFIRM, code="invalid_request") -> list[str]:
    data = assert_problem(client.post(url, body, format="json"), 400, code)
    assert path in data["errors"], data["errors"]
    return data["errors"][path]


@pytest.fixture
def nothing_written(world, client, row_counts):
    before = row_counts()
    yield
    assert row_counts() == before


@pytest.mark.usefixtures("nothing_written")
class TestPurchaseBody:
    def test_a_naive_datetime_is_refused_with_a_clear_message(self, world, client):
        body = purchase_body(world, datetime="2026-03-08T13:45:00")
        (message,) = _refused(client, body, "datetime")
        assert "offset" in message

    @pytest.mark.parametrize("value", ["2026-03-08", "yesterday", "2026-02-30T10:00:00+03:00", 5])
    def test_a_datetime_that_is_not_iso_8601_is_refused(self, world, client, value):
        _refused(client, purchase_body(world, datetime=value), "datetime")

    def test_a_datetime_beyond_the_calendar_is_refused(self, world, client):
        _refused(client, purchase_body(world, datetime="9999-12-31T23:59:59-12:00"), "datetime")

    def test_a_float_price_is_refused_with_a_clear_message(self, world, client):
        body = purchase_body(world, lines=[_line(price=89.9)])
        (message,) = _refused(client, body, "lines.0.price")
        assert "decimal string" in message

    def test_a_float_quantity_and_spend_are_refused(self, world, client):
        _refused(client, purchase_body(world, lines=[_line(quantity=0.35)]), "lines.0.quantity")
        _refused(client, purchase_body(world, spend_points=10.5), "spend_points")

    def test_integers_are_accepted_for_money_and_quantities(self, world, client):
        body = purchase_body(world, lines=[_line(quantity=2, price=100)], spend_points=0)
        assert client.post(CALCULATE, body, format="json").status_code == 200

    def test_a_price_with_three_decimal_places_is_refused(self, world, client):
        (message,) = _refused(
            client, purchase_body(world, lines=[_line(price="89.905")]), "lines.0.price"
        )
        assert "2 decimal places" in message

    def test_a_negative_price_is_refused(self, world, client):
        _refused(client, purchase_body(world, lines=[_line(price="-1.00")]), "lines.0.price")

    def test_a_zero_price_is_a_valid_line(self, world, client):
        body = purchase_body(world, lines=[_line(price="0")])
        assert client.post(CALCULATE, body, format="json").status_code == 200

    @pytest.mark.parametrize("quantity", ["0", "-1", "0.000"])
    def test_a_zero_or_negative_quantity_is_refused(self, world, client, quantity):
        _refused(client, purchase_body(world, lines=[_line(quantity=quantity)]), "lines.0.quantity")

    def test_a_quantity_with_four_decimal_places_is_refused(self, world, client):
        _refused(client, purchase_body(world, lines=[_line(quantity="0.3505")]), "lines.0.quantity")

    @pytest.mark.parametrize("value", ["abc", "1,5", "NaN", "Infinity", "", True, [], {}])
    def test_a_malformed_decimal_is_refused(self, world, client, value):
        _refused(client, purchase_body(world, lines=[_line(price=value)]), "lines.0.price")

    def test_duplicate_line_numbers_are_refused_at_the_repeat(self, world, client):
        lines = [_line(1), _line(2), _line(1, sku="OTHER")]
        (message,) = _refused(client, purchase_body(world, lines=lines), "lines.2.line")
        assert "1" in message

    def test_errors_of_several_lines_are_all_named(self, world, client):
        lines = [_line(1, price="-1"), _line(2), _line(3, quantity="0", sku="")]
        data = assert_problem(
            client.post(CONFIRM, purchase_body(world, lines=lines), format="json"),
            400,
            "invalid_request",
        )
        assert set(data["errors"]) == {"lines.0.price", "lines.2.quantity", "lines.2.sku"}

    def test_more_lines_than_the_programme_allows_is_too_many_lines(self, world, client):
        world.programme.max_receipt_lines = 3
        world.programme.save(update_fields=["max_receipt_lines"])
        lines = [_line(no) for no in range(1, 5)]
        data = assert_problem(
            client.post(CONFIRM, purchase_body(world, lines=lines), format="json"),
            400,
            "too_many_lines",
        )
        assert data["errors"]["lines"] == ["A receipt has at most 3 lines; this one has 4."]
        assert data["detail"] == data["errors"]["lines"][0]

    def test_the_default_maximum_is_1000_lines(self, world, client):
        lines = [_line(no) for no in range(1, 1002)]
        assert_problem(
            client.post(CONFIRM, purchase_body(world, lines=lines), format="json"),
            400,
            "too_many_lines",
        )

    def test_1000_lines_are_accepted(self, world, client):
        lines = [_line(no, price="1.00") for no in range(1, 1001)]
        response = client.post(CALCULATE, purchase_body(world, lines=lines), format="json")
        assert response.status_code == 200
        assert len(response.json()["lines"]) == 1000

    @pytest.mark.parametrize("lines", [[], "1", {"line": 1}, [1, 2], None])
    def test_lines_must_be_a_non_empty_list_of_objects(self, world, client, lines):
        data = assert_problem(
            client.post(CONFIRM, purchase_body(world, lines=lines), format="json"),
            400,
            "invalid_request",
        )
        assert any(path.startswith("lines") for path in data["errors"])

    def test_a_missing_line_field_is_named(self, world, client):
        line = _line()
        del line["sku"]
        _refused(client, purchase_body(world, lines=[line]), "lines.0.sku")

    @pytest.mark.parametrize("receipt_id", ["", "x" * 65, None, 42.5, ["a"]])
    def test_the_receipt_id_has_1_to_64_characters(self, world, client, receipt_id):
        _refused(client, purchase_body(world, receipt_id=receipt_id), "receipt_id")

    def test_a_missing_receipt_id_is_named(self, world, client):
        body = purchase_body(world)
        del body["receipt_id"]
        _refused(client, body, "receipt_id")

    def test_card_and_phone_together_are_refused(self, world, client):
        _refused(client, purchase_body(world, phone=world.customer.phone), "card")

    def test_a_phone_that_is_no_phone_number_is_refused(self, world, client):
        _refused(client, purchase_body(world, card=None, phone="12"), "phone")

    @pytest.mark.parametrize("spend", ["-1", "1.001", "lots", 1.5])
    def test_spend_points_is_a_decimal_string_or_max(self, world, client, spend):
        _refused(client, purchase_body(world, spend_points=spend), "spend_points")

    def test_coupons_are_a_list_of_strings(self, world, client):
        _refused(client, purchase_body(world, coupons="SPRING"), "coupons")
        _refused(client, purchase_body(world, coupons=[{"code": 1}]), "coupons.0")

    def test_a_line_amount_beyond_any_real_sale_is_refused(self, world, client):
        body = purchase_body(
            world, lines=[_line(quantity="999999999999.999", price="999999999999.99")]
        )
        _refused(client, body, "lines.0")

    def test_a_receipt_total_beyond_any_real_sale_is_refused(self, world, client):
        lines = [_line(no, price="999999999999.00") for no in (1, 2)]
        _refused(client, purchase_body(world, lines=lines), "lines")

    def test_a_nul_byte_in_a_string_is_refused(self, world, client):
        _refused(client, purchase_body(world, receipt_id="R\x001"), "receipt_id")
        _refused(client, purchase_body(world, lines=[_line(sku="A\x00B")]), "lines.0.sku")


def test_unknown_fields_are_ignored(world, client):
    body = purchase_body(world, cashier="Olga", lines=[_line(discount_hint="5%")])
    response = client.post(CALCULATE, body, format="json")
    assert response.status_code == 200
    assert "cashier" not in response.json()


def test_spend_points_max_and_an_amount_are_accepted(world, client):
    for spend in ("max", "MAX", "300.00", "0"):
        response = client.post(CALCULATE, purchase_body(world, spend_points=spend), format="json")
        assert response.status_code == 200, (spend, response.content)


def test_a_receipt_without_card_or_phone_is_anonymous(world, client):
    response = client.post(CALCULATE, purchase_body(world, card=None), format="json")
    assert response.status_code == 200
    assert response.json()["customer"] is None


def test_a_blank_card_means_no_card(world, client):
    response = client.post(CALCULATE, purchase_body(world, card=""), format="json")
    assert response.status_code == 200
    assert response.json()["customer"] is None


@pytest.mark.usefixtures("nothing_written")
class TestRefundBody:
    def test_a_refund_needs_receipt_and_refund_ids(self, client):
        data = assert_problem(
            client.post(REFUND, {"lines": None}, format="json"), 400, "invalid_request"
        )
        assert {"receipt_id", "refund_id"} <= set(data["errors"])

    def test_refund_lines_are_validated_like_purchase_lines(self, client):
        body = {
            "receipt_id": "R1",
            "refund_id": "RF1",
            "lines": [{"line": 1, "quantity": "0"}, {"line": 0, "quantity": 1.5}],
        }
        data = assert_problem(client.post(REFUND, body, format="json"), 400, "invalid_request")
        assert set(data["errors"]) == {"lines.0.quantity", "lines.1.line", "lines.1.quantity"}

    def test_a_refund_naming_a_line_twice_is_refused(self, client):
        body = {
            "receipt_id": "R1",
            "refund_id": "RF1",
            "lines": [{"line": 1, "quantity": "1"}, {"line": 1, "quantity": "1"}],
        }
        _refused(client, body, "lines.1.line", url=REFUND)

    def test_an_empty_list_of_refund_lines_is_refused(self, client):
        body = {"receipt_id": "R1", "refund_id": "RF1", "lines": []}
        _refused(client, body, "lines", url=REFUND)

    def test_a_cancel_needs_a_receipt_id(self, client):
        _refused(client, {"receipt": "R1"}, "receipt_id", url=API + "purchases/cancel")


class TestOfflineBody:
    URL = API + "purchases/offline"

    @pytest.mark.parametrize("receipts", [[], {}, "x", None])
    def test_receipts_must_be_a_non_empty_list(self, client, receipts):
        _refused(client, {"receipts": receipts}, "receipts", url=self.URL)

    def test_at_most_500_receipts_per_upload(self, world, client):
        receipts = [{"receipt_id": str(n)} for n in range(501)]
        _refused(client, {"receipts": receipts}, "receipts", url=self.URL)

    def test_an_invalid_item_is_answered_on_its_own(self, world, client, row_counts):
        # given one good receipt between a malformed one and one that is not an object
        good = purchase_body(world, receipt_id="OFF-2", card=None)
        bad = purchase_body(world, receipt_id="OFF-1", lines=[_line(price=89.9)])
        before = row_counts()
        # when they are uploaded
        response = client.post(self.URL, {"receipts": [bad, good, "junk"]}, format="json")
        # then the upload succeeds with one result per item
        assert response.status_code == 200, response.content
        first, second, third = response.json()["results"]
        assert first["receipt_id"] == "OFF-1"
        assert first["status"] == "error"
        assert first["error"]["code"] == "invalid_request"
        assert first["error"]["status"] == 400
        assert "lines.0.price" in first["error"]["errors"]
        assert second == {
            "receipt_id": "OFF-2",
            "status": "ok",
            "result": second["result"],
        }
        assert second["result"]["status"] == "confirmed"
        assert third["receipt_id"] is None
        assert third["status"] == "error"
        # and only the good item was written
        assert row_counts()["Receipt"] == before["Receipt"] + 1

    def test_an_item_with_too_many_lines_says_so(self, world, client):
        world.programme.max_receipt_lines = 1
        world.programme.save(update_fields=["max_receipt_lines"])
        body = purchase_body(world, receipt_id="OFF-1", lines=[_line(1), _line(2)])
        response = client.post(self.URL, {"receipts": [body]}, format="json")
        (result,) = response.json()["results"]
        assert result["error"]["code"] == "too_many_lines"
        assert result["error"]["detail"] == "A receipt has at most 1 lines; this one has 2."
