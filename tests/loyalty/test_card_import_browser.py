"""In a real browser: back-office staff import a card CSV in the admin, see the preview,
confirm it and find the cards in the list."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from loyalty.models import Card, CardBatch
from loyalty.validators import luhn_check_digit
from tests.browser import log_in
from tests.factories.loyalty import CardBatchFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_import_cards_through_preview_and_confirm(live_server, browser_page, tmp_path):
    # given
    CardBatchFactory(code="WEB", check_digit=CardBatch.CheckDigit.LUHN)
    numbers = [p + luhn_check_digit(p) for p in ("880000000001", "880000000002")]
    csv_file = tmp_path / "cards.csv"
    csv_file.write_text(
        "number,batch,card_type,status,customer_phone\n"
        + "".join(f"{n},WEB,loyalty,new,\n" for n in numbers)
    )
    get_user_model().objects.create_superuser("office", "o@example.com", "s3cret-pass")
    page = browser_page
    log_in(page, live_server.url, "office", "s3cret-pass")

    # when: the file is uploaded, the preview lists both rows
    page.goto(f"{live_server.url}/admin/loyalty/card/import/")
    page.set_input_files("#id_import_file", str(csv_file))
    page.select_option("#id_format", "0")
    page.click("input[type=submit]")
    page.wait_for_selector("input[name=confirm]")
    preview = page.inner_text("#content")
    assert numbers[0] in preview
    assert numbers[1] in preview
    assert not Card.objects.exists()

    # when: confirmed
    page.click("input[name=confirm]")
    page.wait_for_selector(".messagelist")

    # then
    page.goto(f"{live_server.url}/admin/loyalty/card/?q={numbers[1]}")
    assert numbers[1] in page.inner_text("#result_list")
    assert set(Card.objects.values_list("number", flat=True)) == set(numbers)
