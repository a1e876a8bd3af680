"""Import jobs (loyalty.services.import_jobs): a check that counts and lists the bad rows, a
load in committed chunks, the threshold that sends big files to the background, the progress,
stale jobs shown failed, resume without duplicates, re-run, and files that cannot be read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from loyalty.models import Card, CardBatch, CardImport, CardImportError, DataImport, Product, Store
from loyalty.services import import_jobs
from loyalty.services.import_jobs import (
    import_job_bad_rows,
    import_job_confirm,
    import_job_progress,
    import_job_rerun,
    import_job_resume,
    import_job_run,
    import_job_start,
    import_job_summary,
    import_jobs_fail_stale,
)
from loyalty.tasks import import_job_run_task
from loyalty.validators import luhn_check_digit
from tests.factories.loyalty import CardBatchFactory, CardFactory, PartnerFactory, ProductFactory
from tests.loyalty.imports_helpers import xlsx_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_CHUNK_ROWS = 10


@pytest.fixture
def batch():
    return CardBatchFactory(code="JB", check_digit=CardBatch.CheckDigit.LUHN)


def luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


def wrong_digit(payload: str = "610088888888") -> str:
    """A number whose check digit is wrong."""
    right = luhn(payload)
    return right[:-1] + str((int(right[-1]) + 1) % 10)


def numbers(count: int, start: int = 1) -> list[str]:
    return [luhn(f"6100{i:08d}") for i in range(start, start + count)]


def card_job(data: bytes | str, *, name: str = "cards.csv", batch=None) -> CardImport:
    job = CardImport(batch=batch)
    job.file.save(name, ContentFile(data.encode() if isinstance(data, str) else data), save=False)
    job.save()
    return job


def cards_file(good: list[str], bad_rows: dict[int, str] | None = None) -> str:
    """A numbers-only file; ``bad_rows`` puts a bad line at a row (1-based)."""
    lines = list(good)
    for row, line in sorted((bad_rows or {}).items()):
        lines.insert(row - 1, line)
    return "number,batch\n" + "".join(f"{line}\n" for line in lines)


def test_check_counts_new_rows_and_errors_and_writes_nothing(batch):
    # given: 25 good rows and 2 bad ones (a wrong check digit, an unknown batch)
    text = cards_file(numbers(25), {4: wrong_digit(), 20: f"{luhn('610099999999')},NOPE"})
    job = card_job(text, batch=batch)

    # when
    job = import_job_run(job)

    # then
    assert job.status == CardImport.Status.CHECKED
    assert (job.rows_total, job.rows_checked, job.new_rows, job.error_count) == (27, 27, 25, 2)
    assert import_job_summary(job) == "27 rows: 25 new, 2 errors"
    errors = list(job.row_errors.values_list("row", "reasons"))
    assert [row for row, _ in errors] == [4, 20]
    assert "wrong check digit" in errors[0][1]
    assert errors[1][1] == "Unknown batch NOPE."
    assert not Card.objects.exists()


def test_load_imports_the_good_rows_and_lists_the_bad_ones(batch):
    # given: a checked job
    good = numbers(25)
    job = import_job_run(card_job(cards_file(good, {3: "BAD!"}), batch=batch))

    # when
    job = import_job_confirm(job)

    # then
    assert job.status == CardImport.Status.DONE
    assert (job.cards_created, job.rows_done, job.error_count) == (25, 26, 1)
    assert import_job_summary(job) == "26 rows: 25 created, 1 error"
    assert set(Card.objects.values_list("number", flat=True)) == set(good)
    assert list(job.row_errors.values_list("row", flat=True)) == [3]


def test_the_bad_rows_file_has_the_row_the_cells_and_the_reason(batch):
    job = import_job_run(card_job(cards_file(numbers(3), {2: f"{wrong_digit()},JB"}), batch=batch))

    rows = list(import_job_bad_rows(job))

    assert rows[0] == ["row", "number", "batch", "reason"]
    assert rows[1][:3] == ["2", wrong_digit(), "JB"]
    assert "wrong check digit" in rows[1][3]
    assert len(rows) == 2


def test_products_and_stores_are_counted_new_changed_and_unchanged():
    # given
    partner = PartnerFactory(code="MEGA")
    ProductFactory(partner=partner, sku="1", name="Milk", category=None, brand=None)
    ProductFactory(partner=partner, sku="2", name="Bread", category=None, brand=None)
    job = DataImport(kind=DataImport.Kind.PRODUCTS, partner=partner)
    job.file.save(
        "erp.csv", ContentFile(b"sku,name,brand\n1,Milk 2,\n2,Bread,\n3,Tea,\n4,X,Nope\n")
    )

    # when
    checked = import_job_run(job)

    # then
    assert import_job_summary(checked) == "4 rows: 1 new, 1 to change, 1 unchanged, 1 error"
    done = import_job_confirm(checked)
    assert (done.created, done.updated, done.unchanged, done.error_count) == (1, 1, 1, 1)
    assert Product.objects.get(sku="1").name == "Milk 2"

    # given: stores from a workbook
    stores = DataImport(kind=DataImport.Kind.STORES)
    data = xlsx_bytes([["code", "partner", "name"], ["S1", "MEGA", "One"], ["S2", "NOPE", "Two"]])
    stores.file.save("stores.xlsx", ContentFile(data))

    # when
    stores = import_job_confirm(import_job_run(stores))

    # then
    assert stores.status == DataImport.Status.DONE
    assert (stores.created, stores.error_count) == (1, 1)
    assert list(Store.objects.values_list("code", flat=True)) == ["S1"]


def test_small_files_run_in_the_request_and_big_ones_go_to_the_background(
    batch, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # given
    started = []  # a thread without a broker (the demo), a Celery task with one (CI's Redis)
    monkeypatch.setattr(import_jobs, "start_thread", lambda label, pk: started.append((label, pk)))
    monkeypatch.setattr(import_job_run_task, "delay", lambda label, pk: started.append((label, pk)))
    text = cards_file(numbers(20))
    settings.IMPORT_BACKGROUND_BYTES = len(text)
    small = card_job(text, batch=batch)
    big = card_job(text + luhn("610077777777") + "\n", batch=batch)

    # when
    small = import_job_start(small)
    with django_capture_on_commit_callbacks(execute=True):
        big = import_job_start(big)

    # then
    assert small.status == CardImport.Status.CHECKED
    assert big.status == CardImport.Status.QUEUED
    assert started == [("loyalty.CardImport", big.pk)]


def test_progress_reports_the_stage_the_rows_and_a_percentage(batch):
    job = card_job(cards_file(numbers(30)), batch=batch)
    queued = import_job_progress(job)
    assert (queued["status"], queued["percent"], queued["is_running"]) == ("queued", 0, True)

    job = import_job_run(job)
    checked = import_job_progress(job)
    assert checked["status"] == "checked"
    assert checked["percent"] == 100
    assert checked["summary"] == "30 rows: 30 new, 0 errors"

    CardImport.objects.filter(pk=job.pk).update(
        stage=CardImport.Stage.LOAD, status=CardImport.Status.LOADING, rows_done=12
    )
    job.refresh_from_db()
    loading = import_job_progress(job)
    assert (loading["rows_done"], loading["rows_total"], loading["percent"]) == (12, 30, 40)


def test_a_job_whose_worker_died_is_shown_failed_and_resumes_without_duplicates(batch):
    # given: a load that committed its first two chunks (20 rows), then its worker died
    good = numbers(35)
    job = import_job_run(card_job(cards_file(good), batch=batch))
    original_write = import_jobs.CARDS.write
    calls = []

    def dying_write(rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise SystemExit("worker killed")  # not an Exception: the run does not clean up
        return original_write(rows)

    kind = import_jobs.ImportKind(
        import_jobs.CARDS.required,
        import_jobs.CARDS.checker,
        import_jobs.CARDS.existing,
        dying_write,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(import_jobs, "CARDS", kind)
        with pytest.raises(SystemExit):
            import_job_confirm(job)
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.cards_created) == ("loading", 20, 20)
    assert Card.objects.count() == 20

    # when: nothing beats for longer than the stale timeout
    later = timezone.now() + timedelta(minutes=10)
    assert import_jobs_fail_stale(CardImport, now=later) == 1

    # then
    job.refresh_from_db()
    assert job.status == CardImport.Status.FAILED
    assert "Rows up to 20 are imported" in job.failure
    assert job.can_resume

    # when
    job = import_job_resume(job)

    # then: the remaining 15 are created, none twice, and nothing is reported as a duplicate
    assert job.status == CardImport.Status.DONE
    assert (job.rows_done, job.cards_created, job.error_count) == (35, 35, 0)
    assert sorted(Card.objects.values_list("number", flat=True)) == sorted(good)


def test_a_run_declared_dead_stops_before_writing_its_next_chunk(batch):
    # given: a load whose job is declared dead (token cleared) by another process while it
    # reads its second chunk
    job = import_job_run(card_job(cards_file(numbers(30)), batch=batch))
    original_existing = import_jobs.CARDS.existing
    lookups = []

    def lookup_then_lose_the_job(raws):
        lookups.append(len(raws))
        if len(lookups) == 2:
            CardImport.objects.filter(pk=job.pk).update(status="failed", run_token="")
        return original_existing(raws)

    kind = import_jobs.ImportKind(
        import_jobs.CARDS.required,
        import_jobs.CARDS.checker,
        lookup_then_lose_the_job,
        import_jobs.CARDS.write,
    )

    # when
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(import_jobs, "CARDS", kind)
        import_job_confirm(job)

    # then: the chunk that found the job gone was rolled back, and the run stopped there
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("failed", 10)
    assert Card.objects.count() == 10
    assert len(lookups) == 2


def test_a_second_run_of_the_same_job_does_nothing(batch):
    job = import_job_run(card_job(cards_file(numbers(5)), batch=batch))
    import_job_confirm(job)

    again = import_job_run(job)

    assert again.status == CardImport.Status.DONE
    assert Card.objects.count() == 5


def test_rerun_checks_the_same_file_in_a_new_job(batch, admin_user):
    # given: a done import
    job = import_job_confirm(import_job_run(card_job(cards_file(numbers(5)), batch=batch)))

    # when
    again = import_job_rerun(job, user=admin_user)

    # then: a new job; the cards the first one created are now errors of the second
    assert again.pk != job.pk
    assert again.file.name == job.file.name
    assert again.batch == batch
    assert again.created_by == admin_user
    assert again.status == CardImport.Status.CHECKED
    assert (again.new_rows, again.error_count) == (0, 5)
    assert not again.can_confirm


def test_a_stale_check_can_be_checked_again(batch):
    job = card_job(cards_file(numbers(5)), batch=batch)
    CardImport.objects.filter(pk=job.pk).update(
        status=CardImport.Status.CHECKING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    assert import_jobs_fail_stale(CardImport) == 1
    job.refresh_from_db()
    assert "Nothing was imported" in job.failure

    job = import_job_resume(job)
    assert (job.status, job.new_rows) == (CardImport.Status.CHECKED, 5)


def test_a_fresh_heartbeat_is_not_stale(batch):
    job = card_job(cards_file(numbers(5)), batch=batch)
    CardImport.objects.filter(pk=job.pk).update(
        status=CardImport.Status.LOADING, heartbeat_at=timezone.now()
    )
    assert import_jobs_fail_stale(CardImport) == 0


def test_an_existing_card_is_an_error_of_its_row_and_not_written_twice(batch):
    existing = CardFactory(number=numbers(1)[0])
    job = import_job_confirm(import_job_run(card_job(cards_file(numbers(3)), batch=batch)))
    assert (job.cards_created, job.error_count) == (2, 1)
    assert Card.objects.filter(number=existing.number).count() == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "The file is empty"),
        ("blank.csv", b"\n\n", "The file is empty"),
        ("cp1251.csv", "number\n1234\nКарта\n".encode("cp1251"), "Line 3 is not UTF-8 text"),
        ("columns.csv", b"card,batch\n1234,JB\n", "no header row with the columns number"),
        ("huge.csv", b"number\n" + b"1" * 200_000 + b"\n", "Line 2 is longer than"),
        ("fake.xlsx", b"not a workbook", "not an XLSX workbook"),
        (
            "quoted.csv",
            b'number\n"' + (b"1" * 60_000 + b"\n") * 3 + b'"\n',
            "cannot be read as CSV (field larger than field limit",
        ),
    ],
)
def test_a_file_that_cannot_be_read_fails_with_a_clear_reason_and_changes_nothing(
    batch, name, data, message
):
    job = card_job(data, name=name, batch=batch)

    job = import_job_run(job)

    assert job.status == CardImport.Status.FAILED
    assert message in job.failure
    assert not Card.objects.exists()
    assert not CardImportError.objects.exists()
    assert job.new_rows == 0
