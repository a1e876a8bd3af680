"""The import pages of the admin: upload, the summary first, the rejected rows paged with their
reasons in the page, the bad rows as CSV, the JSON progress, confirm, resume and re-run, for
cards, products and stores. ``admin_client`` is pytest-django's logged-in superuser."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Card, CardBatch, CardImport, DataImport, Product, Store
from loyalty.validators import luhn_check_digit
from tests.factories.loyalty import CardBatchFactory, PartnerFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_CHUNK_ROWS = 25


@pytest.fixture
def batch():
    return CardBatchFactory(code="PG", check_digit=CardBatch.CheckDigit.LUHN)


def luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


def upload(client, model: str, name: str, text: str, capture, **fields):
    with capture(execute=True):
        response = client.post(
            reverse(f"admin:loyalty_{model}_add"),
            {"file": SimpleUploadedFile(name, text.encode()), **fields},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


def test_upload_shows_the_summary_then_the_errors_paged_with_their_reasons(
    admin_client, batch, django_capture_on_commit_callbacks
):
    # given: 100 good rows and 60 with a wrong check digit (3 of every 8)
    lines, bad = [], []
    for i in range(160):
        number = luhn(f"7300{i:08d}")
        if i % 8 in (1, 4, 7):
            number = number[:-1] + str((int(number[-1]) + 1) % 10)
            bad.append(number)
        lines.append(f"{number},PG,note {i}")
    text = "number,batch,note\n" + "\n".join(lines) + "\n"

    # when
    response = upload(
        admin_client, "cardimport", "cards.csv", text, django_capture_on_commit_callbacks
    )

    # then: the job's page, summary first
    job = CardImport.objects.get()
    assert response.url == reverse("admin:loyalty_cardimport_change", args=[job.pk])
    page = admin_client.get(response.url).content.decode()
    summary = f"160 rows: {160 - len(bad)} new, {len(bad)} errors"
    assert summary in page
    assert page.index(summary) < page.index('id="import-error-table"')
    # the first page lists 50 errors, each with its reason as text in the table
    assert page.count('class="import-reason"') == 50
    assert bad[0] in page
    assert "has a wrong check digit" in page
    assert bad[55] not in page
    second = admin_client.get(response.url + "?page=2").content.decode()
    assert bad[55] in second
    assert second.count('class="import-reason"') == len(bad) - 50
    assert not Card.objects.exists()
    assert 'id="import-confirm"' in page


def test_the_bad_rows_download_is_a_csv_with_the_row_and_the_reason(
    admin_client, batch, django_capture_on_commit_callbacks
):
    # given
    good, wrong = luhn("730000000001"), luhn("730000000002")[:-1] + "X"
    text = f"number,batch\n{good},PG\n{wrong},PG\n"
    upload(admin_client, "cardimport", "cards.csv", text, django_capture_on_commit_callbacks)
    job = CardImport.objects.get()

    # when
    response = admin_client.get(reverse("admin:loyalty_cardimport_bad_rows", args=[job.pk]))

    # then
    assert response["Content-Type"].startswith("text/csv")
    assert "bad-rows.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["row", "number", "batch", "reason"]
    assert rows[1][:3] == ["2", wrong, "PG"]
    assert "has a wrong check digit" in rows[1][3]
    assert len(rows) == 2


def test_confirm_imports_the_good_rows_and_the_page_says_what_was_done(
    admin_client, batch, django_capture_on_commit_callbacks
):
    # given
    good = [luhn(f"73000000{i:04d}") for i in range(30)]
    text = "number,batch\n" + "".join(f"{n},PG\n" for n in good) + "1,PG\n"
    upload(admin_client, "cardimport", "cards.csv", text, django_capture_on_commit_callbacks)
    job = CardImport.objects.get()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:loyalty_cardimport_confirm", args=[job.pk]))

    # then
    job.refresh_from_db()
    assert job.status == CardImport.Status.DONE
    assert Card.objects.count() == 30
    page = admin_client.get(response.url).content.decode()
    assert "31 rows: 30 created, 1 error" in page
    assert 'id="import-confirm"' not in page
    assert 'id="import-rerun"' in page


def test_the_progress_endpoint_answers_json(admin_client, batch):
    job = CardImport.objects.create(batch=batch, status=CardImport.Status.CHECKING, rows_total=200)
    CardImport.objects.filter(pk=job.pk).update(rows_checked=50, heartbeat_at=timezone.now())

    response = admin_client.get(reverse("admin:loyalty_cardimport_progress", args=[job.pk]))

    assert response["Content-Type"] == "application/json"
    progress = json.loads(response.content)
    assert progress["status"] == "checking"
    assert progress["is_running"] is True
    assert (progress["rows_done"], progress["rows_total"], progress["percent"]) == (50, 200, 25)
    assert progress["summary"] == "50 rows: 0 new, 0 errors"


def test_a_running_job_page_has_a_progress_bar_that_polls(admin_client, batch):
    job = CardImport.objects.create(batch=batch, status=CardImport.Status.LOADING)
    CardImport.objects.filter(pk=job.pk).update(
        stage=CardImport.Stage.LOAD, rows_total=100, rows_done=40, heartbeat_at=timezone.now()
    )

    page = admin_client.get(reverse("admin:loyalty_cardimport_change", args=[job.pk]))

    html = page.content.decode()
    assert '<progress id="import-progress-bar" max="100" value="40">' in html
    assert reverse("admin:loyalty_cardimport_progress", args=[job.pk]) in html
    assert (
        '<meta http-equiv="refresh"'
        in admin_client.get(reverse("admin:loyalty_cardimport_changelist")).content.decode()
    )


def test_a_dead_job_shows_failed_on_its_page_and_resumes(
    admin_client, batch, django_capture_on_commit_callbacks
):
    # given: a job left "importing" by a worker that died an hour ago
    text = "number,batch\n" + "".join(f"{luhn(f'73000000{i:04d}')},PG\n" for i in range(5))
    upload(admin_client, "cardimport", "cards.csv", text, django_capture_on_commit_callbacks)
    job = CardImport.objects.get()
    CardImport.objects.filter(pk=job.pk).update(
        stage=CardImport.Stage.LOAD,
        status=CardImport.Status.LOADING,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )

    # when
    page = admin_client.get(reverse("admin:loyalty_cardimport_change", args=[job.pk]))

    # then
    html = page.content.decode()
    assert "stopped (no sign of life for 60 minutes)" in html
    assert 'id="import-resume"' in html
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:loyalty_cardimport_resume", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == CardImport.Status.DONE
    assert Card.objects.count() == 5


def test_rerun_from_the_page_starts_a_new_job(
    admin_client, batch, django_capture_on_commit_callbacks
):
    upload(
        admin_client, "cardimport", "cards.csv", "number\n1\n", django_capture_on_commit_callbacks
    )
    job = CardImport.objects.get()
    CardImport.objects.filter(pk=job.pk).update(status=CardImport.Status.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:loyalty_cardimport_rerun", args=[job.pk]))

    again = CardImport.objects.exclude(pk=job.pk).get()
    assert response.url == reverse("admin:loyalty_cardimport_change", args=[again.pk])
    assert again.status == CardImport.Status.CHECKED


def test_a_malformed_file_shows_its_reason_and_offers_no_import(
    admin_client, batch, django_capture_on_commit_callbacks
):
    response = upload(
        admin_client, "cardimport", "cards.csv", "card\n1\n", django_capture_on_commit_callbacks
    )

    page = admin_client.get(response.url).content.decode()
    assert "The file has no header row with the columns number." in page
    assert 'id="import-confirm"' not in page


def test_products_and_stores_have_the_same_pages(admin_client, django_capture_on_commit_callbacks):
    # given
    partner = PartnerFactory(code="MEGA")
    ProductFactory(partner=partner, sku="1", name="Milk", category=None, brand=None)
    text = "sku,name,category\n1,Milk 2,\n2,Tea,\n3,Cake,nope\n"

    # when
    response = upload(
        admin_client,
        "dataimport",
        "erp.csv",
        text,
        django_capture_on_commit_callbacks,
        kind=DataImport.Kind.PRODUCTS,
        partner=partner.pk,
    )

    # then
    page = admin_client.get(response.url).content.decode()
    assert "3 rows: 1 new, 1 to change, 0 unchanged, 1 error" in page
    assert "Unknown category nope." in page
    job = DataImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:loyalty_dataimport_confirm", args=[job.pk]))
    assert set(Product.objects.values_list("sku", flat=True)) == {"1", "2"}

    # when: stores
    response = upload(
        admin_client,
        "dataimport",
        "stores.csv",
        "code,partner,name\nS1,MEGA,One\nS2,,Two\n",
        django_capture_on_commit_callbacks,
        kind=DataImport.Kind.STORES,
    )

    # then
    page = admin_client.get(response.url).content.decode()
    assert "2 rows: 1 new, 0 to change, 0 unchanged, 1 error" in page
    assert "No partner given for the new store S2." in page
    assert not Store.objects.exists()


@pytest.mark.parametrize(
    ("list_url", "job_model", "initial"),
    [
        ("admin:loyalty_card_changelist", "cardimport", ""),
        ("admin:loyalty_product_changelist", "dataimport", "?kind=products"),
        ("admin:loyalty_store_changelist", "dataimport", "?kind=stores"),
    ],
)
def test_the_lists_import_button_leads_to_the_import_page(
    admin_client, list_url, job_model, initial
):
    listing = admin_client.get(reverse(list_url)).content.decode()
    assert f'href="{reverse(list_url)}import/"' in listing

    response = admin_client.get(reverse(list_url) + "import/")

    assert response.status_code == 302
    assert response.url == reverse(f"admin:loyalty_{job_model}_add") + initial
    add = admin_client.get(response.url)
    assert add.status_code == 200


def test_only_staff_with_the_add_right_may_confirm(client, django_user_model, batch):
    # given: a user who may view card imports but not add them
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-12345-x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_cardimport"))
    client.force_login(user)
    job = CardImport.objects.create(batch=batch, status=CardImport.Status.CHECKED, new_rows=1)

    # when
    page = client.get(reverse("admin:loyalty_cardimport_change", args=[job.pk]))
    response = client.post(reverse("admin:loyalty_cardimport_confirm", args=[job.pk]))

    # then
    assert page.status_code == 200
    assert 'id="import-confirm"' not in page.content.decode()
    assert response.status_code == 403
