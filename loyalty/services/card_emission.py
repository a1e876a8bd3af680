"""Card emission: new numbers for a batch from its prefix and a counter, and the printing CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Length
from django.utils.translation import gettext as _

from loyalty.models import Card, CardBatch
from loyalty.services.card_import import COLUMNS, CardRow, cards_write
from loyalty.validators import ean13_check_digit, luhn_check_digit

MAX_EMISSION = 10_000_000


def _check_digit(scheme: str, payload: str) -> str:
    if scheme == CardBatch.CheckDigit.LUHN:
        return luhn_check_digit(payload)
    if scheme == CardBatch.CheckDigit.EAN13:
        return ean13_check_digit(payload)
    return ""


def _counter_width(batch: CardBatch) -> int:
    check = 0 if batch.check_digit == CardBatch.CheckDigit.NONE else 1
    return batch.number_length - len(batch.prefix) - check


def _next_counter(batch: CardBatch, width: int) -> int:
    """One past the highest counter already used under the prefix (by any batch)."""
    prefix = batch.prefix
    highest = (
        Card.objects.annotate(number_length=Length("number"))
        .filter(number__startswith=prefix, number_length=batch.number_length)
        .filter(number__regex=r"^[0-9]+$")
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    if highest is None:
        return 1
    return int(highest[len(prefix) : len(prefix) + width]) + 1


def card_batch_emit(*, batch: CardBatch, count: int) -> range:
    """Create ``count`` new cards in ``batch`` and return the counters used.

    Numbers are the batch prefix, a zero-padded counter continuing after the highest number
    under that prefix, and the batch's check digit, ``number_length`` long in all. Raises
    ``ValidationError`` when the batch cannot hold that many numbers. The batch row is locked,
    so two emissions of one batch never draw the same counters; the unique index guards
    batches sharing a prefix.
    """
    if count < 1 or count > MAX_EMISSION:
        raise ValidationError(
            _("Emit between 1 and %(max)s cards at a time.") % {"max": MAX_EMISSION}
        )
    if batch.check_digit != CardBatch.CheckDigit.NONE and not (batch.prefix or "0").isdigit():
        raise ValidationError(_("A batch with a check digit needs a prefix of digits."))
    if batch.check_digit == CardBatch.CheckDigit.EAN13 and batch.number_length != 13:
        raise ValidationError(_("EAN-13 numbers are 13 digits long."))
    width = _counter_width(batch)
    if width < 1:
        raise ValidationError(_("The prefix leaves no room for a counter in the number length."))
    with transaction.atomic():
        batch = CardBatch.objects.select_for_update().get(pk=batch.pk)
        start = _next_counter(batch, width)
        stop = start + count
        if stop - 1 >= 10**width:
            raise ValidationError(
                _("The batch has room for %(free)s more numbers only.")
                % {"free": max(0, 10**width - start)}
            )
        rows = (
            CardRow(
                number=(payload := f"{batch.prefix}{counter:0{width}d}")
                + _check_digit(batch.check_digit, payload),
                batch=batch,
                card_type=batch.card_type,
                status=Card.Status.NEW,
                customer_id=None,
            )
            for counter in range(start, stop)
        )
        cards_write(rows)
    return range(start, stop)


def card_batch_export_rows(batch: CardBatch) -> Iterator[list[str]]:
    """The CSV rows for the printing house, header first, in number order (streamed)."""
    yield list(COLUMNS)
    cards = (
        Card.objects.filter(batch=batch)
        .order_by("number")
        .values_list("number", "card_type", "status", "customer__phone")
    )
    for number, card_type, status, phone in cards.iterator(chunk_size=5000):
        yield [number, batch.code, card_type, status, phone or ""]


def card_batch_export(batch: CardBatch, out: IO[str]) -> int:
    """Write the batch's cards as CSV to ``out``; return the number of cards written."""
    writer = csv.writer(out)
    written = -1
    for row in card_batch_export_rows(batch):
        writer.writerow(row)
        written += 1
    return written
