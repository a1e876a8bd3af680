from django.core.management.base import BaseCommand, CommandError

from loyalty.reconciliation import ledger_violations


class Command(BaseCommand):
    help = "Reconcile the ledger: check every invariant and exit non-zero on any violation."

    def handle(self, *args, **options):
        problems = ledger_violations()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger invariant violation(s)")
        self.stdout.write(self.style.SUCCESS("The ledger is consistent."))
