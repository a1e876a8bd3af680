"""Background card import: uploaded in the admin, run by the Celery task, progress recorded."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.models import Card, CardBatch, CardImport
from loyalty.services import card_import as service
from loyalty.tasks import card_import_run_task
from loyalty.validators import luhn_check_digit
from tests.factories.loyalty import CardBatchFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


@pytest.fixture
def batch():
    return CardBatchFactory(code="BG", check_digit=CardBatch.CheckDigit.LUHN)


def test_admin_upload_queues_the_import_and_the_list_shows_its_progress(
    admin_client, batch, django_capture_on_commit_callbacks
):
    # given
    numbers = [luhn(f"5100{i:08d}") for i in range(1, 51)]
    upload = SimpleUploadedFile("big.csv", ("number\n" + "\n".join(numbers) + "\n").encode())

    # when: the task runs eagerly after the commit, as a worker would
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:loyalty_cardimport_add"), {"file": upload, "batch": batch.pk}
        )

    # then
    assert response.status_code == 302
    card_import = CardImport.objects.get()
    assert card_import.status == CardImport.Status.DONE
    assert card_import.rows_checked == 50
    assert card_import.cards_created == 50
    assert Card.objects.filter(batch=batch).count() == 50
    page = admin_client.get(reverse("admin:loyalty_cardimport_changelist")).content.decode()
    assert "big" in page
    assert "done" in page


def test_a_file_with_errors_fails_whole_and_keeps_the_first_errors(batch):
    # given
    good, bad = luhn("510000000001"), "5100000000010"
    card_import = CardImport.objects.create(batch=batch)
    card_import.file.save("bad.csv", ContentFile(f"number\n{good}\n{bad}\n".encode()))

    # when
    card_import_run_task(card_import.pk)

    # then
    card_import.refresh_from_db()
    assert card_import.status == CardImport.Status.FAILED
    assert card_import.error_count == 1
    assert card_import.errors.startswith("Row 2: The number 5100000000010 has a wrong check digit")
    assert Card.objects.count() == 0


def test_progress_is_recorded_while_checking_and_a_second_run_does_nothing(batch, monkeypatch):
    # given
    monkeypatch.setattr(service, "PROGRESS_EVERY", 10)
    seen = []
    real_update = CardImport.objects.filter

    numbers = [luhn(f"5200{i:08d}") for i in range(1, 26)]
    card_import = CardImport.objects.create(batch=batch)
    card_import.file.save("p.csv", ContentFile(("number\n" + "\n".join(numbers)).encode()))

    def spy(**kwargs):
        queryset = real_update(**kwargs)
        original = queryset.update

        def update(**values):
            if "rows_checked" in values and "status" in values and len(values) == 2:
                seen.append((values["status"], values["rows_checked"]))
            return original(**values)

        queryset.update = update
        return queryset

    monkeypatch.setattr(CardImport.objects, "filter", spy)

    # when
    card_import_run_task(card_import.pk)
    card_import_run_task(card_import.pk)

    # then
    assert seen == [("checking", 10), ("checking", 20), ("loading", 25)]
    assert Card.objects.filter(batch=batch).count() == 25
