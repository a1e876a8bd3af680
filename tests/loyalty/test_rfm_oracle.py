"""The SQL scores equal a plain Python reading of the rules (``loyalty/rfm/compute.py``) on
random customers and purchases: random statuses, partial refunds, another programme's
receipts, anonymised customers, purchases before and after the window, money and days drawn
from small sets so that ties are common; one scheme by quintiles, one by thresholds, each
over a random window. ``RFM_ORACLE_EXAMPLES`` seeds (6 by default), both databases."""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Customer
from loyalty.models import Receipt, Refund, RfmCell, RfmScheme, RfmScore
from loyalty.rfm.cells import cells_grid
from loyalty.rfm.compute import rfm_recompute
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CurrencyFactory, ProgrammeFactory, TerminalFactory
from tests.loyalty.rfm_helpers import scheme_make

pytestmark = pytest.mark.django_db
D = Decimal
EXAMPLES = int(os.environ.get("RFM_ORACLE_EXAMPLES", "6"))
DAY = timedelta(days=1)
STATUSES = [Receipt.Status.CONFIRMED] * 5 + [
    Receipt.Status.PARTIALLY_REFUNDED,
    Receipt.Status.CANCELLED,
    Receipt.Status.REFUNDED,
]


def _bounds(rng: random.Random, dimension: str) -> str:
    if dimension == "monetary":
        values = sorted(rng.sample([50, 100, 150, 200, 300, 450, 600, 1000, 2500], 4))
        return ", ".join(f"{value}.{rng.choice(['00', '50'])}" for value in values)
    pool = range(1, 400) if dimension == "recency" else range(1, 9)
    return ", ".join(str(value) for value in sorted(rng.sample(pool, 4)))


def _quintile(value, values: list, better_is_higher: bool) -> int:
    worse = sum(1 for other in values if (other < value if better_is_higher else other > value))
    return 1 + 5 * worse // len(values)


def _threshold(value, bounds: list[Decimal], dimension: str) -> int:
    if dimension == "recency":
        return next((5 - i for i, bound in enumerate(bounds) if value <= bound), 1)
    return 1 + sum(1 for bound in bounds if value >= bound)


def expected(scheme: RfmScheme, receipts: list[dict], now: datetime) -> dict[int, tuple]:
    """customer -> (r, f, m, recency_days, frequency, monetary, cell), read in Python."""
    since = now - timedelta(days=scheme.window_days)
    found: dict[int, dict] = {}
    for row in receipts:
        if not row["counts"] or row["sold_at"] > now:
            continue
        mine = found.setdefault(row["customer"], {"last": row["sold_at"], "f": 0, "m": D("0")})
        mine["last"] = max(mine["last"], row["sold_at"])
        if since <= row["sold_at"]:
            mine["f"] += 1
            mine["m"] += row["money"]
    for mine in found.values():
        mine["days"] = (now - mine["last"]) // DAY
    bought = [mine for mine in found.values() if mine["f"] > 0]
    grid = cells_grid(RfmCell.objects.filter(scheme=scheme))
    out = {}
    for customer, mine in found.items():
        scores = []
        for dimension, key, higher in (("recency", "days", False), ("frequency", "f", True), ("monetary", "m", True)):  # fmt: skip
            bounds = scheme.bounds(dimension)
            if bounds is not None:
                scores.append(_threshold(mine[key], bounds, dimension))
            elif mine["f"] == 0:
                scores.append(1)
            else:
                scores.append(_quintile(mine[key], [b[key] for b in bought], higher))
        r, f, m = scores
        out[customer] = (r, f, m, mine["days"], mine["f"], mine["m"], grid[(r, f)])
    return out


@pytest.mark.parametrize("seed", range(EXAMPLES))
def test_sql_scores_equal_the_python_reading(seed):
    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    currency = CurrencyFactory()
    programme = currency.programme
    other = CurrencyFactory(code="other", programme=ProgrammeFactory(code="other"))
    terminal = TerminalFactory()
    customers = CustomerFactory.create_batch(rng.randint(15, 30))
    rows, receipts = [], []
    for customer in customers:
        for n in range(rng.choice([0, 1, 1, 2, 3, 5, 8])):
            days = rng.choice([0, 1, 7, 30, 31, 90, 200, 364, 365, 366, 500, rng.randint(0, 600)])
            sold_at = now - timedelta(days=days, seconds=rng.choice([0, 1, 3600, 86399]))
            if rng.random() < 0.05:
                sold_at = now + timedelta(hours=1)  # after the run: not yet
            money = D(rng.choice(["0.00", "99.99", "100.00", "100.00", "250.50", "1000.00"]))
            status = rng.choice(STATUSES)
            theirs = rng.random() < 0.1
            receipt = Receipt(
                terminal=terminal,
                store=terminal.store,
                partner=terminal.store.partner,
                receipt_id=f"{customer.pk}-{n}",
                customer=customer,
                currency=other if theirs else currency,
                sold_at=sold_at,
                status=status,
                total=money,
                to_pay=money,
            )
            back = D("0")
            if status == Receipt.Status.PARTIALLY_REFUNDED:
                back = (money * D(rng.choice(["0.1", "0.5", "1"]))).quantize(D("0.01"))
            rows.append((receipt, back))
            receipts.append(
                {
                    "customer": customer.pk,
                    "sold_at": sold_at,
                    "counts": not theirs
                    and status in (Receipt.Status.CONFIRMED, Receipt.Status.PARTIALLY_REFUNDED),
                    "money": money - back,
                }
            )
    Receipt.objects.bulk_create([receipt for receipt, _back in rows])
    for number, (receipt, back) in enumerate(rows):
        if back:
            Refund.objects.create(
                receipt=receipt, terminal=terminal, kind=Refund.Kind.REFUND,
                refund_id=f"F{number}", fingerprint="x", to_pay=back, amount=back,
            )  # fmt: skip
    gone = rng.sample(customers, 2)
    Customer.objects.filter(pk__in=[c.pk for c in gone]).update(is_anonymised=True)
    receipts = [row for row in receipts if row["customer"] not in {c.pk for c in gone}]
    quintiles = scheme_make(programme, code="q", window_days=rng.choice([30, 90, 365, 400]))
    thresholds = scheme_make(
        programme,
        code="t",
        window_days=rng.choice([30, 90, 365]),
        **{
            field: value
            for dimension in ("recency", "frequency", "monetary")
            for field, value in (
                (f"{dimension}_scoring", "thresholds"),
                (f"{dimension}_bounds", _bounds(rng, dimension)),
            )
        },
    )

    for scheme in (quintiles, thresholds):
        rfm_recompute(scheme.pk, now=now)
        got = {
            s.customer_id: (s.r, s.f, s.m, s.recency_days, s.frequency, s.monetary, s.cell)
            for s in RfmScore.objects.filter(scheme=scheme)
        }
        assert got == expected(scheme, receipts, now), scheme.code
