"""The model's invariants that the database itself enforces, and the one-row rules of clean()."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import Account, Card, Category, Currency, Product, Receipt, Store, Tier
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CardFactory,
    CategoryFactory,
    CurrencyFactory,
    CustomerAccountFactory,
    PartnerFactory,
    ProductFactory,
    ProgrammeFactory,
    ReceiptFactory,
    ReceiptLineFactory,
    StoreFactory,
    TerminalFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db


def violates(callable_):
    """Run ``callable_`` in a savepoint and return whether the database refused it."""
    try:
        with transaction.atomic():
            callable_()
    except IntegrityError:
        return True
    return False


def test_receipt_id_is_unique_per_terminal_only():
    # given a receipt on one terminal
    receipt = ReceiptFactory(receipt_id="0042-000173")
    other_terminal = TerminalFactory(store=receipt.store)
    # when the same id comes from the same terminal / another terminal
    # then only the first is refused
    assert violates(lambda: ReceiptFactory(terminal=receipt.terminal, receipt_id="0042-000173"))
    assert not violates(lambda: ReceiptFactory(terminal=other_terminal, receipt_id="0042-000173"))


def test_receipt_totals_must_add_up():
    assert violates(
        lambda: ReceiptFactory(
            total=Decimal("100.00"), discount=Decimal("10.00"), to_pay=Decimal("100.00")
        )
    )
    assert not violates(
        lambda: ReceiptFactory(
            total=Decimal("100.00"),
            discount=Decimal("10.00"),
            points_spent=Decimal("0.01"),
            to_pay=Decimal("89.99"),
        )
    )
    assert violates(lambda: ReceiptFactory(total=Decimal("-1.00"), to_pay=Decimal("-1.00")))


def test_receipt_line_constraints():
    receipt = ReceiptFactory()
    ReceiptLineFactory(receipt=receipt, line_no=1)
    assert violates(lambda: ReceiptLineFactory(receipt=receipt, line_no=1))
    assert violates(lambda: ReceiptLineFactory(receipt=receipt, line_no=2, quantity=Decimal("0")))
    assert violates(lambda: ReceiptLineFactory(receipt=receipt, line_no=3, quantity=Decimal("-1")))
    assert violates(lambda: ReceiptLineFactory(receipt=receipt, line_no=4, price=Decimal("-0.01")))
    assert violates(
        lambda: ReceiptLineFactory(receipt=receipt, line_no=5, discount=Decimal("1.00"))
    )
    assert violates(
        lambda: ReceiptLineFactory(receipt=receipt, line_no=6, refunded_quantity=Decimal("2"))
    )
    assert not violates(
        lambda: ReceiptLineFactory(
            receipt=receipt,
            line_no=7,
            quantity=Decimal("0.350"),
            price=Decimal("199.99"),
            amount=Decimal("70.00"),
            discount=Decimal("7.00"),
            points_spent=Decimal("3.00"),
            to_pay=Decimal("60.00"),
            refunded_quantity=Decimal("0.350"),
        )
    )


def test_account_owner_must_match_its_kind():
    currency = CurrencyFactory()
    customer = CustomerFactory()
    partner = PartnerFactory()
    assert violates(lambda: Account.objects.create(kind=Account.Kind.CUSTOMER, currency=currency))
    assert violates(
        lambda: Account.objects.create(
            kind=Account.Kind.PARTNER, currency=currency, customer=customer
        )
    )
    assert violates(
        lambda: Account.objects.create(
            kind=Account.Kind.PROGRAMME, currency=currency, partner=partner
        )
    )
    assert not violates(
        lambda: Account.objects.create(kind=Account.Kind.PROGRAMME, currency=currency)
    )


def test_one_account_per_customer_and_currency():
    account = CustomerAccountFactory()
    assert violates(
        lambda: CustomerAccountFactory(customer=account.customer, currency=account.currency)
    )
    chips = CurrencyFactory(code="chips", is_default=False)
    assert not violates(lambda: CustomerAccountFactory(customer=account.customer, currency=chips))


def test_customer_balance_cannot_go_below_its_debt_limit_even_by_raw_update():
    # given an empty customer account (services are bypassed on purpose)
    account = CustomerAccountFactory()
    # then the database refuses a negative balance, unless a debt limit allows it
    assert violates(lambda: Account.objects.filter(pk=account.pk).update(balance=Decimal("-0.01")))
    Account.objects.filter(pk=account.pk).update(debt_limit=Decimal("100"))
    assert not violates(
        lambda: Account.objects.filter(pk=account.pk).update(balance=Decimal("-100"))
    )
    assert violates(
        lambda: Account.objects.filter(pk=account.pk).update(balance=Decimal("-100.01"))
    )
    assert violates(lambda: Account.objects.filter(pk=account.pk).update(pending=Decimal("-1")))
    assert violates(lambda: Account.objects.filter(pk=account.pk).update(held=Decimal("-1")))


def test_a_refund_may_take_the_balance_below_a_hold_but_nothing_becomes_spendable():
    account = CustomerAccountFactory()
    Account.objects.filter(pk=account.pk).update(balance=Decimal("50"))
    assert not violates(lambda: Account.objects.filter(pk=account.pk).update(held=Decimal("60")))
    account.refresh_from_db()
    assert account.available == Decimal("0")


def test_card_status_rules():
    customer = CustomerFactory()
    assert violates(lambda: CardFactory(status=Card.Status.NEW, customer=customer))
    assert violates(
        lambda: CardFactory(status=Card.Status.ACTIVE, customer=customer, activated_at=None)
    )
    assert violates(lambda: CardFactory(status=Card.Status.BLOCKED, blocked_at=None))
    assert violates(lambda: CardFactory(status=Card.Status.REPLACED, replaced_by=None))
    card = ActiveCardFactory()
    assert violates(lambda: CardFactory(number=card.number))
    assert not violates(lambda: CardFactory(status=Card.Status.ISSUED, issued_at=timezone.now()))


def test_card_cannot_replace_itself():
    card = ActiveCardFactory()
    assert violates(
        lambda: Card.objects.filter(pk=card.pk).update(
            status=Card.Status.REPLACED, replaced_by=card
        )
    )


def test_tiers_have_unique_ranks_and_increasing_thresholds():
    programme = ProgrammeFactory()
    TierFactory(programme=programme, code="base", rank=1, threshold=Decimal("0"))
    TierFactory(programme=programme, code="gold", rank=3, threshold=Decimal("50000"))
    assert violates(lambda: TierFactory(programme=programme, code="other", rank=1))
    silver = Tier(
        programme=programme, code="silver", name="Silver", rank=2, threshold=Decimal("60000")
    )
    with pytest.raises(ValidationError) as error:
        silver.full_clean()
    assert "threshold" in error.value.message_dict
    silver.threshold = Decimal("15000")
    silver.full_clean()


def test_only_one_default_currency_per_programme():
    currency = CurrencyFactory()
    assert violates(
        lambda: Currency.objects.create(
            programme=currency.programme, code="stars", name="Stars", is_default=True
        )
    )


def test_product_sku_is_unique_in_the_shared_catalogue_and_per_partner():
    ProductFactory(sku="4601234567892")
    assert violates(lambda: ProductFactory(sku="4601234567892"))
    partner = PartnerFactory()
    ProductFactory(sku="MATTRESS-A", partner=partner)
    assert violates(lambda: ProductFactory(sku="MATTRESS-A", partner=partner))
    assert not violates(lambda: ProductFactory(sku="MATTRESS-A", partner=PartnerFactory()))
    assert not violates(lambda: ProductFactory(sku="MATTRESS-A"))
    assert Product.objects.filter(sku="MATTRESS-A").count() == 3


def test_category_cannot_sit_inside_itself():
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    root.parent = child
    with pytest.raises(ValidationError) as error:
        root.full_clean()
    assert error.value.error_dict["parent"][0].code == "category_cycle"
    assert [c.pk for c in Category.objects.get(pk=child.pk).ancestors()] == [root.pk]


def test_store_time_zone_and_dates_are_validated():
    store = StoreFactory.build(partner=PartnerFactory(), timezone="Nowhere/Void")
    with pytest.raises(ValidationError) as error:
        store.full_clean()
    assert "timezone" in error.value.message_dict
    assert violates(
        lambda: StoreFactory(
            opened_at=timezone.localdate(),
            closed_at=timezone.localdate() - timezone.timedelta(days=1),
        )
    )
    assert Store.objects.count() == 0


def test_partner_tax_id_is_checked_by_full_clean_and_unique():
    partner = PartnerFactory()
    partner.tax_id = "7707083894"
    with pytest.raises(ValidationError):
        partner.full_clean()
    assert violates(lambda: PartnerFactory(tax_id=PartnerFactory().tax_id))


def test_programme_settings_ranges():
    assert violates(lambda: ProgrammeFactory(code="p2", max_spend_percent=Decimal("100.01")))
    assert violates(lambda: ProgrammeFactory(code="p3", min_money_payment=Decimal("-1")))


def test_receipt_str_and_money_defaults():
    receipt = ReceiptFactory()
    assert receipt.points_earned == Decimal("0")
    assert Receipt.objects.get(pk=receipt.pk).total == Decimal("100.00")
