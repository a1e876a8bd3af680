"""The demo's purchase history: receipts week by week, with points earned and some spent, then
the customers' tiers and purchase counters."""

from __future__ import annotations

import random
import zoneinfo
from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal

from demo.catalogue import PRODUCT_TEMPLATES
from demo.coalition import BASE_PERCENT, CITY_TZ, DEMO_ACTOR, POINT_LIFETIME_DAYS
from loyalty.models import (
    CounterValue,
    LedgerEntry,
    Posting,
    Product,
    Receipt,
    ReceiptLine,
    Terminal,
    Tier,
    TierMembership,
)
from loyalty.money import allocate, line_amount, quantize
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_accounts_open,
    partner_account,
    postings_create,
)

# How often customers shop at each partner (relative weights).
PARTNER_POPULARITY = {
    "megamart": 30,
    "fresh": 25,
    "homebuild": 6,
    "sportline": 4,
    "healthplus": 12,
    "medcity": 2,
    "netwave": 3,
    "funland": 2,
    "neon": 3,
    "starcinema": 5,
    "coffeebean": 15,
    "fuelpoint": 12,
}


def history_load(
    programme, currency, counter, people, cards, terminals, products_by_partner, rng, now, months
):
    """Purchases of the last ``months`` months, with points earned and some spent, week by week."""
    tz = zoneinfo.ZoneInfo(CITY_TZ)
    start = now - timedelta(days=30 * months)
    weights = [
        PARTNER_POPULARITY[t.store.partner.code] / max(1, _registers_of(t, terminals))
        for t in terminals
    ]
    accounts = customer_accounts_open([p.pk for p in people], currency)
    partner_accounts = {
        t.store.partner_id: partner_account(t.store.partner, currency) for t in terminals
    }
    actor = Actor.system(DEMO_ACTOR)
    sequence: dict[int, int] = defaultdict(int)
    lots: dict[int, list[list]] = defaultdict(
        list
    )  # customer id -> [[lot entry, remainder], ...] oldest first
    spend_total: dict[int, Decimal] = defaultdict(Decimal)
    purchases: dict[int, int] = defaultdict(int)

    plans = []
    for person in people:
        first_day = max(start, person.registered_at)
        visits = rng.randint(0, 14)
        for _ in range(visits):
            moment = first_day + (now - first_day) * rng.random()
            local = moment.astimezone(tz)
            local = datetime.combine(
                local.date(), time(rng.randint(9, 21), rng.randint(0, 59), rng.randint(0, 59)), tz
            )
            if local >= now or local <= person.registered_at:
                continue
            plans.append((local, person))
    plans.sort(key=lambda item: (item[0], item[1].pk))

    week = timedelta(days=7)
    cursor = start
    while cursor < now:
        chunk = [plan for plan in plans if cursor <= plan[0] < cursor + week]
        cursor += week
        if not chunk:
            continue
        receipts, lines_by_receipt, specs = [], [], []
        for sold_at, person in chunk:
            terminal = rng.choices(terminals, weights=weights)[0]
            partner = terminal.store.partner
            sequence[terminal.pk] += 1
            lines = _lines(rng, products_by_partner[partner.pk])
            total = sum((line.amount for line in lines), Decimal("0.00"))
            available = sum((rem for _lot, rem in lots[person.pk]), Decimal("0"))
            points_spent = Decimal("0.00")
            if available >= 50 and rng.random() < 0.25 and cards[person.pk].can_spend:
                cap = quantize(total * programme.max_spend_percent / 100)
                cap = min(cap, total - programme.min_money_payment)
                points_spent = max(
                    Decimal("0.00"),
                    min(quantize(available * Decimal(rng.choice(["0.5", "1"]))), cap),
                )
            for line, part in zip(
                lines, allocate(points_spent, [ln.amount for ln in lines]), strict=True
            ):
                line.points_spent = part
                # Both, as processing writes them: the money paid with points and the points
                # debited for it (1 point = 1.00 RUB in the demo).
                line.spent_points = quantize(part / currency.rub_rate, currency.decimal_places)
                line.to_pay = line.amount - part
            to_pay = total - points_spent
            earned = quantize(to_pay * BASE_PERCENT / 100)
            for line, part in zip(
                lines, allocate(earned, [ln.to_pay for ln in lines]), strict=True
            ):
                line.points_earned = part
            receipt = Receipt(
                terminal=terminal,
                store=terminal.store,
                partner=partner,
                receipt_id=f"{sequence[terminal.pk]:06d}",
                customer=person,
                card=cards[person.pk],
                currency=currency,
                sold_at=sold_at,
                recorded_at=sold_at,
                total=total,
                points_spent=points_spent,
                spent_points=quantize(points_spent / currency.rub_rate, currency.decimal_places),
                to_pay=to_pay,
                points_earned=earned,
            )
            receipts.append(receipt)
            lines_by_receipt.append(lines)
            purchases[person.pk] += 1
            spend_total[person.pk] += to_pay
            account = accounts[person.pk]
            if points_spent:
                legs, left = [], points_spent
                for lot in lots[person.pk]:
                    if not left:
                        break
                    take = min(lot[1], left)
                    if take:
                        legs.append(Leg(account=account, amount=-take, lot=lot[0]))
                        lot[1] -= take
                        left -= take
                lots[person.pk] = [lot for lot in lots[person.pk] if lot[1]]
                legs.append(Leg(account=partner_accounts[partner.pk], amount=points_spent))
                specs.append(
                    (
                        PostingSpec(
                            kind=Posting.Kind.SPEND,
                            cause=Posting.Cause.RECEIPT,
                            actor=actor,
                            legs=legs,
                            partner=partner,
                            receipt=receipt,
                            occurred_at=sold_at,
                        ),
                        None,
                    )
                )
            if earned:
                spec = PostingSpec(
                    kind=Posting.Kind.EARN,
                    cause=Posting.Cause.RECEIPT,
                    actor=actor,
                    partner=partner,
                    receipt=receipt,
                    occurred_at=sold_at,
                    legs=[
                        Leg(
                            account=account,
                            amount=earned,
                            active_at=sold_at,
                            expires_at=sold_at + timedelta(days=POINT_LIFETIME_DAYS),
                        ),
                        Leg(account=partner_accounts[partner.pk], amount=-earned),
                    ],
                )
                specs.append((spec, person.pk))
        Receipt.objects.bulk_create(receipts, batch_size=1000)
        all_lines = []
        for receipt, lines in zip(receipts, lines_by_receipt, strict=True):
            for line in lines:
                line.receipt = receipt
                all_lines.append(line)
        ReceiptLine.objects.bulk_create(all_lines, batch_size=2000)
        postings_create([spec for spec, _owner in specs])
        for spec, owner in specs:
            if owner is not None:
                lot_entry: LedgerEntry = spec.entries[0]
                lots[owner].append([lot_entry, lot_entry.amount])

    _tiers_and_counters(programme, counter, people, spend_total, purchases, now)


