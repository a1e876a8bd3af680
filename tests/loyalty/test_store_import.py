"""Store import through the admin (an import job: check, summary, confirm), the row checks
(through the django-import-export resource) and the bulk service: upsert by code,
a preview of every row, row errors, all or nothing."""

from __future__ import annotations

import io
from datetime import date

import pytest
import tablib

from loyalty.models import Store
from loyalty.resources import StoreResource
from loyalty.services.store_import import stores_import_bulk
from tests.factories.loyalty import PartnerFactory, StoreFactory
from tests.loyalty.imports_helpers import (
    XLSX_FORMAT,
    confirm,
    dry_run,
    preview,
    row_errors,
    summary,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

HEADER = "code,partner,name,channel,city,address,timezone,is_active,opened_at,closed_at\n"


@pytest.fixture
def partner():
    return PartnerFactory(code="MEGA")


def stores() -> list[tuple]:
    return list(
        Store.objects.order_by("code").values_list(
            "code", "partner__code", "name", "channel", "city", "timezone", "is_active", "closed_at"
        )
    )


def test_the_check_counts_new_changed_and_unchanged_rows_and_confirm_writes_them(
    admin_client, partner
):
    # given
    StoreFactory(partner=partner, code="M-1", name="Mega 1", city="Omsk", timezone="Asia/Omsk")
    StoreFactory(partner=partner, code="M-2", name="Mega 2", city="", timezone="Europe/Moscow")
    text = (
        HEADER
        + "M-1,MEGA,Mega 1,,Omsk,,Asia/Omsk,,,\n"
        + "M-2,,Mega 2 (closed),,,,,no,2020-01-01,31.12.2026\n"
        + "M-3,MEGA,Mega online,webshop,,,,,,\n"
    )

    # when
    response = preview(admin_client, "store", text.encode())

    # then: the summary of what the import would do, and nothing written yet
    assert summary(response) == "3 rows: 1 new, 1 to change, 1 unchanged, 0 errors"
    assert Store.objects.count() == 2

    # when
    confirm(admin_client, "store", response)

    # then
    assert stores() == [
        ("M-1", "MEGA", "Mega 1", "store", "Omsk", "Asia/Omsk", True, None),
        ("M-2", "MEGA", "Mega 2 (closed)", "store", "", "Europe/Moscow", False, date(2026, 12, 31)),
        ("M-3", "MEGA", "Mega online", "webshop", "", "Europe/Moscow", True, None),
    ]


def test_xlsx_stores_with_date_cells(admin_client, partner):
    data = xlsx_bytes(
        [
            ["code", "partner", "name", "timezone", "opened_at"],
            ["NSK-1", "MEGA", "Novosibirsk", "Asia/Novosibirsk", date(2024, 3, 1)],
        ]
    )

    response = preview(admin_client, "store", data, name="stores.xlsx", fmt=XLSX_FORMAT)
    confirm(admin_client, "store", response)

    store = Store.objects.get(code="NSK-1")
    assert (store.partner, store.timezone, store.opened_at) == (
        partner,
        "Asia/Novosibirsk",
        date(2024, 3, 1),
    )


def test_bad_time_zone_names_the_row(partner):
    result = dry_run(
        StoreResource(), HEADER + "S1,MEGA,One,,,,Europe/Moscow,,,\nS2,MEGA,Two,,,,Mars/Base,,,\n"
    )

    assert row_errors(result) == {2: ["Mars/Base is not a time zone name such as Europe/Moscow."]}


def test_unknown_partner_and_a_new_store_without_partner_or_name(partner):
    result = dry_run(
        StoreResource(), HEADER + "S1,NOPE,One,,,,,,,\nS2,,Two,,,,,,,\nS3,MEGA,,,,,,,,\n"
    )

    assert row_errors(result) == {
        1: ["Unknown partner NOPE."],
        2: ["No partner given for the new store S2."],
        3: ["No name given for the new store S3."],
    }


def test_a_store_cannot_move_to_another_partner(partner):
    StoreFactory(partner=PartnerFactory(code="OTHER"), code="S1")

    result = dry_run(StoreResource(), HEADER + "S1,MEGA,,,,,,,,\n")

    assert row_errors(result) == {
        1: ["The store S1 belongs to the partner OTHER and cannot move to another partner."]
    }


def test_duplicate_and_malformed_codes(partner):
    result = dry_run(
        StoreResource(),
        HEADER
        + "S1,MEGA,One,,,,,,,\nS1,MEGA,Again,,,,,,,\nno code!,MEGA,X,,,,,,,\n,MEGA,Y,,,,,,,\n",
    )

    errors = row_errors(result)
    assert errors[2] == ["The store code S1 is already on row 1 of this file."]
    assert errors[3][0].startswith("The code no code!: Use 1-64 letters")
    assert errors[4] == ["No store code given."]


def test_bad_channel_dates_and_yes_no(partner):
    result = dry_run(
        StoreResource(),
        HEADER
        + "S1,MEGA,One,kiosk,,,,,,\n"
        + "S2,MEGA,Two,,,,,open,32.01.2026,\n"
        + "S3,MEGA,Three,,,,,,2026-05-01,2026-04-30\n",
    )

    assert row_errors(result) == {
        1: ["Unknown channel kiosk: use one of store, webshop, app."],
        2: [
            "is_active must be yes or no, not open.",
            "opened_at must be a date such as 2026-12-31, not 32.01.2026.",
        ],
        3: ["The store cannot close (2026-04-30) before it opens (2026-05-01)."],
    }


def test_failed_import_leaves_the_stores_unchanged(partner):
    # given
    StoreFactory(partner=partner, code="S1", name="One")
    before = stores()
    text = (
        HEADER
        + "S1,MEGA,One renamed,,,,,,,\nS2,MEGA,Two,,,,,,,\nS3,MEGA,Three,,,,Nowhere/City,,,\n"
    )
    dataset = tablib.Dataset().load(text, format="csv")

    # when
    result = StoreResource().import_data(
        dataset, dry_run=False, use_transactions=True, rollback_on_validation_errors=True
    )
    report = stores_import_bulk(io.StringIO(text))

    # then
    assert result.has_validation_errors()
    assert [row for row, _message in report.errors] == [3]
    assert stores() == before


def test_bulk_import_upserts_and_makes_registers_check_their_keys_again(
    partner, monkeypatch, django_capture_on_commit_callbacks
):
    # given
    StoreFactory(partner=partner, code="S1", name="One", city="", timezone="Europe/Moscow")
    forgotten = []
    monkeypatch.setattr("processing.api.auth.stamp_bump", lambda _key: forgotten.append(True))
    text = HEADER + "S1,,One,,,,,no,,\nS2,,Two,app,Kazan,,Europe/Moscow,,,\n"

    # when
    with django_capture_on_commit_callbacks(execute=True):
        report = stores_import_bulk(io.StringIO(text), default_partner=partner)

    # then
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    assert stores() == [
        ("S1", "MEGA", "One", "store", "", "Europe/Moscow", False, None),
        ("S2", "MEGA", "Two", "app", "Kazan", "Europe/Moscow", True, None),
    ]
    assert forgotten == [True]


def test_store_messages_are_translated_to_russian(partner):
    from django.utils import translation

    with translation.override("ru"):
        result = dry_run(StoreResource(), HEADER + "S1,MEGA,One,,,,Mars/Base,,,\n")

    assert row_errors(result)[1] == [
        "Mars/Base не является названием часового пояса вида Europe/Moscow."
    ]
