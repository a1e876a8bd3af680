from django.core.management.base import BaseCommand, CommandError

from loyalty.models import CardBatch
from loyalty.services.card_emission import card_batch_export


class Command(BaseCommand):
    help = "Write the cards of batch BATCH as CSV for the printing house (stdout or --output)."

    def add_arguments(self, parser):
        parser.add_argument("batch", help="the batch code")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        batch = CardBatch.objects.filter(code=options["batch"]).first()
        if batch is None:
            raise CommandError(f"no batch with the code {options['batch']!r}")
        if options["output"]:
            with open(options["output"], "w", newline="", encoding="utf-8") as out:
                count = card_batch_export(batch, out)
            self.stderr.write(f"{count} cards written to {options['output']}.")
        else:
            count = card_batch_export(batch, self.stdout)
            self.stderr.write(f"{count} cards written.")