def _registers_of(terminal: Terminal, terminals: list[Terminal]) -> int:
    return sum(1 for t in terminals if t.store.partner_id == terminal.store.partner_id)


def _lines(rng: random.Random, products: list[Product]) -> list[ReceiptLine]:
    lines = []
    for number, product in enumerate(
        rng.sample(products, k=min(len(products), rng.choice([1, 1, 2, 2, 3, 4, 5]))), start=1
    ):
        _brands, (low, high), _names, weighted = PRODUCT_TEMPLATES[product.category.code]
        price = quantize(
            Decimal(low) + (Decimal(high) - Decimal(low)) * Decimal(rng.randint(0, 20)) / 20
        )
        price = price - Decimal("0.10") if price > 1 and price % 1 == 0 else price
        quantity = (
            Decimal(rng.randint(10, 45)) if weighted else Decimal(rng.choice([1, 1, 1, 2, 3]))
        )
        amount = line_amount(quantity, price)
        lines.append(
            ReceiptLine(
                line_no=number,
                sku=product.sku,
                product=product,
                quantity=quantity,
                price=price,
                amount=amount,
                to_pay=amount,
            )
        )
    return lines


def _tiers_and_counters(programme, counter, people, spend_total, purchases, now):
    tiers = list(Tier.objects.filter(programme=programme).order_by("-threshold"))
    memberships, values = [], []
    for person in people:
        spent = spend_total.get(person.pk, Decimal("0.00"))
        tier = next(t for t in tiers if spent >= t.threshold)
        memberships.append(
            TierMembership(
                customer=person, programme=programme, tier=tier, qualifying_amount=spent, since=now
            )
        )
        if purchases.get(person.pk):
            values.append(
                CounterValue(counter=counter, customer=person, value=Decimal(purchases[person.pk]))
            )
    TierMembership.objects.bulk_create(memberships, batch_size=2000)
    CounterValue.objects.bulk_create(values, batch_size=2000)
