import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from loyalty.models import CardBatch
from loyalty.services.card_import import cards_import_bulk


class Command(BaseCommand):
    help = (
        "Import a large CSV of cards (number[,batch,card_type,status,customer_phone]): check "
        "every row first, then load all rows in one transaction (PostgreSQL COPY), or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file, UTF-8, with a header row")
        parser.add_argument("--batch", help="batch code for rows that leave the batch column empty")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and write nothing"
        )

    def handle(self, *args, **options):
        batch = None
        if options["batch"]:
            batch = CardBatch.objects.filter(code=options["batch"]).first()
            if batch is None:
                raise CommandError(f"no batch with the code {options['batch']!r}")
        started = time.perf_counter()
        try:
            with open(options["file"], newline="", encoding="utf-8-sig") as stream:
                report = cards_import_bulk(stream, default_batch=batch, dry_run=options["dry_run"])
        except (OSError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started
        for row, message in report.errors:
            self.stderr.write(f"row {row}: {message}")
        if not report.ok:
            hidden = report.error_count - len(report.errors)
            if hidden:
                self.stderr.write(f"... and {hidden} more")
            raise CommandError(
                f"{report.error_count} error(s) in {report.rows} rows; nothing was imported."
            )
        verb = "checked (dry run)" if options["dry_run"] else "imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.created or report.rows} cards {verb} in {elapsed:.1f} s "
                f"({connection.vendor})."
            )
        )
