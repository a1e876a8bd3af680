"""What the browser tests share: signing in through the admin's login page."""

from __future__ import annotations

import os
from pathlib import Path


def log_in(page, base: str, username: str, password: str, next_url: str = "/admin/") -> None:
    """Sign in on the admin's login page and wait until the page behind it has loaded."""
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form [type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    page.wait_for_load_state()


def log_out(page) -> None:
    """Sign out by submitting the account menu's log-out form (the menu itself is a pop-up)."""
    with page.expect_navigation():
        page.locator("#logout-form").evaluate("form => form.requestSubmit()")
    page.wait_for_load_state()


def pick(page, select_id: str, text: str) -> None:
    """Choose in an autocomplete (select2) picker: open it, type, click the match that shows
    ``text`` (the search answers asynchronously)."""
    page.click(f"#{select_id} ~ .select2-container .select2-selection")
    search = page.locator(".select2-container--open .select2-search__field").last
    search.fill(text)
    option = page.locator(".select2-container--open .select2-results__option", has_text=text)
    option.first.click()


def screenshot(page, name: str) -> None:
    """With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), save the whole page as
    ``name`` there: the guides' screenshots come from the browser tests."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def builder_open(page, base: str) -> None:
    """The promotion builder's add page, once its script has laid the form out."""
    page.goto(base + "/admin/promotions/promotion/add/")
    page.wait_for_selector("#promotion_form[data-builder-ready]", state="attached")


def summary_contains(page, text: str) -> None:
    """Wait until the builder's one-line rule says ``text``."""
    page.wait_for_function(
        "t => document.getElementById('promotion-summary').textContent.includes(t)", arg=text
    )
