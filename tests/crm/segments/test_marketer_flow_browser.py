"""In a real browser, the issue's marketer: builds "bought at Pharmacy in the last 90 days AND
NOT in the last 30 AND in the RFM cell lost", sees its size before saving, saves and refreshes
it, gives it a promotion (+100 points to its members) in the promotion builder, and sees in
the receipt simulator that its member is rewarded and a customer outside it is not.

With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), the builder is saved as a
screenshot of docs/marketer-guide.md ("Segments").
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Segment, SegmentMember
from loyalty.rfm.compute import rfm_recompute
from promotions.models import Promotion
from tests.browser import builder_open, log_in, pick, summary_contains
from tests.crm.segments.test_builder_browser import (
    bought_at_pharmacy,
    builder_ready,
    screenshot_rule,
    size_is,
)
from tests.factories.loyalty import ActiveCardFactory, ProductFactory, ReceiptFactory
from tests.factories.processing import coalition
from tests.loyalty.rfm_helpers import scheme_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    """Pharmacy's customers: Anna bought there once 45 days ago (lost: long ago for this
    scheme's 7/14/21/28-day recency bounds, and once), Boris 45 and 10 days ago (bought this
    month), Clara five times 40-50 days ago (lapsed but frequent: can't lose, not lost)."""
    world = coalition(percent="5")
    ProductFactory(sku="ASP", name="Aspirin")
    world.partner.name = "Pharmacy"
    world.partner.save()
    now = timezone.now()
    anna = world.customer
    anna.first_name = "Anna"
    anna.save()
    boris_card = ActiveCardFactory(programme=world.programme, customer__first_name="Boris")
    clara_card = ActiveCardFactory(programme=world.programme, customer__first_name="Clara")
    bought = {
        anna: (45,),
        boris_card.customer: (45, 10),
        clara_card.customer: (40, 42, 45, 48, 50),
    }
    for customer, days in bought.items():
        for back in days:
            ReceiptFactory(
                terminal=world.terminal,
                customer=customer,
                currency=world.currency,
                sold_at=now - timedelta(days=back),
                receipt_id=f"past-{customer.pk}-{back}",
            )
    scheme = scheme_make(
        world.programme,
        name="Yearly RFM",
        recency_scoring="thresholds",
        recency_bounds="7, 14, 21, 28",
        frequency_scoring="thresholds",
        frequency_bounds="2, 3, 4, 5",
    )
    rfm_recompute(scheme.pk)
    get_user_model().objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    world.boris_card = boris_card
    world.scheme = scheme
    return world


def simulate(page, base: str, world, card) -> tuple[str, str]:
    """The simulator's fired and refused promotions for a 1,000.00 receipt of ``card``."""
    page.goto(base + "/admin/promotions/promotion/simulator/")
    page.select_option("#id_terminal", str(world.terminal.pk))
    page.fill("#id_card", card.number)
    page.fill("#id_lines", "ASP 1 1000.00")
    with page.expect_navigation():
        page.click("[name=calculate]")
    page.wait_for_selector("#simulation-totals")
    return page.inner_text("#simulation-fired"), page.inner_text("#simulation-blocked")


def test_pharmacy_lapsed_and_lost_in_a_promotion_and_the_simulator(
    live_server, browser_page, world
):
    page, base = browser_page, live_server.url
    log_in(page, base, "marketer", "s3cret-pass")

    # when the marketer builds the segment
    page.goto(base + "/admin/crm/segment/add/")
    builder_ready(page)
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_code", "pharmacy-lost")
    page.fill("#id_name", "Pharmacy, lapsed and lost")
    page.select_option("#id_kind", "rules")
    page.click("#rb > .rb-head .rb-add-condition")
    bought_at_pharmacy(page, 0, 90)
    size_is(page, 3)
    page.click("#rb > .rb-head .rb-add-condition")
    page.check("#rb-1-not")
    bought_at_pharmacy(page, 1, 30)
    size_is(page, 2)  # not Boris, who bought there 10 days ago
    page.click("#rb > .rb-head .rb-add-condition")
    page.select_option("#rb-2-kind", "rfm_cell")
    pick(page, "rb-2-scheme", "Yearly RFM")
    page.fill("#rb-2-cells", "lost")
    # then its size shows before it is saved: Anna alone (Clara is frequent: "can't lose")
    size_is(page, 1)
    assert "Anna" in page.inner_text("#rule-customers")
    screenshot_rule(page, "segment-rfm-lost.png")

    # when saved and refreshed
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")
    segment = Segment.objects.get(code="pharmacy-lost")
    assert segment.rule["items"][2] == {
        "kind": "rfm_cell",
        "not": False,
        "scheme": world.scheme.pk,
        "cells": ["lost"],
    }
    page.check(f"input.action-select[value='{segment.pk}']")
    page.select_option("select[name=action]", "refresh_now")
    with page.expect_navigation():
        page.locator("#changelist-form").evaluate("form => form.requestSubmit()")
    page.wait_for_selector(".messagelist .success")
    assert set(
        SegmentMember.objects.filter(segment=segment).values_list("customer", flat=True)
    ) == {world.customer.pk}

    # when a promotion gives the segment +100 points
    builder_open(page, base)
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Win back at Pharmacy")
    page.select_option("#id_status", "active")
    pick(page, "id_segments", "Pharmacy, lapsed and lost")
    page.select_option("#id_rewards-0-kind", "points_fixed")
    page.fill("#id_rewards-0-value", "100")
    pick(page, "id_rewards-0-currency", world.currency.code)
    page.click("#id_name")
    summary_contains(page, "+100")
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")
    promotion = Promotion.objects.get(name="Win back at Pharmacy")
    assert list(promotion.segments.all()) == [segment]

    # then the simulator rewards Anna, a member...
    fired, _refused = simulate(page, base, world, world.card)
    assert "Win back at Pharmacy" in fired
    assert "100" in fired
    # ...and not Boris, who is not one
    fired, refused = simulate(page, base, world, world.boris_card)
    assert "Win back at Pharmacy" not in fired
    assert "Win back at Pharmacy" in refused
    assert "not for this customer (segments)" in refused
