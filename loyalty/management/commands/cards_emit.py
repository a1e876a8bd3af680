from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loyalty.models import CardBatch
from loyalty.services.card_emission import card_batch_emit


class Command(BaseCommand):
    help = "Emit COUNT new cards in the batch with code BATCH (prefix, counter, check digit)."

    def add_arguments(self, parser):
        parser.add_argument("batch", help="the batch code")
        parser.add_argument("count", type=int, help="how many cards to create")

    def handle(self, *args, **options):
        batch = CardBatch.objects.filter(code=options["batch"]).first()
        if batch is None:
            raise CommandError(f"no batch with the code {options['batch']!r}")
        try:
            counters = card_batch_emit(batch=batch, count=options["count"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(counters)} cards emitted in {batch.code} (counters {counters.start}-"
                f"{counters.stop - 1})."
            )
        )
