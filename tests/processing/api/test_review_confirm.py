"""Regressions of the outside review of the POS API that concern confirm (issue 12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.models import TierMembership
from tests.factories.loyalty import TierFactory
from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db

CONFIRM = API + "purchases/confirm"


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+00:00",  # the review's year 0001
        "2001-09-09T01:46:40+00:00",
        "31 days ago",  # just beyond the 30-day offline window
        "in 10 minutes",  # beyond the tolerance of a register's clock
    ],
)
def test_online_confirm_refuses_a_time_of_sale_out_of_the_offline_window(
    world, client, row_counts, moment
):
    # given a programme with a tier a big purchase would reach
    world.programme.offline_window_days = 30
    world.programme.save()
    TierFactory(programme=world.programme, name="Gold", threshold="1000.00", rank=2)
    now = timezone.now()
    if moment == "31 days ago":
        moment = (now - timedelta(days=31)).isoformat()
    elif moment == "in 10 minutes":
        moment = (now + timedelta(minutes=10)).isoformat()
    before = row_counts()
    # when the register confirms a receipt sold at that time
    response = client.post(CONFIRM, purchase_body(world, datetime=moment), format="json")
    # then it is refused as the guide says, and nothing changed: no receipt, no tier
    assert_problem(response, 422, "datetime_out_of_window")
    assert row_counts() == before
    assert not TierMembership.objects.filter(customer=world.customer).exists()


def test_online_confirm_takes_a_time_of_sale_inside_the_window(world, client):
    moment = (timezone.now() - timedelta(days=29)).isoformat()
    response = client.post(CONFIRM, purchase_body(world, datetime=moment), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"


def test_a_hold_answers_its_points_in_the_currencys_places(world, client):
    # a calculate with a hold that spends nothing still says "0.00", as every amount does
    body = purchase_body(world, "HOLD-1", hold=True)
    answer = client.post(API + "purchases/calculate", body, format="json").json()
    assert answer["hold"]["points"] == "0.00"
    spending = purchase_body(world, "HOLD-2", hold=True, spend_points="max")
    answer = client.post(API + "purchases/calculate", spending, format="json").json()
    assert answer["hold"]["points"] == answer["points_spent"]
