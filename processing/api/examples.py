"""Request examples of every operation of the API, as the OpenAPI schema shows them.

They are the guide's (docs/pos-integration.md) and are checked: each must be valid by the
schema and accepted by the server against a coalition that has the card, coupon, certificate
and event type they name (tests/processing/api/test_schema_examples.py); the fuzz run also sends them
(tests/processing/api/test_schemathesis.py).
"""

from __future__ import annotations

from typing import Literal

from drf_spectacular.utils import OpenApiExample

CARD = "2700000000017"
PHONE = "+79001234567"
RECEIPT_ID = "0042-000173"
COUPON = "SPRING-7HQ2K"
CERTIFICATE = "7HQ2-K9RT-XJKY-WZZQ"
SOLD_AT = "2026-03-08T13:45:00+07:00"

LINES = [
    {"line": 1, "sku": "4601234567890", "quantity": "2", "price": "89.90"},
    {"line": 2, "sku": "MATTRESS-A", "quantity": "1", "price": "15990.00"},
]
PURCHASE = {"receipt_id": RECEIPT_ID, "datetime": SOLD_AT, "card": CARD, "lines": LINES}


def _body(name: str, value: dict, summary: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary, request_only=True)


def _parameter(
    title: str, name: str, location: Literal["query", "path", "header", "cookie"], value: str
) -> OpenApiExample:
    return OpenApiExample(title, value=value, parameter_only=(name, location))


PURCHASE_CALCULATE = [
    _body(
        "Card, points and a hold",
        {**PURCHASE, "coupons": [COUPON], "spend_points": "max", "hold": True},
        "Spend as many points as allowed and reserve them until confirm.",
    ),
    _body(
        "Anonymous",
        {"receipt_id": "0042-000174", "lines": [LINES[0]]},
        "No card or phone: only promotions for all customers apply.",
    ),
]
PURCHASE_CONFIRM = [
    _body(
        "Card and points",
        {**PURCHASE, "spend_points": "300.00"},
        "The body calculate was given, without hold.",
    ),
    _body(
        "By phone, with a certificate",
        {
            "receipt_id": "0042-000175",
            "phone": "8 900 123-45-67",
            "lines": [LINES[1]],
            "certificates": [{"code": CERTIFICATE, "amount": "500.00"}],
        },
    ),
]
PURCHASE_CANCEL = [_body("Void a purchase", {"receipt_id": RECEIPT_ID})]
PURCHASE_REFUND = [
    _body(
        "One unit of line 2",
        {
            "receipt_id": RECEIPT_ID,
            "refund_id": "0042-R-0009",
            "lines": [{"line": 2, "quantity": "1"}],
        },
    ),
    _body(
        "Everything not yet returned",
        {"receipt_id": RECEIPT_ID, "refund_id": "0042-R-0010"},
    ),
]
PURCHASES_OFFLINE = [
    _body(
        "Two receipts sold offline",
        {
            "receipts": [
                {**PURCHASE, "receipt_id": "0042-000180"},
                {"receipt_id": "0042-000181", "datetime": SOLD_AT, "lines": [LINES[0]]},
            ]
        },
        "Confirm bodies in sale order, with the real time of sale.",
    )
]
PURCHASE_GET = [_parameter("A receipt id", "receipt_id", "path", RECEIPT_ID)]
CARD_GET = [_parameter("A card number", "number", "path", CARD)]
CUSTOMER_LOOKUP = [
    _parameter("In E.164", "phone", "query", PHONE),
    _parameter("In a local notation", "phone", "query", "8 900 123-45-67"),
]
CUSTOMER_REGISTER = [
    _body(
        "Phone, name and consents",
        {"phone": "8 900 123-45-68", "first_name": "Anna", "consents": {"sms": True}},
        "A virtual card is issued.",
    ),
    _body(
        "With a plastic card and a friend's code",
        {
            "phone": "+79001234569",
            "first_name": "Boris",
            "last_name": "Petrov",
            "email": "boris@example.com",
            "birth_date": "1990-05-17",
            "card": "2700000000024",
            "referral_code": PHONE,
        },
    ),
]
EVENT_REPORT = [
    _body(
        "A group joined",
        {
            "customer": {"card": CARD},
            "type": "joined_group",
            "event_id": "9f1c-77",
            "attributes": {"group": "runners"},
        },
    ),
    _body(
        "By phone, with its time",
        {
            "customer": {"phone": PHONE},
            "type": "joined_group",
            "event_id": "9f1c-78",
            "occurred_at": SOLD_AT,
        },
    ),
]
COUPON_GET = [_parameter("A coupon code", "code", "path", COUPON)]
CERTIFICATE_GET = [_parameter("A certificate code", "code", "path", CERTIFICATE)]
CERTIFICATE_ACTIVATE = CERTIFICATE_GET
TICKET_SUBMIT = [
    _body(
        "Missing points",
        {
            "request_id": "app-5521",
            "channel": "app",
            "category": "missing_points",
            "subject": "No points for my purchase",
            "body": "I bought a mattress on 8 March and got no points.",
            "customer": {"card": CARD, "email": "anna@example.com"},
            "receipt_id": RECEIPT_ID,
        },
    )
]
