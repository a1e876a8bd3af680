"""Emit a batch of gift certificates and write the printing house's CSV."""

import csv
import io

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loyalty.models import CertificateSeries
from loyalty.services.certificates import (
    CERTIFICATE_CSV_HEADER,
    certificate_export_rows,
    certificates_emit,
)


class Command(BaseCommand):
    help = (
        "Emit COUNT new gift certificates in the series with code SERIES; with --csv, write "
        "the series' certificates for the printing house (- for standard output)."
    )

    def add_arguments(self, parser):
        parser.add_argument("series", help="the series code")
        parser.add_argument("count", type=int, help="how many certificates to create")
        parser.add_argument("--csv", dest="csv_path", help="write the series as CSV here")

    def handle(self, *args, **options):
        series = CertificateSeries.objects.filter(code=options["series"]).first()
        if series is None:
            raise CommandError(f"no certificate series with the code {options['series']!r}")
        try:
            made = certificates_emit(series, options["count"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        path = options.get("csv_path")
        if path:
            rows = certificate_export_rows(CertificateSeries.objects.filter(pk=series.pk))
            if path == "-":
                buffer = io.StringIO()
                self._write(buffer, rows)
                self.stdout.write(buffer.getvalue(), ending="")
            else:
                with open(path, "w", newline="", encoding="utf-8") as out:
                    self._write(out, rows)
        self.stderr.write(self.style.SUCCESS(f"{len(made)} certificates emitted in {series.code}."))

    @staticmethod
    def _write(out, rows) -> None:
        writer = csv.writer(out)
        writer.writerow(CERTIFICATE_CSV_HEADER)
        writer.writerows(rows)
