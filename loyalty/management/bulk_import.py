"""The shared body of the bulk import commands (``products_import``, ``stores_import``)."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from loyalty.models import Partner
from loyalty.services.imports import ImportReport, file_rows


class BulkImportCommand(BaseCommand):
    """Check every row of a CSV or XLSX file, then write all rows in one transaction, or none.

    Subclasses set ``noun``, ``required`` (the columns the header must have) and
    ``import_bulk`` (a service taking the rows, ``default_partner`` and ``dry_run``).
    """

    noun = "rows"
    required: tuple[str, ...] = ()
    partner_help = "partner code for rows that leave the partner column empty"

    def import_bulk(self, rows, *, default_partner, dry_run) -> ImportReport:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("file", help="the file: CSV (UTF-8, header row) or XLSX")
        parser.add_argument("--partner", help=self.partner_help)
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and write nothing"
        )

    def handle(self, *args, **options):
        partner = None
        if options["partner"]:
            partner = Partner.objects.filter(code=options["partner"]).first()
            if partner is None:
                raise CommandError(f"no partner with the code {options['partner']!r}")
        started = time.perf_counter()
        try:
            with open(options["file"], "rb") as binary:
                rows = list(file_rows(binary, options["file"], self.required))
            report = self.import_bulk(rows, default_partner=partner, dry_run=options["dry_run"])
        except (OSError, ValidationError, UnicodeDecodeError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(message) from exc
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
        verb = "checked (dry run, nothing written)" if options["dry_run"] else "imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.rows} {self.noun} {verb} in {elapsed:.1f} s ({connection.vendor}): "
                f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged."
            )
        )
