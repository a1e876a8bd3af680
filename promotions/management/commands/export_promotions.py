"""Write promotions as a JSON document in the exchange format (docs/promotion-format.md)."""

import json

from django.core.management.base import BaseCommand

from promotions.exchange import promotions_export
from promotions.models import Promotion


class Command(BaseCommand):
    help = "Export promotions (all, or those of a programme / with given codes) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--programme", help="programme code")
        parser.add_argument("--code", action="append", default=[], help="promotion code")
        parser.add_argument("--include-drafts", action="store_true")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        promotions = Promotion.objects.select_related("programme", "partner", "group").order_by(
            "programme__code", "-priority", "pk"
        )
        if options["programme"]:
            promotions = promotions.filter(programme__code=options["programme"])
        if options["code"]:
            promotions = promotions.filter(code__in=options["code"])
        if not options["include_drafts"]:
            promotions = promotions.exclude(status=Promotion.Status.DRAFT)
        text = json.dumps(promotions_export(promotions), ensure_ascii=False, indent=2)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.write(text + "\n")
            self.stderr.write(f"{promotions.count()} promotions written to {options['output']}")
        else:
            self.stdout.write(text)
