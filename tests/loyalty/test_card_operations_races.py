"""A merge racing a purchase of the merged customer on PostgreSQL: no points are lost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from crm.models import Customer
from loyalty.models import Account
from loyalty.services.card_operations import customers_merge, merged_leftovers_sweep
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer
from tests.processing.test_races import together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


def request(card, receipt_id):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card.number,
        lines=(PurchaseLine(1, "SKU", D("1"), D("1000.00")),),
    )


@pytest.mark.parametrize("attempt", range(6))
def test_merge_while_a_purchase_confirms_loses_no_points(attempt, assert_ledger_consistent):
    # given: gone has 100 points; a purchase of gone will earn 100 more
    world = coalition(percent="10")
    gone = CustomerFactory()
    gone_card = ActiveCardFactory(programme=world.programme, customer=gone)
    confirm_answer(world.terminal, request(gone_card, "G1"))

    # when: the merge and the purchase run at the same moment
    def work(i):
        if i == 0:
            return customers_merge(
                keep=Customer.objects.get(pk=world.customer.pk),
                gone=Customer.objects.get(pk=gone.pk),
            )
        return confirm_answer(world.terminal, request(gone_card, "G2"))

    _answers, errors = together(2, work)
    assert errors == [None, None]
    merged_leftovers_sweep()

    # then: all 200 points are the kept customer's, none stayed on the merged one
    kept = Account.objects.filter(customer=world.customer).aggregate(total=Sum("balance"))
    assert kept["total"] == D("200.00")
    assert Account.objects.get(customer=gone).balance == D("0.00")
    assert_ledger_consistent()
