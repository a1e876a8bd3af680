"""In a real browser: a marketer goes from the segments list to "New from a ready
segmentation", picks the churn risk, previews the size of each band, sees a bad band refused
on its field, creates the segments and finds them in the list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Segment
from tests.browser import log_in, screenshot
from tests.crm.segments.test_behaviour import buy
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ProgrammeFactory, TerminalFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "s3cret-pass"


def test_a_marketer_previews_and_creates_churn_risk_bands(live_server, browser_page):
    # given: one customer every ten days, the last thirty days ago (three times overdue)
    programme = ProgrammeFactory(name="City Bonus")
    terminal = TerminalFactory()
    now = timezone.now()
    gone = CustomerFactory()
    for back in (50, 40, 30):
        buy(gone, terminal, now - timedelta(days=back), ("10.00", "0", None))
    get_user_model().objects.create_superuser("marketer", "m@example.com", PASSWORD)
    page = browser_page
    log_in(page, live_server.url, "marketer", PASSWORD, "/admin/crm/segment/")

    # when: the list's link, the type, a preview
    page.click("#segmentation-link")
    page.click("#segmentation-types >> text=Churn risk")
    page.wait_for_selector("#segmentation-form")
    assert page.input_value("#id_medium_from") == "1.5"
    page.fill("#id_high_from", "1")
    page.click("input[name=_preview]")
    page.wait_for_selector("text=The high band must start above the medium one.")

    # then: the bad band is refused on its field, nothing is made
    assert "The high band must start above the medium one." in page.inner_text("#segmentation-form")
    assert not Segment.objects.exists()

    page.fill("#id_high_from", "3")
    page.click("input[name=_preview]")
    page.wait_for_selector("#segmentation-preview td.size")
    sizes = page.locator("#segmentation-preview td.size").all_inner_texts()
    assert sizes == ["0", "0", "1"]
    screenshot(page, "segmentation.png")
    page.click("input[name=_create]")
    page.wait_for_url(lambda url: "/admin/crm/segment/?" in url)

    # then: three ordinary rule segments, listed
    text = page.inner_text("#result_list")
    assert "Churn risk (churn-risk): high" in text
    assert set(Segment.objects.values_list("code", "size")) == {
        ("churn-risk-low", 0),
        ("churn-risk-medium", 0),
        ("churn-risk-high", 1),
    }
    assert Segment.objects.get(code="churn-risk-high").programme == programme
