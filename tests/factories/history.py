"""Receipts loaded from history, the way reports/demo.py writes them: the receipt, its lines and
its spend and earn postings, and nothing else (no per-line reward links, no stored answer, no
``spent_points``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from loyalty.models import Lot, Posting, Receipt, ReceiptLine
from loyalty.money import allocate, line_amount, quantize
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
)

D = Decimal
HISTORY = Actor.system("history import")


def history_receipt(
    world,
    receipt_id: str,
    lines=(("A", "2", "100.00"), ("B", "1", "300.00")),
    *,
    spend: Decimal | str = "0",
    percent: Decimal | str = "5",
    terminal=None,
    customer=None,
    sold_at: datetime | None = None,
) -> Receipt:
    """A purchase as a history import leaves it: ``spend`` points paid (from the customer's
    lots, first-expiring first), ``percent`` of what was paid in money earned as one lot."""
    terminal = terminal or world.terminal
    customer = customer or world.customer
    partner = terminal.store.partner
    sold_at = sold_at or timezone.now() - timedelta(days=2)
    account = customer_account(customer, world.currency)
    rows = [
        ReceiptLine(
            line_no=no,
            sku=sku,
            quantity=D(quantity),
            price=D(price),
            amount=line_amount(D(quantity), D(price)),
        )
        for no, (sku, quantity, price) in enumerate(lines, start=1)
    ]
    total = sum((row.amount for row in rows), D("0.00"))
    spend = D(spend)
    for row, part in zip(rows, allocate(spend, [row.amount for row in rows]), strict=True):
        row.points_spent = part
        row.to_pay = row.amount - part
    to_pay = total - spend
    earned = quantize(to_pay * D(percent) / 100)
    for row, part in zip(rows, allocate(earned, [row.to_pay for row in rows]), strict=True):
        row.points_earned = part
    receipt = Receipt.objects.create(
        terminal=terminal,
        store=terminal.store,
        partner=partner,
        receipt_id=receipt_id,
        customer=customer,
        card=world.card if customer == world.customer else None,
        currency=world.currency,
        sold_at=sold_at,
        recorded_at=sold_at,
        total=total,
        points_spent=spend,
        to_pay=to_pay,
        points_earned=earned,
    )
    for row in rows:
        row.receipt = receipt
    ReceiptLine.objects.bulk_create(rows)
    specs = []
    if spend:
        legs, left = [], spend
        for lot in Lot.objects.filter(account=account, remaining__gt=0).order_by(
            "expires_at", "entry_id"
        ):
            take = min(lot.remaining, left)
            legs.append(Leg(account=account, amount=-take, lot=lot))
            left -= take
            if not left:
                break
        assert not left, "the customer does not hold the points to spend"
        legs.append(Leg(account=partner_account(partner, world.currency), amount=spend))
        specs.append(
            PostingSpec(
                kind=Posting.Kind.SPEND,
                cause=Posting.Cause.RECEIPT,
                actor=HISTORY,
                legs=legs,
                partner=partner,
                receipt=receipt,
                occurred_at=sold_at,
            )
        )
    if earned:
        specs.append(
            PostingSpec(
                kind=Posting.Kind.EARN,
                cause=Posting.Cause.RECEIPT,
                actor=HISTORY,
                legs=[
                    Leg(
                        account=account,
                        amount=earned,
                        active_at=sold_at,
                        expires_at=sold_at + timedelta(days=365),
                    ),
                    Leg(account=partner_account(partner, world.currency), amount=-earned),
                ],
                partner=partner,
                receipt=receipt,
                occurred_at=sold_at,
            )
        )
    postings_create(specs)
    return receipt


def points_given(world, amount: Decimal | str, customer=None) -> None:
    """Points the customer held before the history (an import's opening balance)."""
    customer = customer or world.customer
    account = customer_account(customer, world.currency)
    at = timezone.now() - timedelta(days=30)
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.ADJUST,
                cause=Posting.Cause.IMPORT,
                actor=HISTORY,
                legs=[
                    Leg(
                        account=account,
                        amount=D(amount),
                        active_at=at,
                        expires_at=at + timedelta(days=400),
                    ),
                    Leg(account=partner_account(world.partner, world.currency), amount=-D(amount)),
                ],
                partner=world.partner,
                occurred_at=at,
            )
        ]
    )


def earned_without_lines(world) -> Receipt:
    """A history receipt with no lines, whose earn posting gave 10.00 points."""
    receipt = history_receipt(world, "H0", lines=())
    account = customer_account(world.customer, world.currency)
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.EARN,
                cause=Posting.Cause.RECEIPT,
                actor=HISTORY,
                legs=[
                    Leg(account=account, amount=D("10.00")),
                    Leg(account=partner_account(world.partner, world.currency), amount=D("-10.00")),
                ],
                receipt=receipt,
            )
        ]
    )
    return receipt
