"""Peer thanks (mechanics.md item 22) as a configuration of the general parts:

- a currency members give (say "thanks to give", ``given_as`` the currency they arrive as,
  "thanks"), topped up every month by a promotion that starts on a day of the month for a
  segment of employees, its points burning on the 10th of the next month;
- ``thanks_give``: one member gives some to another, never to themselves, with a reason; one
  posting moves them from the giver's lots (first expiring first) to the receiver's account in
  the other currency, through the programme's accounts;
- ``thanks_table``: who received how much in a month, shown to everyone only after the 10th
  of the next month (when what was not given has burnt).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from crm.models import Customer
from loyalty.errors import (
    ThanksBadAmount,
    ThanksNeedReason,
    ThanksNotEnough,
    ThanksNotGiven,
    ThanksToSelf,
)
from loyalty.locks import accounts_for_update
from loyalty.models import Account, Currency, Lot, PeerThanks, Posting
from loyalty.money import quantize
from loyalty.services.ledger import (
    Actor,
    Leg,
    customer_account,
    posting_create,
    programme_account,
)
from loyalty.services.lots import lots_walk

# The table of a month opens after this day of the next month.
TABLE_OPENS_AFTER_DAY = 10


def thanks_left(customer: Customer, currency: Currency, now: datetime | None = None) -> Decimal:
    """What the member can still give: active, unexpired points of the giving currency."""
    now = now or timezone.now()
    return Lot.objects.filter(account__customer=customer, account__currency=currency).spendable(
        now
    ).aggregate(left=Sum("remaining"))["left"] or Decimal("0")


@transaction.atomic
def thanks_give(
    *,
    giver: Customer,
    receiver: Customer,
    currency: Currency,
    amount: Decimal,
    reason: str,
    user=None,
    now: datetime | None = None,
) -> PeerThanks:
    """Give ``amount`` of ``currency`` from ``giver`` to ``receiver`` with a reason.

    Raises ``ThanksToSelf``, ``ThanksNeedReason``, ``ThanksNotGiven`` (the currency is not
    given between members), ``ThanksBadAmount``, ``ThanksNotEnough``. Nothing is written on
    error; two gifts of one giver at once take their lots in turn (the account is locked).
    """
    reason = (reason or "").strip()
    if giver.pk == receiver.pk:
        raise ThanksToSelf()
    if not reason:
        raise ThanksNeedReason()
    arrives = currency.given_as
    if arrives is None:
        raise ThanksNotGiven(currency=currency.code)
    places = min(currency.decimal_places, arrives.decimal_places)
    if amount is None or amount <= 0 or quantize(amount, places) != amount:
        raise ThanksBadAmount(amount=str(amount))
    now = now or timezone.now()
    account = customer_account(giver, currency)
    account = accounts_for_update([account.pk]).get()
    takes, left = lots_walk(Lot.objects.filter(account=account).spendable(now), amount, now)
    legs: list[Leg] = [Leg(account=account, amount=-take, lot=lot) for lot, take in takes]
    if left > 0:
        raise ThanksNotEnough(left=str(amount - left))
    legs += [
        Leg(account=programme_account(currency, Account.Purpose.MAIN), amount=amount),
        Leg(account=programme_account(arrives, Account.Purpose.MARKETING), amount=-amount),
        Leg(account=customer_account(receiver, arrives), amount=amount),
    ]
    posting = posting_create(
        kind=Posting.Kind.TRANSFER,
        cause=Posting.Cause.THANKS,
        actor=Actor.for_staff(user) if user is not None else Actor.system("thanks"),
        legs=legs,
        description=reason[:300],
        occurred_at=now,
    )
    return PeerThanks.objects.create(
        giver=giver,
        receiver=receiver,
        currency=currency,
        amount=amount,
        reason=reason,
        given_at=now,
        posting=posting,
        user=user if getattr(user, "pk", None) else None,
    )


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = datetime.combine(date(year, month, 1), time.min, tzinfo=zone)
    days = calendar.monthrange(year, month)[1]
    return start, start + timedelta(days=days)


def thanks_table_opens(year: int, month: int) -> date:
    """The first day everyone sees the month's table: the day after the 10th of the next."""
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(next_year, next_month, TABLE_OPENS_AFTER_DAY + 1)


@dataclass(frozen=True)
class TableRow:
    receiver: Customer
    total: Decimal
    gifts: int


def thanks_table(currency: Currency, year: int, month: int) -> list[TableRow]:
    """Who received how much of the thanks given from ``currency`` in the month, most first."""
    start, end = month_bounds(year, month)
    rows = (
        PeerThanks.objects.filter(currency=currency, given_at__gte=start, given_at__lt=end)
        .values("receiver")
        .annotate(total=Sum("amount"), gifts=Count("pk"))
        .order_by("-total", "receiver")
    )
    people = Customer.objects.in_bulk([row["receiver"] for row in rows])
    return [TableRow(people[row["receiver"]], row["total"], row["gifts"]) for row in rows]
