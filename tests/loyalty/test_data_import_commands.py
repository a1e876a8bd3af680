"""The bulk path from the command line: manage.py products_import and stores_import check every
row, then write all rows or none."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from loyalty.models import Product, Store
from tests.factories.loyalty import CategoryFactory, PartnerFactory, ProductFactory, StoreFactory
from tests.loyalty.imports_helpers import xlsx_bytes

pytestmark = pytest.mark.django_db


def run(command: str, path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, str(path), *args, stdout=out, stderr=err)
    finally:
        run.stderr = err.getvalue()
    return out.getvalue(), err.getvalue()


def test_products_import_creates_and_updates_for_the_given_partner(tmp_path):
    # given
    partner = PartnerFactory(code="MEGA")
    CategoryFactory(code="dairy")
    ProductFactory(partner=partner, sku="1", name="Milk", category=None, brand=None)
    path = tmp_path / "erp.csv"
    path.write_text("sku,name,category\n1,Milk 1L,\n2,Kefir,dairy\n")

    # when
    out, _err = run("products_import", path, "--partner", "MEGA")

    # then
    assert "2 products imported" in out
    assert "1 new, 1 updated, 0 unchanged" in out
    assert sorted(Product.objects.filter(partner=partner).values_list("sku", "name")) == [
        ("1", "Milk 1L"),
        ("2", "Kefir"),
    ]


def test_products_import_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "erp.csv"
    path.write_text("sku,name\n1,Milk\n")

    out, _err = run("products_import", path, "--dry-run")

    assert "checked (dry run, nothing written)" in out
    assert "1 new" in out
    assert Product.objects.count() == 0


def test_products_import_with_errors_lists_them_and_writes_nothing(tmp_path):
    path = tmp_path / "erp.csv"
    path.write_text("sku,name,brand\n1,Milk,\n2,Kefir,Nobody\n1,Milk,\n")

    with pytest.raises(CommandError, match=r"2 error\(s\) in 3 rows; nothing was imported"):
        run("products_import", path)

    assert "row 2: Unknown brand Nobody." in run.stderr
    assert "row 3: The SKU 1 is already on row 1 of this file." in run.stderr
    assert Product.objects.count() == 0


def test_products_import_reads_xlsx(tmp_path):
    path = tmp_path / "erp.xlsx"
    path.write_bytes(xlsx_bytes([["sku", "name"], [4600000000017, "Tea"]]))

    run("products_import", path)

    assert Product.objects.get(sku="4600000000017").name == "Tea"


def test_products_import_unknown_partner_option():
    with pytest.raises(CommandError, match="no partner with the code 'NOPE'"):
        call_command("products_import", "x.csv", "--partner", "NOPE")


def test_a_file_without_the_key_column_is_refused(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text("name\nOne\n")

    with pytest.raises(CommandError, match="no header row with the columns code"):
        run("stores_import", path)


def test_stores_import_creates_updates_and_refuses_a_bad_time_zone(tmp_path):
    # given
    partner = PartnerFactory(code="MEGA")
    StoreFactory(partner=partner, code="S1", name="One")
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("code,name,timezone\nS1,One (renamed),\nS2,Two,Asia/Yekaterinburg\n")
    bad.write_text("code,name,timezone\nS3,Three,Moscow\n")

    # when
    out, _err = run("stores_import", good, "--partner", "MEGA")

    # then
    assert "1 new, 1 updated" in out
    assert Store.objects.get(code="S2").timezone == "Asia/Yekaterinburg"

    # when
    with pytest.raises(CommandError):
        run("stores_import", bad, "--partner", "MEGA")

    # then
    assert "row 1: Moscow is not a time zone name such as Europe/Moscow." in run.stderr
    assert not Store.objects.filter(code="S3").exists()
