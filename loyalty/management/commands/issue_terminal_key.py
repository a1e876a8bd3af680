from django.core.management.base import BaseCommand, CommandError

from loyalty.models import Terminal
from loyalty.services.terminals import terminal_key_issue


class Command(BaseCommand):
    help = "Issue a new API key for a terminal and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("terminal_code", help="The terminal's code, e.g. HYPER-01-T1.")
        parser.add_argument(
            "--name", default="", help="A label for the key (default: code and date)."
        )

    def handle(self, *args, terminal_code: str, name: str, **options):
        try:
            terminal = Terminal.objects.select_related("store__partner").get(code=terminal_code)
        except Terminal.DoesNotExist as exc:
            raise CommandError(f"No terminal with code {terminal_code!r}.") from exc
        if not terminal.is_active:
            self.stderr.write(
                self.style.WARNING(
                    f"Terminal {terminal.code} is inactive: the key will be refused until it is activated."
                )
            )
        api_key, raw_key = terminal_key_issue(terminal=terminal, name=name)
        self.stderr.write(
            f"Key {api_key.prefix} for terminal {terminal.code} "
            f"({terminal.store.partner.name}, {terminal.store.name}). Store it now: it is not shown again."
        )
        self.stdout.write(raw_key)
