"""In a real browser: an operator finds a customer by phone, opens a ticket (the contacts
unmask), asks for an adjustment above the threshold (it waits); a supervisor approves it and
the balance changes.

With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), the console and the approvals page
are saved as the screenshots of docs/operator-guide.md.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from contactcenter.models import Adjustment, AdjustmentPolicy
from crm.models import Consent
from loyalty.models import Account, Posting
from loyalty.services.ledger import Actor, Leg, customer_account, posting_create, programme_account
from tests.browser import log_in, log_out, screenshot
from tests.factories.crm import ConsentFactory, CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, CurrencyFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret-pass"


def _user(username: str, *perms: str):
    user = get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return user


def _log_in(page, base: str, username: str, next_url: str) -> None:
    log_in(page, base, username, PASSWORD, next_url)


def test_operator_adjustment_waits_for_the_supervisor(live_server, browser_page, category):
    # given
    currency = CurrencyFactory(name="Bonus points")
    AdjustmentPolicy.objects.create(currency=currency, approval_threshold=Decimal("500"))
    customer = CustomerFactory(
        first_name="Irina", last_name="Sokolova", phone="+79161234567", email="irina@example.com"
    )
    ConsentFactory(customer=customer, channel=Consent.Channel.SMS)
    ActiveCardFactory(customer=customer, number="7700000000017")
    posting_create(
        kind=Posting.Kind.EARN,
        cause=Posting.Cause.ADJUSTMENT,
        actor=Actor.system("welcome"),
        description="Welcome points",
        legs=[
            Leg(
                account=customer_account(customer, currency),
                amount=Decimal("120"),
                expires_at=timezone.now() + timedelta(days=180),
            ),
            Leg(account=programme_account(currency), amount=Decimal("-120")),
        ],
    )
    _user("operator1", "contactcenter.use_console", "crm.view_customer")
    _user(
        "supervisor1",
        "contactcenter.use_console",
        "contactcenter.approve_adjustment",
        "contactcenter.view_contacts",
    )
    page = browser_page
    base = live_server.url

    # when: the operator finds the customer by phone, typed as spoken, then Enter
    _log_in(page, base, "operator1", "/staff/console/")
    page.keyboard.press("/")
    page.keyboard.type("8 916 123-45-67")
    page.keyboard.press("Enter")
    page.wait_for_selector("#customer-name")
    # then: the contacts are masked
    assert page.inner_text("#phone") == "+7 *** ***-**-67"
    assert page.inner_text("#email") == "i***@example.com"

    # when: a ticket is opened for the customer
    page.select_option("#id_category", str(category.pk))
    page.fill("#id_subject", "Points for receipt 123 are missing")
    page.click("#ticket-form button[type=submit]")
    page.wait_for_selector(".messagelist")
    # then: the contacts show in full
    assert page.inner_text("#phone") == "+79161234567"

    # when: an adjustment above the threshold is asked for
    page.check("#id_direction_0")  # credit
    page.fill("#id_amount", "800")
    page.fill("#id_reason", "Receipt 123 was not counted")
    page.click("#adjustment-form button[type=submit]")
    page.wait_for_selector(".messagelist .warning")
    # then: it waits, and the balance has not moved
    assert "waits for a supervisor" in page.inner_text(".messagelist")
    assert Adjustment.objects.get().status == Adjustment.Status.PENDING
    assert Account.objects.get(customer=customer).balance == Decimal("120")
    screenshot(page, "operator-console.png")
    log_out(page)
    page.wait_for_load_state()

    # when: the supervisor approves it
    _log_in(page, base, "supervisor1", "/staff/console/adjustments/")
    assert "Receipt 123 was not counted" in page.inner_text("#pending-adjustments")
    page.fill("#pending-adjustments input[name=note]", "Receipt found in the store's log")
    screenshot(page, "adjustment-approval.png")
    page.click("#pending-adjustments button.approve")
    page.wait_for_selector(".messagelist")

    # then: posted, and the customer's balance shows it
    assert Adjustment.objects.get().status == Adjustment.Status.APPLIED
    assert Account.objects.get(customer=customer).balance == Decimal("920")
    page.goto(f"{base}/staff/console/customer/{customer.pk}/")
    assert page.inner_text(f"#balances .balance[data-currency='{currency.code}']") == "920.00"


def test_an_operator_reaches_the_console_from_the_home_page(live_server, browser_page):
    # given an operator and a customer
    customer = CustomerFactory(first_name="Oleg", last_name="Petrov", phone="+79167654321")
    ActiveCardFactory(customer=customer, number="7700000000025")
    _user("operator2", "contactcenter.use_console", "crm.view_customer")
    page = browser_page
    base = live_server.url

    # when: the operator signs in, lands on the home page and searches from it
    log_in(page, base, "operator2", PASSWORD)
    page.wait_for_selector("#home-console-search")
    screenshot(page, "home-operator.png")
    assert page.locator("a[href='/staff/console/']").count() >= 1  # in the navigation too
    page.fill("#home-q", "8 916 765-43-21")
    page.click("#home-console-search [type=submit]")

    # then: the console shows the customer, in the same frame
    page.wait_for_selector("#customer-name")
    assert "Petrov" in page.inner_text("#customer-name")
    assert page.locator("#language-switch").count() == 1
