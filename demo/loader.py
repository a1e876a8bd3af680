"""The demo coalition: a city's partners, stores, catalogue, customers and purchase history.

It lives in ``demo``, an outer app, because it reads and fills every core app (loyalty, crm,
promotions), and only the outer apps may depend on all of them. Loading is idempotent: every
row has a natural key, and the history is written only when the demo terminals have no
receipts yet, all in one transaction, so a second run (or a run after a failed one) changes
nothing.

``load_demo`` loads ``demo.coalition`` (the programme, partners, stores and terminals,
promotions, gift certificates), ``demo.catalogue``, ``demo.customers`` (customers and their
cards) and ``demo.history`` (the purchases, tiers and counters).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm.models import Customer
from demo.catalogue import catalogue_load
from demo.coalition import (
    CURRENCY_CODE,
    gift_certificates_load,
    lifecycle_promotions_load,
    partners_load,
    programme_load,
    promotions_load,
    stores_and_terminals_load,
)
from demo.customers import cards_load, customers_load
from demo.history import history_load
from demo.language import say, speaking
from loyalty.models import (
    Account,
    Card,
    Counter,
    Posting,
    Product,
    Receipt,
    RfmCell,
    RfmRun,
    RfmScheme,
)
from loyalty.rfm.cells import STANDARD_MAP, standard_cells_create
from loyalty.rfm.compute import rfm_recompute
from loyalty.services.ledger import ledger_rollup


@dataclass
class DemoSummary:
    created: bool
    partners: int
    stores: int
    terminals: int
    products: int
    customers: int
    cards: int
    receipts: int
    postings: int


def load_demo(
    *,
    customers: int = 2000,
    months: int = 4,
    seed: int = 2026,
    now: datetime | None = None,
    language: str = "en",
) -> DemoSummary:
    """Load the demo coalition, its names in ``language`` (en or ru: ``demo.language``);
    return what is there. Idempotent (see the module docstring)."""
    rng = random.Random(seed)
    now = now or timezone.now()
    with speaking(language), transaction.atomic():
        programme, currency = programme_load()
        partners = partners_load()
        stores, terminals = stores_and_terminals_load(partners, rng)
        products_by_partner = catalogue_load(partners, rng)
        promotions_load(programme, currency)
        lifecycle_promotions_load(programme, currency)
        gift_certificates_load(programme, now)
        counter = Counter.objects.get_or_create(
            programme=programme,
            code="purchases",
            defaults={"name": say("Purchases, all time"), "unit": Counter.Unit.PURCHASES},
        )[0]
        demo_terminal_ids = [t.pk for t in terminals]
        created = not Receipt.objects.filter(terminal_id__in=demo_terminal_ids).exists()
        if created and not Customer.objects.filter(source=Customer.Source.DEMO).exists():
            people = customers_load(customers, rng, now)
            cards = cards_load(programme, people, rng, now)
            history_load(
                programme,
                currency,
                counter,
                people,
                cards,
                terminals,
                products_by_partner,
                rng,
                now,
                months,
            )
            ledger_rollup()
        rfm_load(programme, now)
    return DemoSummary(
        created=created,
        partners=len(partners),
        stores=len(stores),
        terminals=len(terminals),
        products=Product.objects.count(),
        customers=Customer.objects.filter(source=Customer.Source.DEMO).count(),
        cards=Card.objects.filter(batch__code__startswith="DEMO-").count(),
        receipts=Receipt.objects.filter(terminal_id__in=demo_terminal_ids).count(),
        postings=Posting.objects.count(),
    )


def rfm_load(programme, now: datetime) -> None:
    """The programme's yearly RFM scheme with the standard map, computed once (its first run
    is the demo's; the nightly job computes it afterwards)."""
    scheme, made = RfmScheme.objects.get_or_create(
        programme=programme, code="yearly", defaults={"name": say("Yearly RFM")}
    )
    if not made:
        return
    standard_cells_create(scheme)
    for spec in STANDARD_MAP:
        RfmCell.objects.filter(scheme=scheme, code=spec.code).update(name=say(str(spec.name)))
    rfm_recompute(scheme.pk, now=now, trigger=RfmRun.Trigger.SCHEDULE)


def demo_account_ids() -> list[int]:
    return list(Account.objects.filter(currency__code=CURRENCY_CODE).values_list("pk", flat=True))
