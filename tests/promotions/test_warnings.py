"""Warnings for the marketer on save: overlapping active promotions outside any group, an
exclusive promotion in a group of mode "all", a multiplier of a promotion that is not active.
They are warnings: the save happens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import constants
from django.urls import reverse
from django.utils import timezone, translation

from promotions.models import Promotion
from promotions.warnings import promotion_warnings
from tests.factories.loyalty import PartnerFactory, ProgrammeFactory
from tests.factories.processing import coalition
from tests.factories.promotions import group, promotion
from tests.promotions.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db
POINTS = [{"kind": "points_fixed", "value": 10}]


@pytest.fixture
def world():
    return coalition(percent="2")  # "Base bonus": active, coalition-wide, no group, no end


def _english(promotion) -> list[str]:
    with translation.override("en"):
        return promotion_warnings(promotion)


def test_an_active_promotion_overlapping_another_outside_any_group_is_named(world):
    # when
    spring = promotion(world, "Spring", partner=world.partner, rewards=POINTS)
    # then
    (warning,) = _english(spring)
    assert warning.startswith(
        "“Spring” runs at the same time as the active promotion “Base bonus”, and neither is "
        "in a compatibility group"
    )
    assert "put both in one compatibility group" in warning
    assert _english(world.promotion)[0].startswith("“Base bonus” runs at the same time as")


def test_what_does_not_overlap_is_not_reported(world):
    # given: the base promotion is the only other one that could overlap, and it does not
    now = timezone.now()
    Promotion.objects.filter(pk=world.promotion.pk).update(ends_at=now - timedelta(days=30))
    other_partner = PartnerFactory()
    promotion(world, "B's", partner=other_partner, rewards=POINTS)
    promotion(world, "Paused", status="paused", rewards=POINTS)
    promotion(world, "In a group", group=group(world, "Accrual", "first"), rewards=POINTS)
    promotion(world, "Next month", starts_at=now + timedelta(days=30), rewards=POINTS)
    elsewhere = ProgrammeFactory(code="elsewhere", name="Elsewhere")
    Promotion.objects.create(programme=elsewhere, name="Elsewhere", status="active")
    # when
    spring = promotion(world, "Spring", partner=world.partner, starts_at=now - timedelta(days=1),
                       ends_at=now + timedelta(days=29), rewards=POINTS)  # fmt: skip
    draft = promotion(world, "Draft", status="draft", rewards=POINTS)
    grouped = promotion(world, "Grouped", group=group(world, "Other", "best"), rewards=POINTS)
    # then
    assert _english(spring) == []
    assert _english(draft) == []
    assert _english(grouped) == []


def test_a_coalition_wide_promotion_overlaps_every_partners_and_several_are_listed(world):
    # when
    promotion(world, "At A", partner=world.partner, priority=5, rewards=POINTS)
    promotion(world, "At B", partner=PartnerFactory(), rewards=POINTS)
    # then
    (warning,) = _english(world.promotion)
    assert "the active promotions “At A”, “At B”, and none of them" in warning


def test_a_multiplier_and_the_promotion_it_multiplies_are_meant_to_add_up(world):
    # when
    double = promotion(world, "x2 base", rewards=[
        {"kind": "points_multiplier", "value": 2, "multiplier_of": world.promotion}
    ])  # fmt: skip
    # then
    assert _english(double) == []
    assert _english(world.promotion) == []


def test_an_exclusive_promotion_in_a_group_of_mode_all(world):
    # given
    together = group(world, "Together", "all")
    # when
    exclusive = promotion(world, "Exclusive", group=together, exclusive=True, rewards=POINTS)
    in_first = promotion(world, "First", group=group(world, "First", "first"), exclusive=True,
                         rewards=POINTS)  # fmt: skip
    # then
    (warning,) = _english(exclusive)
    assert warning == (
        "“Exclusive” is exclusive and in the group “Together”, whose mode is “all”. The group "
        "lets its promotions add up, but the exclusive flag still stops every lower-priority "
        "promotion, of this group or any other, on the lines it rewards. Untick “exclusive” if "
        "they should add up."
    )
    assert _english(in_first) == []


def test_a_multiplier_of_a_promotion_that_is_not_active(world):
    # given
    Promotion.objects.filter(pk=world.promotion.pk).update(status="paused")
    # when
    double = promotion(world, "x2 base", rewards=[
        {"kind": "points_multiplier", "value": 2, "multiplier_of": world.promotion},
        {"kind": "points_multiplier", "value": 3, "multiplier_of": world.promotion},
    ])  # fmt: skip
    # then
    assert _english(double) == [
        "“x2 base” multiplies the points of “Base bonus”, whose status is “paused”: the "
        "multiplier gives nothing until that promotion is active."
    ]
    Promotion.objects.filter(pk=world.promotion.pk).update(status="active")
    assert _english(double) == []


def test_the_warnings_speak_russian(world):
    # given: an exclusive x2 of a draft, in a group of mode "all"; then "Spring" beside the base
    Promotion.objects.filter(pk=world.promotion.pk).update(status="draft")
    double = promotion(world, "x2", group=group(world, "Together", "all"), exclusive=True,
                       rewards=[{"kind": "points_multiplier", "value": 2,
                                 "multiplier_of": world.promotion}])  # fmt: skip
    with translation.override("ru"):
        # when
        exclusive, multiplier = promotion_warnings(double)
        Promotion.objects.filter(pk=world.promotion.pk).update(status="active")
        (overlap,) = promotion_warnings(promotion(world, "Spring", rewards=POINTS))
    # then
    assert exclusive.startswith("«x2» — исключительная акция в группе «Together» с режимом «все»")
    assert "статус «черновик»" in multiplier
    assert overlap.startswith("«Spring» действует одновременно с активной акцией «Base bonus»")


def test_the_admin_saves_and_warns(world, admin_client):
    # given: an exclusive x2 of a paused promotion, in a group of mode "all"
    Promotion.objects.filter(pk=world.promotion.pk).update(status="paused")
    together = group(world, "Together", "all")
    double = promotion(world, "x2 base", status="draft", rewards=[
        {"kind": "points_multiplier", "value": 2, "multiplier_of": world.promotion}
    ])  # fmt: skip
    change = reverse("admin:promotions_promotion_change", args=[double.pk])
    data = admin_form_data(admin_client.get(change))
    data.update(status="active", group=together.pk, exclusive="on")
    # when
    response = admin_client.post(change, data, follow=True)
    # then: saved, with two warnings and the usual success message
    double.refresh_from_db()
    assert (double.status, double.group, double.exclusive) == ("active", together, True)
    levels = [(m.level, str(m)) for m in response.context["messages"]]
    warnings = [text for level, text in levels if level == constants.WARNING]
    assert len(warnings) == 2
    assert "whose mode is “all”" in warnings[0]
    assert "whose status is “paused”" in warnings[1]
    assert any(level == constants.SUCCESS for level, _text in levels)
    # when: out of the group, both active and outside any group overlap
    Promotion.objects.filter(pk=world.promotion.pk).update(status="active")
    data = admin_form_data(admin_client.get(change))
    data.update(group="", exclusive="")
    data.pop("exclusive")
    response = admin_client.post(change, data, follow=True)
    # then: they add up by design (a multiplier and its promotion): nothing to say
    assert [m for m in response.context["messages"] if m.level == constants.WARNING] == []
    spring = promotion(world, "Spring", status="draft", rewards=POINTS)
    change = reverse("admin:promotions_promotion_change", args=[spring.pk])
    data = admin_form_data(admin_client.get(change))
    data["status"] = "active"
    response = admin_client.post(change, data, follow=True)
    (warning,) = [str(m) for m in response.context["messages"] if m.level == constants.WARNING]
    assert "“Spring” runs at the same time as the active promotions “Base bonus”, “x2 base”" in (
        warning
    )
