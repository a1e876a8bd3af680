"""Text no database can store: NUL (``\\u0000``) and unpaired surrogates (``\\ud800``).

PostgreSQL refuses NUL in ``text`` and ``jsonb``, and a lone surrogate cannot even be encoded
to UTF-8: such a string in an event's ``attributes`` or a coupon's or certificate's path was a
500 (and in an echoed error, a crash of the renderer). Now a body carrying one anywhere is a
400 ``invalid_request`` naming the place, a path a 404, and nothing is written. The same tests
run on PostgreSQL when ``DATABASE_URL`` names one; the ``postgres`` ones need it.
"""

from __future__ import annotations

import copy
import json

import pytest
from django.db import connection, transaction
from django.db.utils import DataError

from loyalty.models import CustomerEvent, EventType, Receipt
from processing.api import examples
from processing.api.bodies import UNSTORABLE_MESSAGE, PosJSONRenderer, unstorable_text_errors
from processing.api.serializers import EventSerializer, PurchaseSerializer
from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db

NUL = "\\u0000"  # as the JSON text carries them
SURROGATE = "\\ud800"
BAD = pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])


def post_raw(client, url: str, text: str):
    """POST a JSON text as it is (json.dumps would refuse or re-escape a lone surrogate)."""
    return client.generic("POST", API + url, text.encode(), content_type="application/json")


def assert_refused(response, path: str) -> dict:
    data = assert_problem(response, 400, "invalid_request")
    assert path in data["errors"], data["errors"]
    assert "U+0000" in data["errors"][path][0]
    return data


@pytest.fixture
def joined(world):
    return EventType.objects.create(code="joined_group", name="Joined the group")


def event_text(world, attributes: str) -> str:
    return (
        f'{{"customer": {{"card": "{world.card.number}"}}, "type": "joined_group", '
        f'"event_id": "ev-1", "attributes": {attributes}}}'
    )


# --- The review's cases ---------------------------------------------------------------------


@BAD
def test_a_bad_character_in_an_event_attribute_is_a_400_and_records_nothing(
    client, world, joined, bad
):
    response = post_raw(client, "events", event_text(world, f'{{"note": "a{bad}b"}}'))
    assert_refused(response, "attributes.note")
    nested = post_raw(client, "events", event_text(world, f'{{"list": [1, {{"x": "{bad}"}}]}}'))
    assert_refused(nested, "attributes.list.1.x")
    assert not CustomerEvent.objects.exists()


@BAD
def test_a_bad_character_in_an_event_attribute_key_is_a_400_naming_it_escaped(
    client, world, joined, bad
):
    response = post_raw(client, "events", event_text(world, f'{{"no{bad}te": 1}}'))
    assert_refused(response, f"attributes.no{bad}te")
    assert not CustomerEvent.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["coupons/SPRING%00", "coupons/%00", "certificates/7HQ2%00K9RT", "certificates/%00/activate"],
)
def test_a_nul_in_a_coupon_or_certificate_path_is_a_404(client, world, url):
    code = "coupon_not_found" if url.startswith("coupons") else "certificate_not_found"
    if url.endswith("activate"):
        response = client.post(API + url)
    else:
        response = client.get(API + url)
    assert_problem(response, 404, code)


# --- Every string of every body --------------------------------------------------------------

BODY_EXAMPLES = [
    (url, example)
    for url, group in [
        ("purchases/calculate", examples.PURCHASE_CALCULATE),
        ("purchases/confirm", examples.PURCHASE_CONFIRM),
        ("purchases/cancel", examples.PURCHASE_CANCEL),
        ("purchases/refund", examples.PURCHASE_REFUND),
        ("customers", examples.CUSTOMER_REGISTER),
        ("events", examples.EVENT_REPORT),
        ("tickets", examples.TICKET_SUBMIT),
    ]
    for example in group
]


