"""Card emission: numbers from the batch prefix and a counter, the admin form, the commands."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from loyalty.models import Card, CardBatch
from loyalty.services.card_emission import card_batch_emit
from loyalty.validators import has_valid_check_digit
from tests.factories.loyalty import CardBatchFactory, CardFactory

pytestmark = pytest.mark.django_db


def test_emitted_numbers_follow_prefix_counter_and_luhn():
    # given
    batch = CardBatchFactory(
        code="E1", prefix="5500", number_length=10, check_digit=CardBatch.CheckDigit.LUHN
    )

    # when
    counters = card_batch_emit(batch=batch, count=3)

    # then
    numbers = list(Card.objects.filter(batch=batch).values_list("number", flat=True))
    assert list(counters) == [1, 2, 3]
    assert [n[:9] for n in numbers] == ["550000001", "550000002", "550000003"]
    assert all(len(n) == 10 and has_valid_check_digit(n, "luhn") for n in numbers)
    assert {c.status for c in Card.objects.filter(batch=batch)} == {Card.Status.NEW}
    assert {c.programme_id for c in Card.objects.filter(batch=batch)} == {batch.programme_id}


def test_a_second_emission_continues_the_counter_and_skips_taken_numbers():
    # given: a card under the prefix from another source already holds counter 7
    batch = CardBatchFactory(code="E2", prefix="66", number_length=6)
    CardFactory(number="660007")
    card_batch_emit(batch=batch, count=2)

    # then
    assert sorted(Card.objects.filter(batch=batch).values_list("number", flat=True)) == [
        "660008",
        "660009",
    ]


def test_ean13_batch_emits_valid_ean13_numbers():
    batch = CardBatchFactory(
        code="E3", prefix="2991", number_length=13, check_digit=CardBatch.CheckDigit.EAN13
    )

    card_batch_emit(batch=batch, count=5)

    assert all(has_valid_check_digit(c.number, "ean13") for c in Card.objects.filter(batch=batch))


def test_a_batch_without_room_refuses_and_writes_nothing():
    batch = CardBatchFactory(code="E4", prefix="99", number_length=4)  # counters 1..99

    with pytest.raises(ValidationError):
        card_batch_emit(batch=batch, count=100)

    assert not Card.objects.filter(batch=batch).exists()


def test_commands_emit_and_export_for_the_printing_house(tmp_path):
    # given
    batch = CardBatchFactory(code="PRINT", prefix="12", number_length=8)

    # when
    call_command("cards_emit", "PRINT", "4", stdout=io.StringIO())
    out = tmp_path / "print.csv"
    call_command("cards_export", "PRINT", "--output", str(out), stderr=io.StringIO())

    # then
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["number", "batch", "card_type", "status", "customer_phone"]
    assert [r[0] for r in rows[1:]] == ["12000001", "12000002", "12000003", "12000004"]
    assert {r[1] for r in rows[1:]} == {batch.code}


def test_cards_emit_names_an_unknown_batch():
    with pytest.raises(CommandError, match="no batch"):
        call_command("cards_emit", "NOPE", "4")


def test_admin_emit_form_and_export_action(admin_client):
    # given
    batch = CardBatchFactory(code="ADM", prefix="31", number_length=6)
    url = reverse("admin:loyalty_cardbatch_emit", args=[batch.pk])

    # when
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"count": "3"})

    # then
    assert response.status_code == 302
    assert Card.objects.filter(batch=batch).count() == 3

    # when
    response = admin_client.post(
        reverse("admin:loyalty_cardbatch_changelist"),
        {"action": "export_cards", "_selected_action": [batch.pk]},
    )

    # then
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines() == [
        "number,batch,card_type,status,customer_phone",
        "310001,ADM,loyalty,new,",
        "310002,ADM,loyalty,new,",
        "310003,ADM,loyalty,new,",
    ]
