"""What the browser tests share: signing in through the admin's login page, the pickers, the
builder, and a back-test added through its page and read back figure by figure."""

from __future__ import annotations

import os
import re
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
    ``text`` (the search answers asynchronously), and see the picker hold it. A picker in a
    row just added may not open on the first click, and a click on a result list the next
    search was replacing chooses nothing: each is tried again, three times in all."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    chosen = ""
    for _attempt in range(3):
        page.click(f"#{select_id} ~ .select2-container .select2-selection")
        search = page.locator(".select2-container--open .select2-search__field").last
        try:
            search.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:
            continue
        search.fill(text)
        option = page.locator(".select2-container--open .select2-results__option", has_text=text)
        option.first.click()
        quiet(page)
        chosen = page.evaluate(
            "id => [...document.getElementById(id).selectedOptions].map(o => o.text).join()",
            select_id,
        )
        if text.casefold() in chosen.casefold():
            return
    raise AssertionError(f"{select_id} holds {chosen!r} after picking {text!r} three times")


def quiet(page) -> None:
    """Wait until the page has no request in flight (an autocomplete's earlier search, the
    builder's summary). On SQLite the live server's threads share one in-memory connection,
    and two requests at once can deadlock in the sqlite3 module (a hung CI run: a back-test
    saved while an autocomplete search was still running)."""
    page.wait_for_load_state("networkidle")


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


def summary_contains(page, text: str, timeout: float = 45_000) -> None:
    """Wait until the builder's one-line rule says ``text`` (the summary is asked of the server
    as the form changes: a loaded machine answers late, so the wait is long); on a timeout,
    say what it said instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "t => document.getElementById('promotion-summary').textContent.includes(t)",
            arg=text,
            timeout=timeout,
        )
        quiet(page)
    except PlaywrightTimeout:
        shown = page.inner_text("#promotion-summary")
        raise AssertionError(f"the summary says {shown!r}, not {text!r}") from None


def backtest_run(
    page, base: str, promotion: str, since, until, companions: tuple[str, ...] = ()
) -> dict:
    """Add a back-test of the promotion named ``promotion`` (with ``companions``, by name) over
    [``since``, ``until``) through its add page, and return its page's figures once it has
    run (``backtest_figures``). Without a broker the run is done when the page is saved (the
    task runs eagerly); with a broker and no worker (CI's Redis) it is run here, as a worker
    would."""
    from reports.models import Backtest
    from reports.services.backtests import backtest_perform

    page.goto(base + "/admin/reports/backtest/add/")
    pick(page, "id_promotion", promotion)
    for name in companions:
        pick(page, "id_companions", name)
    page.fill("#id_since_0", since.strftime("%Y-%m-%d"))
    page.fill("#id_since_1", since.strftime("%H:%M:%S"))
    page.fill("#id_until_0", until.strftime("%Y-%m-%d"))
    page.fill("#id_until_1", until.strftime("%H:%M:%S"))
    quiet(page)
    page.click("[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    backtest = Backtest.objects.get(pk=int(re.search(r"/backtest/(\d+)/", page.url)[1]))
    if backtest.status != Backtest.Status.DONE:
        backtest_perform(backtest_id=backtest.pk, run_number=backtest.run_number)
        page.reload()
    page.wait_for_selector("#backtest-state[data-finished='1']", state="attached")
    return backtest_figures(page)


def backtest_figures(page) -> dict:
    """A back-test page's figures by their label: the text shown, or for a table (by
    promotion, by currency, by band) its rows as lists of the cells' texts."""
    return page.evaluate(
        """() => {
          const found = {};
          for (const line of document.querySelectorAll('#content-main .field-line')) {
            const label = line.querySelector('label');
            const value = line.querySelector('.readonly');
            if (!label || !value) { continue; }
            const table = value.querySelector('table');
            found[label.textContent.trim()] = table
              ? [...table.querySelectorAll('tr')]
                  .filter(row => row.querySelector('td'))
                  .map(row => [...row.querySelectorAll('td')].map(td => td.innerText.trim()))
              : value.innerText.trim();
          }
          return found;
        }"""
    )
