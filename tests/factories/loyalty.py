"""Factories for the loyalty app. Money and points are Decimal literals only."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from loyalty.models import (
    Account,
    Brand,
    Card,
    CardBatch,
    Category,
    Counter,
    Currency,
    FavouriteProduct,
    Partner,
    Product,
    ProductList,
    Programme,
    Receipt,
    ReceiptLine,
    Store,
    Terminal,
    Tier,
)
from loyalty.validators import ean13_check_digit, tax_id_check_digits


class ProgrammeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Programme
        django_get_or_create = ("code",)

    code = "city"
    name = "City Bonus"


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    programme = factory.SubFactory(ProgrammeFactory)
    code = "bonus"
    name = "Bonus points"
    decimal_places = 2
    rub_rate = Decimal("1.0000")
    is_default = True


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    code = factory.Sequence(lambda n: f"partner{n}")
    name = factory.Sequence(lambda n: f"Partner {n}")
    legal_name = factory.LazyAttribute(lambda o: f'LLC "{o.name}"')
    tax_id = factory.Sequence(lambda n: tax_id_check_digits(f"77{n:07d}"))
    trade = Partner.Trade.SUPERMARKET
    point_price = Decimal("1.0000")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    partner = factory.SubFactory(PartnerFactory)
    code = factory.Sequence(lambda n: f"STORE-{n}")
    name = factory.Sequence(lambda n: f"Store {n}")
    timezone = "Asia/Novosibirsk"


class TerminalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Terminal

    store = factory.SubFactory(StoreFactory)
    code = factory.Sequence(lambda n: f"T-{n}")


class CardBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CardBatch

    programme = factory.SubFactory(ProgrammeFactory)
    code = factory.Sequence(lambda n: f"BATCH-{n}")
    name = factory.Sequence(lambda n: f"Batch {n}")


def _card_number(n: int) -> str:
    payload = f"2799{n:08d}"
    return payload + ean13_check_digit(payload)


class CardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Card

    number = factory.Sequence(_card_number)
    programme = factory.SubFactory(ProgrammeFactory)
    status = Card.Status.NEW


class ActiveCardFactory(CardFactory):
    status = Card.Status.ACTIVE
    customer = factory.SubFactory("tests.factories.crm.CustomerFactory")
    issued_at = factory.LazyFunction(timezone.now)
    activated_at = factory.LazyFunction(timezone.now)


class CustomerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    kind = Account.Kind.CUSTOMER
    customer = factory.SubFactory("tests.factories.crm.CustomerFactory")
    currency = factory.SubFactory(CurrencyFactory)


class PartnerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    kind = Account.Kind.PARTNER
    partner = factory.SubFactory(PartnerFactory)
    currency = factory.SubFactory(CurrencyFactory)


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    programme = factory.SubFactory(ProgrammeFactory)
    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n + 1)
    threshold = factory.Sequence(lambda n: Decimal(n) * Decimal("1000.00"))


class CounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Counter

    programme = factory.SubFactory(ProgrammeFactory)
    code = factory.Sequence(lambda n: f"counter{n}")
    name = factory.Sequence(lambda n: f"Counter {n}")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    code = factory.Sequence(lambda n: f"cat{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"Brand {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    brand = factory.SubFactory(BrandFactory)


class ProductListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductList

    code = factory.Sequence(lambda n: f"list{n}")
    name = factory.Sequence(lambda n: f"List {n}")


class ReceiptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Receipt

    terminal = factory.SubFactory(TerminalFactory)
    store = factory.LazyAttribute(lambda o: o.terminal.store)
    partner = factory.LazyAttribute(lambda o: o.terminal.store.partner)
    receipt_id = factory.Sequence(lambda n: f"R-{n:06d}")
    sold_at = factory.LazyFunction(timezone.now)
    total = Decimal("100.00")
    to_pay = Decimal("100.00")


class ReceiptLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReceiptLine

    receipt = factory.SubFactory(ReceiptFactory)
    line_no = factory.Sequence(lambda n: n + 1)
    sku = "SKU"
    quantity = Decimal("1.000")
    price = Decimal("100.00")
    amount = Decimal("100.00")
    to_pay = Decimal("100.00")


def favourites(customer, programme, products, *, spend: str = "100.00") -> list[FavouriteProduct]:
    """``products`` as the customer's favourites in ``programme``, ranked in the order given
    (what the nightly recompute would write for purchases of them)."""
    return [
        FavouriteProduct.objects.create(
            customer=customer,
            programme=programme,
            product=product,
            rank=rank,
            spend=Decimal(spend),
            computed_at=timezone.now(),
        )
        for rank, product in enumerate(products, start=1)
    ]
