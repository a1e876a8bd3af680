"""Product catalogue import through the admin (an import job: check, summary, confirm), the
row checks (through the django-import-export resource) and the bulk service: upsert by
(partner, SKU), row errors, all or nothing for the bulk service.

Each error has its own file, built here. ``admin_client`` is pytest-django's logged-in superuser.
"""

from __future__ import annotations

import io

import pytest
import tablib
from django.core.exceptions import ValidationError
from django.utils import translation

from loyalty.models import Product
from loyalty.resources import ProductResource
from loyalty.services.product_import import products_import_bulk
from tests.factories.loyalty import BrandFactory, CategoryFactory, PartnerFactory, ProductFactory
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

HEADER = "sku,name,partner,category,brand,is_active,is_gift_card\n"


@pytest.fixture
def world():
    class World:
        partner = PartnerFactory(code="MEGA")
        dairy = CategoryFactory(code="dairy", name="Dairy")
        bakery = CategoryFactory(code="bakery", name="Bakery")
        brand = BrandFactory(name="Prostokvashino")

    return World


def catalogue(rows=None) -> list[tuple]:
    rows = Product.objects.order_by("partner_id", "sku") if rows is None else rows
    return list(
        rows.values_list(
            "partner__code", "sku", "name", "category__code", "brand__name", "is_active"
        )
    )


def test_the_check_counts_new_changed_and_unchanged_rows_and_confirm_writes_them(
    admin_client, world
):
    # given: two products of the partner; the file changes one, repeats one, adds one
    ProductFactory(partner=world.partner, sku="100", name="Milk", category=world.dairy, brand=None)
    ProductFactory(
        partner=world.partner, sku="200", name="Bread", category=world.bakery, brand=None
    )
    text = (
        HEADER
        + "100,Milk 3.2%,MEGA,dairy,Prostokvashino,,\n"
        + "200,Bread,MEGA,bakery,,,\n"
        + "300,Kefir,MEGA,dairy,,yes,no\n"
    )

    # when
    response = preview(admin_client, "product", text.encode())

    # then: the summary of what the import would do, and nothing written yet
    assert response.status_code == 200
    assert summary(response) == "3 rows: 1 new, 1 to change, 1 unchanged, 0 errors"
    assert Product.objects.count() == 2

    # when
    confirm(admin_client, "product", response)

    # then
    assert catalogue() == [
        ("MEGA", "100", "Milk 3.2%", "dairy", "Prostokvashino", True),
        ("MEGA", "200", "Bread", "bakery", None, True),
        ("MEGA", "300", "Kefir", "dairy", None, True),
    ]


def test_xlsx_catalogue_with_numeric_skus_and_boolean_cells(admin_client, world):
    # given
    data = xlsx_bytes(
        [
            ["sku", "name", "partner", "category", "brand", "is_active", "is_gift_card"],
            [4601234567890, "Gift card 1000", None, None, None, True, True],
            [4601234567891, "Yoghurt", None, "dairy", "prostokvashino", "no", None],
        ]
    )

    # when
    response = preview(admin_client, "product", data, name="erp.xlsx", fmt=XLSX_FORMAT)
    confirm(admin_client, "product", response)

    # then: no partner column value, so the shared catalogue
    gift = Product.objects.get(sku="4601234567890")
    assert (gift.partner, gift.is_gift_card, gift.is_active) == (None, True, True)
    yoghurt = Product.objects.get(sku="4601234567891")
    assert (yoghurt.brand, yoghurt.category, yoghurt.is_active) == (world.brand, world.dairy, False)


def test_same_sku_is_a_product_per_partner_and_in_the_shared_catalogue(world):
    # given
    other = PartnerFactory(code="PHARMA")
    shared = ProductFactory(partner=None, sku="777", name="Shared")

    # when
    report = products_import_bulk(
        [
            {"sku": "777", "name": "Mega's", "partner": "MEGA"},
            {"sku": "777", "name": "Pharma's", "partner": "PHARMA"},
            {"sku": "777", "name": "Shared renamed"},
        ]
    )

    # then
    assert (report.created, report.updated) == (2, 1)
    assert Product.objects.get(partner=world.partner, sku="777").name == "Mega's"
    assert Product.objects.get(partner=other, sku="777").name == "Pharma's"
    shared.refresh_from_db()
    assert shared.name == "Shared renamed"


def test_empty_cells_keep_the_current_values(world):
    # given
    product = ProductFactory(
        partner=world.partner, sku="1", name="Milk", category=world.dairy, brand=world.brand
    )
    product.is_active = False
    product.save()

    # when: only the name changes; category, brand and active are left empty
    report = products_import_bulk(io.StringIO(HEADER + "1,Milk 1L,MEGA,,,,\n"))

    # then
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    product.refresh_from_db()
    assert (product.name, product.category, product.brand, product.is_active) == (
        "Milk 1L",
        world.dairy,
        world.brand,
        False,
    )


def test_unknown_category_names_the_row(world):
    result = dry_run(ProductResource(), HEADER + "1,Milk,MEGA,dairy,,,\n2,Cake,MEGA,sweets,,,\n")

    assert row_errors(result) == {2: ["Unknown category sweets."]}


def test_unknown_brand_names_the_row(world):
    result = dry_run(ProductResource(), HEADER + "1,Milk,MEGA,,Nobody,,\n")

    assert row_errors(result) == {1: ["Unknown brand Nobody."]}


