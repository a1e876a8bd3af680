"""Emit a batch of coupons of a series and write their codes as CSV for the printing house."""

from __future__ import annotations

import csv
import sys

from django.core.management.base import BaseCommand, CommandError

from promotions.coupons import NoPrizes, coupons_issue
from promotions.models import CouponSeries

CSV_HEADER = ["code", "series", "valid_from", "valid_until"]


def coupons_csv(coupons, out) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for coupon in coupons:
        writer.writerow(
            [
                coupon.code,
                coupon.series.code,
                coupon.valid_from.isoformat(),
                coupon.valid_until.isoformat() if coupon.valid_until else "",
            ]
        )


class Command(BaseCommand):
    help = (
        "Issue COUNT coupons of a series (PROGRAMME SERIES) and print their codes as CSV "
        "(a series with one code for everyone: that code)."
    )

    def add_arguments(self, parser):
        parser.add_argument("programme", help="The programme's code.")
        parser.add_argument("series", help="The series code.")
        parser.add_argument("count", type=int)
        parser.add_argument("--output", help="Write the CSV to this file instead of stdout.")

    def handle(self, programme, series, count, output=None, **options):
        found = CouponSeries.objects.filter(programme__code=programme, code=series).first()
        if found is None:
            raise CommandError(f"No coupon series {series!r} in programme {programme!r}.")
        if count < 1 or count > 10_000_000:
            raise CommandError("COUNT is 1 to 10,000,000.")
        try:
            coupons = coupons_issue(found, count)
        except NoPrizes as error:
            raise CommandError(str(error)) from error
        if output:
            with open(output, "w", newline="", encoding="utf-8") as out:
                coupons_csv(coupons, out)
        else:
            coupons_csv(coupons, sys.stdout)
        if found.kind == CouponSeries.Kind.MASS:  # its one code, whatever COUNT
            self.stderr.write(f"{found.code}: one code for everyone, {coupons[0].code}.")
        else:
            self.stderr.write(f"{len(coupons)} coupons of {found.code} issued.")
