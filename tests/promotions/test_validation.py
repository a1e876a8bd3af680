"""What the builder refuses across rows, with messages a marketer understands."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from promotions.models import Condition, ProductSet, Promotion, Reward
from tests.factories.loyalty import CurrencyFactory, ProgrammeFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion

pytestmark = pytest.mark.django_db


def _errors(obj) -> dict:
    with pytest.raises(ValidationError) as failure:
        obj.full_clean()
    return failure.value.message_dict


def test_multipliers_may_not_go_round_in_a_circle():
    world = coalition(percent="2")
    double = promotion(
        world,
        "x2 base",
        rewards=[{"kind": "points_multiplier", "value": 2, "multiplier_of": world.promotion}],
    )
    back = Reward(
        promotion=world.promotion,
        kind=Reward.Kind.POINTS_MULTIPLIER,
        value=Decimal(3),
        multiplier_of=double,
        currency=world.currency,
    )
    assert "in a circle" in _errors(back)["multiplier_of"][0]
    with translation.override("ru"):
        assert "по кругу" in _errors(back)["multiplier_of"][0]


def test_a_reward_may_not_reach_into_another_programme():
    world = coalition(percent="2")
    other_programme = ProgrammeFactory(code="other")
    CurrencyFactory(programme=other_programme, code="other-bonus")
    elsewhere = ProductSet.objects.create(programme=other_programme, name="Elsewhere")
    reward = Reward(
        promotion=world.promotion,
        kind=Reward.Kind.DISCOUNT_PERCENT,
        value=Decimal(5),
        product_set=elsewhere,
    )
    assert "product_set" in _errors(reward)
    condition = Condition(promotion=world.promotion, kind="contains", product_set=elsewhere)
    assert "product_set" in _errors(condition)
    abroad = Promotion.objects.create(programme=other_programme, name="Abroad")
    foreign = Reward(
        promotion=world.promotion,
        kind=Reward.Kind.POINTS_MULTIPLIER,
        value=Decimal(2),
        multiplier_of=abroad,
        currency=world.currency,
    )
    assert "same programme" in _errors(foreign)["multiplier_of"][0]