def test_unknown_partner_names_the_row(world):
    result = dry_run(ProductResource(), HEADER + "1,Milk,MEGA,,,,\n2,Milk,NOPE,,,,\n")

    assert row_errors(result) == {2: ["Unknown partner NOPE."]}


def test_duplicate_sku_of_one_partner_inside_the_file(world):
    text = HEADER + "1,Milk,MEGA,,,,\n1,Milk,,,,,\n2,Bread,MEGA,,,,\n1,Milk again,MEGA,,,,\n"

    result = dry_run(ProductResource(), text)

    # row 2 is the shared catalogue's SKU 1: another product
    assert row_errors(result) == {4: ["The SKU 1 is already on row 1 of this file."]}


def test_required_sku_and_name_of_a_new_product(world):
    ProductFactory(partner=world.partner, sku="known", name="Known")

    result = dry_run(ProductResource(), HEADER + ",Milk,MEGA,,,,\n2,,MEGA,,,,\nknown,,MEGA,,,,\n")

    # a known product may leave its name empty: it keeps the one it has
    assert row_errors(result) == {
        1: ["No SKU given."],
        2: ["No name given for the new product 2."],
    }


def test_bad_yes_no_value_and_too_long_sku(world):
    long_sku = "9" * 65

    result = dry_run(ProductResource(), HEADER + f"1,Milk,MEGA,,,perhaps,\n{long_sku},X,MEGA,,,,\n")

    assert row_errors(result) == {
        1: ["is_active must be yes or no, not perhaps."],
        2: [f"The SKU {long_sku} is longer than 64 characters."],
    }


def test_the_check_names_the_row_and_its_reason_and_offers_no_import_of_nothing(
    admin_client, world
):
    response = preview(admin_client, "product", (HEADER + "1,Milk,MEGA,sweets,,,\n").encode())

    page = response.content.decode()
    assert summary(response) == "1 row: 0 new, 0 to change, 0 unchanged, 1 error"
    assert "Unknown category sweets." in page
    assert 'id="import-confirm"' not in page
    assert Product.objects.count() == 0


def test_failed_import_leaves_the_catalogue_unchanged(world):
    # given: an existing product the file would update, and one bad row among good ones
    ProductFactory(partner=world.partner, sku="1", name="Milk", category=world.dairy, brand=None)
    before = catalogue()
    text = (
        HEADER + "1,Milk renamed,MEGA,,,,\n2,New,MEGA,,,,\n3,Bad,MEGA,nowhere,,,\n4,New,MEGA,,,,\n"
    )
    dataset = tablib.Dataset().load(text, format="csv")

    # when: a real (not dry) run, as confirm does, and the bulk path
    result = ProductResource().import_data(
        dataset, dry_run=False, use_transactions=True, rollback_on_validation_errors=True
    )
    report = products_import_bulk(io.StringIO(text))

    # then
    assert result.has_validation_errors()
    assert report.error_count == 1
    assert report.errors == [(3, "Unknown category nowhere.")]
    assert catalogue() == before


def test_bulk_import_counts_new_updated_and_unchanged_and_a_dry_run_writes_nothing(world):
    # given
    ProductFactory(partner=world.partner, sku="1", name="Milk", category=None, brand=None)
    ProductFactory(partner=world.partner, sku="2", name="Bread", category=None, brand=None)
    text = HEADER + "1,Milk,,,,,\n2,Rye bread,,,,,\n3,Kefir,,dairy,,,\n"

    # when
    checked = products_import_bulk(io.StringIO(text), default_partner=world.partner, dry_run=True)

    # then
    assert (checked.created, checked.updated, checked.unchanged) == (1, 1, 1)
    assert Product.objects.count() == 2

    # when
    done = products_import_bulk(io.StringIO(text), default_partner=world.partner)

    # then
    assert (done.rows, done.created, done.updated, done.unchanged) == (3, 1, 1, 1)
    assert catalogue() == [
        ("MEGA", "1", "Milk", None, None, True),
        ("MEGA", "2", "Rye bread", None, None, True),
        ("MEGA", "3", "Kefir", "dairy", None, True),
    ]


def test_a_file_without_the_sku_column_is_refused(world):
    with pytest.raises(ValidationError, match="no header row with the columns sku"):
        products_import_bulk(io.StringIO("code,name\n1,Milk\n"))


def test_import_messages_are_translated_to_russian(world):
    with translation.override("ru"):
        result = dry_run(ProductResource(), HEADER + "1,Milk,MEGA,sweets,,,\n")

    assert row_errors(result)[1] == ["Неизвестная категория sweets."]


def test_names_with_tabs_backslashes_and_quotes_are_written_as_they_are(world):
    # given: values that COPY's text format would have to escape (PostgreSQL path)
    name = 'Tea "Green"\tbox \\ 20 bags\nnew'

    # when
    products_import_bulk([{"sku": "T1", "name": name, "partner": "MEGA"}])

    # then
    assert Product.objects.get(sku="T1").name == name


def test_import_needs_the_add_and_change_rights(client, django_user_model, world):
    # given: a staff user who may view and add products but not change them
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="loyalty", codename__in=["view_product", "add_product"]
        )
    )
    client.force_login(user)

    # when
    import_url = reverse("admin:loyalty_product_changelist") + "import/"
    response = client.get(import_url)

    # then
    assert response.status_code == 403
    page = client.get(reverse("admin:loyalty_product_changelist")).content.decode()
    assert import_url not in page
