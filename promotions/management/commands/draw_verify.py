"""Check a drawn prize draw against its record and the database; print the record if asked."""

import json

from django.core.management.base import BaseCommand, CommandError

from promotions.draws import draw_record, draw_verify
from promotions.errors import DrawNotDrawn
from promotions.models import Draw


class Command(BaseCommand):
    help = (
        "Verify a prize draw: the seed against its commitment, the tickets against their "
        "digest, the winners against the algorithm, the rewards and the database. Exits "
        "non-zero when a check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("draw_id", type=int, help="the draw's id")
        parser.add_argument(
            "--record", action="store_true", help="also print the draw's record as JSON"
        )

    def handle(self, *args, **options):
        draw = Draw.objects.filter(pk=options["draw_id"]).first()
        if draw is None:
            raise CommandError(f"No prize draw has the id {options['draw_id']}.")
        try:
            check = draw_verify(draw)
        except DrawNotDrawn as exc:
            raise CommandError(f"{draw.name}: {exc.detail}") from exc
        self.stdout.write(f"{draw.name} (#{draw.pk}), {draw.algorithm}")
        self.stdout.write(f"seed: {draw.seed}")
        self.stdout.write(f"seed commitment: {draw.seed_commitment or '-'}")
        self.stdout.write(f"tickets: {len(draw.ticket_list)}, digest {draw.tickets_digest}")
        for winner in draw.winner_list:
            self.stdout.write(
                f"  {winner['place']}. {winner['public_id']} ticket {winner['ticket_no']}"
                f" ({winner['score']})"
            )
        for _name, label, result in check.results():
            mark = {True: "OK", False: "MISMATCH", None: "n/a"}[result]
            self.stdout.write(f"[{mark}] {label}")
        if options["record"]:
            self.stdout.write(json.dumps(draw_record(draw), ensure_ascii=False, indent=2))
        if not check.ok:
            raise CommandError("The draw does not match its record.")
        self.stdout.write(self.style.SUCCESS("The draw matches its record."))
