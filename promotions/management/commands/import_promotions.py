"""Read a JSON document of promotions (docs/promotion-format.md): all of it, or nothing."""

import json

from django.core.management.base import BaseCommand, CommandError

from promotions.exchange import ImportFailed, promotions_import


class Command(BaseCommand):
    help = "Import promotions from a JSON file; on any error nothing is changed."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the JSON file ('-' for standard input)")

    def handle(self, *args, **options):
        path = options["path"]
        try:
            if path == "-":
                import sys

                document = json.load(sys.stdin)
            else:
                with open(path, encoding="utf-8") as source:
                    document = json.load(source)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            promotions = promotions_import(document)
        except ImportFailed as exc:
            for where, message in exc.errors:
                self.stderr.write(f"{where}: {message}")
            raise CommandError(f"{len(exc.errors)} errors; nothing was imported") from exc
        self.stdout.write(f"imported {len(promotions)} promotions")
