"""A small coalition ready for processing: a programme with its currency and a base promotion,
a partner with a store and a terminal, and a customer with an active card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from crm.models import Customer
from loyalty.models import Card, Currency, Partner, Programme, Store, Terminal
from promotions.models import Promotion, Reward
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CurrencyFactory,
    PartnerFactory,
    StoreFactory,
    TerminalFactory,
)


@dataclass
class Coalition:
    programme: Programme
    currency: Currency
    partner: Partner
    store: Store
    terminal: Terminal
    customer: Customer
    card: Card
    promotion: Promotion
    reward: Reward


def coalition(
    *,
    percent: str = "5",
    activation_delay_days: int = 0,
    lifetime_days: int | None = None,
    starts_at: datetime | None = None,
    **programme_settings,
) -> Coalition:
    currency = CurrencyFactory()
    programme = currency.programme
    for name, value in programme_settings.items():
        setattr(programme, name, value)
    programme.save()
    partner = PartnerFactory()
    store = StoreFactory(partner=partner)
    terminal = TerminalFactory(store=store)
    customer = CustomerFactory()
    card = ActiveCardFactory(customer=customer, programme=programme)
    promotion = Promotion.objects.create(
        programme=programme,
        name="Base bonus",
        status=Promotion.Status.ACTIVE,
        starts_at=starts_at or timezone.now() - timezone.timedelta(days=365),
    )
    reward = Reward.objects.create(
        promotion=promotion,
        kind=Reward.Kind.POINTS_PERCENT,
        value=Decimal(percent),
        currency=currency,
        activation_delay_days=activation_delay_days,
        lifetime_days=lifetime_days,
    )
    snapshot_invalidate()
    return Coalition(
        programme, currency, partner, store, terminal, customer, card, promotion, reward
    )