def _string_places(node, path=()):
    """(path, is_key) of every string value and every key of a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), True
            yield from _string_places(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _string_places(item, (*path, index))
    elif isinstance(node, str):
        yield path, False


def _spoiled(body, place, is_key: bool, marker: str):
    """The body with ``marker`` put into the string (or the key) at ``place``."""
    body = copy.deepcopy(body)
    parent = body
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    if is_key:
        parent[f"{last}{marker}"] = parent.pop(last)
        return body, (*place[:-1], f"{last}{marker}")
    parent[last] = f"{parent[last]}{marker}"
    return body, place


@BAD
@pytest.mark.parametrize(
    ("url", "example"), BODY_EXAMPLES, ids=[f"{u}:{e.name}" for u, e in BODY_EXAMPLES]
)
def test_every_string_and_key_of_every_body_refuses_the_bad_characters(
    client, world, row_counts, url, example, bad
):
    """Each string and each key of each example body, in turn, carrying the character."""
    before = row_counts()
    marker = "\u2603MARK\u2603"  # replaced in the JSON text by the escape itself
    for place, is_key in _string_places(example.value):
        body, spoiled = _spoiled(example.value, place, is_key, marker)
        text = json.dumps(body, ensure_ascii=False).replace(marker, bad)
        response = post_raw(client, url, text)
        expected = ".".join(str(step) for step in spoiled).replace(marker, bad)
        assert_refused(response, expected)
    assert row_counts() == before


@BAD
def test_an_unknown_field_carrying_one_is_refused_too(client, world, bad):
    text = json.dumps(purchase_body(world))[:-1] + f', "comment": "x{bad}"}}'
    assert_refused(post_raw(client, "purchases/calculate", text), "comment")


@BAD
def test_an_offline_item_carrying_one_is_answered_on_its_own(client, world, bad):
    good = purchase_body(world, receipt_id="OFF-1")
    spoiled = purchase_body(world, receipt_id="OFF-2")
    spoiled["lines"][1]["sku"] = "MARK"
    text = json.dumps({"receipts": [good, spoiled]}).replace("MARK", f"M{bad}")
    response = post_raw(client, "purchases/offline", text)
    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert first["status"] == "ok"
    assert second["status"] == "error"
    assert second["receipt_id"] == "OFF-2"
    assert second["error"]["code"] == "invalid_request"
    assert list(second["error"]["errors"]) == ["lines.1.sku"]
    assert list(Receipt.objects.values_list("receipt_id", flat=True)) == ["OFF-1"]


@BAD
def test_an_offline_item_whose_receipt_id_carries_one_is_echoed_escaped(client, world, bad):
    text = f'{{"receipts": [{{"receipt_id": "R{bad}"}}]}}'
    response = post_raw(client, "purchases/offline", text)
    assert response.status_code == 200
    (result,) = json.loads(response.content)["results"]
    assert result["receipt_id"] == json.loads(f'"R{bad}"')
    assert result["error"]["errors"] == {"receipt_id": [result["error"]["errors"]["receipt_id"][0]]}


# --- The layers on their own -----------------------------------------------------------------


def test_the_walk_names_every_place_and_skips_the_items_it_is_told_to():
    data = {"a": ["ok", "b\x00"], "k\ud800": 1, "receipts": [{"sku": "\x00"}], "n": {"m": 2}}
    message = [str(UNSTORABLE_MESSAGE)]
    assert unstorable_text_errors(data) == {
        "a.1": message,
        "k\\ud800": message,
        "receipts.0.sku": message,
    }
    assert list(unstorable_text_errors(data, skip_items_of="receipts")) == ["a.1", "k\\ud800"]
    assert unstorable_text_errors({"emoji": "\U0001f600", "ru": "Анна"}) == {}


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
def test_the_serializers_string_fields_refuse_them_by_themselves(world, bad):
    body = purchase_body(world)
    body["lines"][0]["sku"] = f"SKU{bad}"
    purchase = PurchaseSerializer(data=body, context={"max_lines": 10})
    assert not purchase.is_valid()
    assert "sku" in purchase.errors["lines"][0]
    event = EventSerializer(
        data={
            "customer": {"card": "1"},
            "type": "t",
            "event_id": "e",
            "attributes": {"a": [bad]},
        }
    )
    assert not event.is_valid()
    assert "attributes" in event.errors


def test_the_renderer_escapes_a_surrogate_that_reached_an_answer():
    renderer = PosJSONRenderer()
    assert renderer.render({"a": "Анна"}) == '{"a":"Анна"}'.encode()
    assert renderer.render({"a": "x\ud800"}) == b'{"a":"x\\ud800"}'


# --- PostgreSQL ------------------------------------------------------------------------------


def _as_jsonb(value) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb", [json.dumps(value)])


@pytest.mark.postgres
@BAD
def test_postgres_refuses_what_the_api_now_refuses_before_it(client, world, joined, bad):
    """The hazard is real on PostgreSQL (so the 400s above are not vacuous there), and every
    path of the review answers a 4xx on it."""
    with pytest.raises(DataError):
        _as_jsonb({"note": json.loads(f'"x{bad}"')})
    response = post_raw(client, "events", event_text(world, f'{{"note": "a{bad}b"}}'))
    assert_refused(response, "attributes.note")
    for url in ("coupons/A%00B", "certificates/A%00B", "certificates/A%00B/activate"):
        answer = client.post(API + url) if "activate" in url else client.get(API + url)
        assert answer.status_code == 404, (url, answer.content)
    assert not CustomerEvent.objects.exists()
