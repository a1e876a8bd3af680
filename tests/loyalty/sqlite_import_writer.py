"""Run by tests/loyalty/test_import_sqlite_concurrency.py in its own process, on a SQLite file
with the project's own settings (WAL, IMMEDIATE transactions, a busy timeout): a card import
runs in one thread while the main thread writes, as another user of the demo would.

    python -m tests.loyalty.sqlite_import_writer <database file> <media folder> <rows>

Prints one JSON line: the import's outcome and every write's wait and error.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def main(database: str, media: str, rows: int) -> dict:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["MEDIA_ROOT"] = media
    os.environ["IMPORT_CHUNK_ROWS"] = "500"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.db import OperationalError, connection, connections, transaction

    from loyalty.models import CardBatch, CardImport, Partner
    from loyalty.services.import_jobs import import_job_run
    from tests.factories.loyalty import CardBatchFactory, PartnerFactory

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal_mode = cursor.fetchone()[0]
    batch = CardBatchFactory(code="SQ", check_digit=CardBatch.CheckDigit.NONE)
    partner = PartnerFactory()
    text = "number\n" + "".join(f"5500{i:08d}\n" for i in range(rows))
    job = CardImport(batch=batch)
    job.file.save("cards.csv", ContentFile(text.encode()))
    job = import_job_run(job)  # the check
    CardImport.objects.filter(pk=job.pk).update(
        stage=CardImport.Stage.LOAD, status=CardImport.Status.QUEUED
    )
    job.refresh_from_db()

    def load():
        try:
            import_job_run(job)
        finally:
            connections.close_all()

    importer = threading.Thread(target=load)
    importer.start()
    waits, errors, during = [], [], 0
    while importer.is_alive():
        started = time.monotonic()
        try:
            with transaction.atomic():
                Partner.objects.filter(pk=partner.pk).update(name=f"Renamed {len(waits)}")
        except OperationalError as exc:
            errors.append(str(exc))
        waits.append(time.monotonic() - started)
        done = CardImport.objects.values_list("rows_done", flat=True).get(pk=job.pk)
        if 0 < done < rows:
            during += 1
        time.sleep(0.005)
    importer.join()
    job.refresh_from_db()
    return {
        "journal_mode": journal_mode,
        "status": job.status,
        "cards_created": job.cards_created,
        "writes": len(waits),
        "writes_during_import": during,
        "max_wait": max(waits, default=0.0),
        "errors": errors,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))  # noqa: T201
