"""In a real browser, without the mouse: the simulator's product picker suggests products by
name, adds a line from the keyboard, and the result names the product."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.browser import log_in
from tests.processing.simulated import world_with_products

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_product_picker_adds_a_line_from_the_keyboard(live_server, browser_page):
    world = world_with_products()
    get_user_model().objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    page = browser_page
    log_in(page, live_server.url, "marketer", "s3cret-pass")
    page.goto(f"{live_server.url}/admin/promotions/promotion/simulator/")
    page.select_option("#id_terminal", str(world.terminal.pk))
    page.focus("#product-search")
    page.keyboard.type("lemon")
    page.wait_for_selector("#product-options option[value=A]", state="attached")
    page.fill("#product-search", "A")
    page.keyboard.press("Enter")  # to the quantity
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    page.keyboard.type("89.90")
    page.keyboard.press("Enter")  # the line is added
    assert page.input_value("#id_lines") == "A 2 89.90"
    page.click("input[name=calculate]")
    page.wait_for_selector("#simulation-totals")
    assert "Lemonade" in page.inner_text("#simulation-lines")
    assert "179.80" in page.inner_text("#simulation-totals")  # 2 x 89.90
    assert "store time" in page.inner_text("#simulation-clock")
