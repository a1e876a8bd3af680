"""Shared rows of the RFM tests: a programme with its currency and a terminal, purchases at a
fixed moment, and schemes with the standard map."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from loyalty.models import Receipt, RfmScheme
from loyalty.rfm.cells import standard_cells_create
from tests.factories.loyalty import ReceiptFactory

D = Decimal


def buy(world, customer, days_ago: float, money: str = "100.00", **fields) -> Receipt:
    """A purchase of ``customer`` in the world's programme ``days_ago`` days before its now."""
    return ReceiptFactory(
        terminal=world.terminal,
        customer=customer,
        currency=fields.pop("currency", world.currency),
        sold_at=fields.pop("sold_at", world.now - timedelta(days=days_ago)),
        total=D(money),
        to_pay=D(money),
        **fields,
    )


def scheme_make(programme, code: str = "main", **fields) -> RfmScheme:
    scheme = RfmScheme(programme=programme, code=code, name=fields.pop("name", code), **fields)
    scheme.full_clean()
    scheme.save()
    standard_cells_create(scheme)
    return scheme


def at(now: datetime, **delta) -> datetime:
    return now - timedelta(**delta)
