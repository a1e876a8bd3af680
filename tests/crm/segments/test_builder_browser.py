"""In a real browser: a marketer builds the segment "bought at Pharmacy in the last 90 days AND
NOT bought there in the last 30 days AND (a woman OR aged 60 or more)" in the rule builder,
sees its size change with each condition and a named error at the condition left
incomplete, saves it, finds it again exactly as built (in English and in Russian), refreshes
it and gets the right members.

With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), the builder is saved as the
screenshots of docs/marketer-guide.md ("Segments").
"""

from __future__ import annotations

import datetime as dt
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Segment, SegmentMember
from tests.browser import log_in, pick, quiet
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    PartnerFactory,
    ProgrammeFactory,
    ReceiptFactory,
    StoreFactory,
    TerminalFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def size_is(page, size: int, timeout: float = 45_000) -> None:
    """Wait until the preview shows ``size`` customers (it is asked of the server, debounced,
    as the rule changes); on a timeout, say what it showed instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "n => { const p = document.getElementById('rule-preview');"
            " return p.dataset.state === 'ok' && p.dataset.size === String(n); }",
            arg=size,
            timeout=timeout,
        )
        quiet(page)
    except PlaywrightTimeout:
        shown = page.inner_text("#rule-preview")
        raise AssertionError(f"the preview says {shown!r}, not {size} customers") from None


def screenshot_rule(page, name: str) -> None:
    """With SCREENSHOTS_DIR set, save the segment's "Who is in it" part (the builder, the rule
    in words and the preview) as ``name`` there, in a window tall enough for the page's sticky
    buttons to stay below it."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        part = page.locator("fieldset:has(#rule-builder), .module:has(#rule-builder)").last
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": 4000})  # the bar below it
        part.screenshot(path=str(Path(folder) / name))
        page.set_viewport_size(size)


def builder_ready(page) -> None:
    page.wait_for_selector("#rule-builder[data-ready]", state="attached")


def born(years: int) -> dt.date:
    return timezone.localdate() - timedelta(days=365 * years + 30)


@pytest.fixture
def world():
    now = timezone.now()
    programme = ProgrammeFactory(name="City Bonus")
    pharmacy = PartnerFactory(name="Pharmacy")
    till = TerminalFactory(store=StoreFactory(partner=pharmacy))
    other = TerminalFactory(store=StoreFactory(partner=PartnerFactory(name="Megamart")))
    people = {
        "anna": CustomerFactory(first_name="Anna", gender="female", birth_date=born(30)),
        "boris": CustomerFactory(first_name="Boris", gender="female", birth_date=born(30)),
        "clara": CustomerFactory(first_name="Clara", gender="male", birth_date=born(40)),
        "dmitry": CustomerFactory(first_name="Dmitry", gender="male", birth_date=born(70)),
        "eva": CustomerFactory(first_name="Eva", gender="female", birth_date=born(30)),
    }
    for name, days in (("anna", 60), ("boris", 60), ("boris", 10), ("clara", 60), ("dmitry", 45)):
        ReceiptFactory(terminal=till, customer=people[name], sold_at=now - timedelta(days=days))
    ReceiptFactory(terminal=other, customer=people["eva"], sold_at=now - timedelta(days=20))
    get_user_model().objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    return programme, pharmacy, people


def bought_at_pharmacy(page, index: int, days: int) -> None:
    page.select_option(f"#rb-{index}-kind", "purchases")
    page.select_option(f"#rb-{index}-measure", "count")
    page.fill(f"#rb-{index}-min", "1")
    page.select_option(f"#rb-{index}-window", "last")
    page.fill(f"#rb-{index}-window-days", str(days))
    pick(page, f"rb-{index}-partners", "Pharmacy")


def test_a_marketer_builds_previews_saves_and_refreshes_a_rule_segment(
    live_server, browser_page, world
):
    programme, pharmacy, people = world
    page, base = browser_page, live_server.url
    log_in(page, base, "marketer", "s3cret-pass")

    # given the add page of a segment by rules, in the programme
    page.goto(base + "/admin/crm/segment/add/")
    builder_ready(page)
    page.select_option("#id_programme", str(programme.pk))
    page.fill("#id_code", "pharmacy-lapsed")
    page.fill("#id_name", "Pharmacy, lapsed this month")
    # (a segment filled by hand has no rule: the builder shows only for one by rules)
    assert not page.is_visible("#rule-builder")
    page.select_option("#id_kind", "rules")
    assert page.is_visible("#rule-builder")

    # when the marketer adds "bought at Pharmacy in the last 90 days"
    page.click("#rb > .rb-head .rb-add-condition")
    bought_at_pharmacy(page, 0, 90)
    # then the four who did are counted before anything is saved
    size_is(page, 4)

    # when a second condition is added, negated, and left without its measure
    page.click("#rb > .rb-head .rb-add-condition")
    page.check("#rb-1-not")
    page.select_option("#rb-1-kind", "purchases")
    # then the preview names the error at that condition's parameter
    page.wait_for_selector("#rb-1 [data-param=measure] .rb-error")
    assert "required" in page.inner_text("#rb-1 [data-param=measure] .rb-error")
    assert page.inner_text("#rule-error") == "2 purchases, measure: This parameter is required."
    assert "rb-invalid" in (page.get_attribute("#rb-1", "class") or "")
    screenshot_rule(page, "segment-builder-error.png")

    # when it is completed: NOT bought there in the last 30 days
    page.select_option("#rb-1-measure", "count")
    page.fill("#rb-1-min", "1")
    page.select_option("#rb-1-window", "last")
    page.fill("#rb-1-window-days", "30")
    pick(page, "rb-1-partners", "Pharmacy")
    size_is(page, 3)  # Boris bought there 10 days ago
    assert page.locator("#rb .rb-error").count() == 0

    # and a nested OR group: a woman, or aged 60 or more
    page.click("#rb > .rb-head .rb-add-group")
    page.select_option("#rb-2-op", "or")
    page.select_option("#rb-2-0-kind", "gender")
    page.check("#rb-2-0-genders-female")
    page.click("#rb-2 > .rb-head .rb-add-condition")
    page.select_option("#rb-2-1-kind", "age")
    page.fill("#rb-2-1-min", "60")
    size_is(page, 2)  # Anna, and Dmitry at 70; not Clara
    summary = page.inner_text("#rule-summary")
    assert summary == (
        "purchases (number of purchases, from: 1, in the last 90 days, at the partners: Pharmacy)"
        " AND NOT purchases (number of purchases, from: 1, in the last 30 days, at the partners:"
        " Pharmacy) AND (gender (gender: female) OR age (from, years: 60))"
    )
    shown = page.inner_text("#rule-customers")
    assert "Anna" in shown
    assert "Dmitry" in shown
    assert "Clara" not in shown
    screenshot_rule(page, "segment-builder.png")

    # when saved
    page.click("[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    segment = Segment.objects.get(code="pharmacy-lapsed")
    bought = {"kind": "purchases", "measure": "count", "min": "1", "partners": [pharmacy.pk]}
    assert segment.rule == {
        "op": "and",
        "not": False,
        "items": [
            {**bought, "not": False, "window": {"last_days": 90}},
            {**bought, "not": True, "window": {"last_days": 30}},
            {
                "op": "or",
                "not": False,
                "items": [
                    {"kind": "gender", "not": False, "genders": ["female"]},
                    {"kind": "age", "not": False, "min": 60},
                ],
            },
        ],
    }

    # then the page opens it in the builder exactly as saved, rows named
    builder_ready(page)
    assert page.evaluate("() => window.segmentRuleBuilder.serialize()") == segment.rule
    page.wait_for_function(
        "() => document.getElementById('rb-1-partners').selectedOptions[0].text === 'Pharmacy'"
    )
    chip = "#rb-1-partners ~ .select2-container .select2-selection__choice"
    page.wait_for_function(
        "s => (document.querySelector(s) || {}).textContent.includes('Pharmacy')", arg=chip
    )
    assert page.is_checked("#rb-1-not")
    assert page.input_value("#rb-1-window-days") == "30"
    assert page.input_value("#rb-2-op") == "or"
    size_is(page, 2)

    # when refreshed from the list
    page.goto(base + "/admin/crm/segment/")
    page.check(f"input.action-select[value='{segment.pk}']")
    page.select_option("select[name=action]", "refresh_now")
    with page.expect_navigation():
        page.locator("#changelist-form").evaluate("form => form.requestSubmit()")
    page.wait_for_selector(".messagelist .success")
    assert "2 members, 2 entered, 0 left" in page.inner_text(".messagelist")
    # then the members are the rule's
    members = set(SegmentMember.objects.filter(segment=segment).values_list("customer", flat=True))
    assert members == {people["anna"].pk, people["dmitry"].pk}

    # when a power user writes the JSON by hand, the builder follows it
    page.goto(f"{base}/admin/crm/segment/{segment.pk}/change/")
    builder_ready(page)
    page.click("#rule-json summary")
    page.fill("#id_rule", "{not json")
    page.wait_for_selector("#rule-builder-tree .rb-json-invalid")
    page.fill("#id_rule", '{"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}')
    page.wait_for_selector("#rb-0-genders-female:checked")
    assert page.input_value("#rb-0-kind") == "gender"
    size_is(page, 3)  # Anna, Boris, Eva

    # and the same builder in Russian
    page.goto(f"{base}/admin/crm/segment/{segment.pk}/change/")
    page.click("#language-switch button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    builder_ready(page)
    page.wait_for_function(
        "() => document.getElementById('rb-0-kind').selectedOptions[0].text === 'покупки'"
    )
    assert page.evaluate("() => window.segmentRuleBuilder.serialize()") == segment.rule
    size_is(page, 2)
    assert page.inner_text("#rule-summary").startswith("покупки (число покупок")
    page.wait_for_function(
        "s => (document.querySelector(s) || {}).textContent.includes('Pharmacy')", arg=chip
    )
    screenshot_rule(page, "segment-builder-ru.png")
