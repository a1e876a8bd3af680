"""Background product and store imports: uploaded in the admin, run by the Celery task, progress
recorded; the pages of a running import reload themselves."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.models import CardImport, DataImport, Product, Store
from loyalty.services import product_import
from loyalty.tasks import data_import_run_task
from tests.factories.loyalty import PartnerFactory, ProductFactory
from tests.loyalty.imports_helpers import xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]
REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_admin_upload_imports_a_catalogue_and_the_list_shows_the_outcome(
    admin_client, django_capture_on_commit_callbacks
):
    # given
    partner = PartnerFactory(code="MEGA")
    ProductFactory(partner=partner, sku="1", name="Milk", category=None, brand=None)
    lines = "".join(f"{i},Product {i}\n" for i in range(1, 51))
    upload = SimpleUploadedFile("erp.csv", f"sku,name\n{lines}".encode())

    # when: the task runs eagerly after the commit, as a worker would
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:loyalty_dataimport_add"),
            {"kind": DataImport.Kind.PRODUCTS, "file": upload, "partner": partner.pk},
        )

    # then
    assert response.status_code == 302
    job = DataImport.objects.get()
    assert job.status == DataImport.Status.DONE
    assert (job.rows_checked, job.created, job.updated, job.unchanged) == (50, 49, 1, 0)
    assert Product.objects.filter(partner=partner).count() == 50
    page = admin_client.get(reverse("admin:loyalty_dataimport_changelist")).content.decode()
    assert "erp" in page
    assert REFRESH not in page  # nothing is running any more
    detail = admin_client.get(reverse("admin:loyalty_dataimport_change", args=[job.pk]))
    assert REFRESH not in detail.content.decode()


def test_stores_from_xlsx_in_the_background():
    # given
    PartnerFactory(code="MEGA")
    job = DataImport.objects.create(kind=DataImport.Kind.STORES)
    data = xlsx_bytes([["code", "partner", "name"], ["S1", "MEGA", "One"], ["S2", "MEGA", "Two"]])
    job.file.save("stores.xlsx", ContentFile(data))

    # when
    data_import_run_task(job.pk)

    # then
    job.refresh_from_db()
    assert (job.status, job.created) == (DataImport.Status.DONE, 2)
    assert Store.objects.count() == 2


def test_a_file_with_errors_fails_whole_and_keeps_the_first_errors():
    # given
    job = DataImport.objects.create(kind=DataImport.Kind.PRODUCTS)
    job.file.save("bad.csv", ContentFile(b"sku,name,category\n1,Milk,\n2,Bread,nowhere\n"))

    # when
    data_import_run_task(job.pk)

    # then
    job.refresh_from_db()
    assert job.status == DataImport.Status.FAILED
    assert job.error_count == 1
    assert job.errors == "Row 2: Unknown category nowhere."
    assert Product.objects.count() == 0


def test_a_file_without_the_key_column_fails():
    job = DataImport.objects.create(kind=DataImport.Kind.STORES)
    job.file.save("bad.csv", ContentFile(b"name\nOne\n"))

    data_import_run_task(job.pk)

    job.refresh_from_db()
    assert job.status == DataImport.Status.FAILED
    assert job.errors == "The file has no header row with the columns code."


def test_progress_is_recorded_and_a_second_run_does_nothing(monkeypatch):
    # given
    monkeypatch.setattr(product_import, "PROGRESS_EVERY", 10)
    seen = []
    real_filter = DataImport.objects.filter
    job = DataImport.objects.create(kind=DataImport.Kind.PRODUCTS)
    lines = "".join(f"{i},Product {i}\n" for i in range(25))
    job.file.save("p.csv", ContentFile(f"sku,name\n{lines}".encode()))

    def spy(**kwargs):
        queryset = real_filter(**kwargs)
        original = queryset.update

        def update(**values):
            if set(values) == {"status", "rows_checked"}:
                seen.append((values["status"], values["rows_checked"]))
            return original(**values)

        queryset.update = update
        return queryset

    monkeypatch.setattr(DataImport.objects, "filter", spy)

    # when
    data_import_run_task(job.pk)
    data_import_run_task(job.pk)

    # then
    assert seen == [("checking", 10), ("checking", 20), ("loading", 25)]
    assert Product.objects.count() == 25


@pytest.mark.parametrize("model", [DataImport, CardImport])
def test_pages_of_a_running_import_reload_themselves(admin_client, model):
    # given
    extra = {"kind": DataImport.Kind.PRODUCTS} if model is DataImport else {}
    job = model.objects.create(status=model.Status.CHECKING, **extra)
    job.file.save("big.csv", ContentFile(b"x\n"))
    name = model._meta.model_name

    # when
    listing = admin_client.get(reverse(f"admin:loyalty_{name}_changelist"))
    detail = admin_client.get(reverse(f"admin:loyalty_{name}_change", args=[job.pk]))

    # then
    assert REFRESH in listing.content.decode()
    assert REFRESH in detail.content.decode()
    assert "checking the rows" in detail.content.decode()
