"""Create or complete the staff role groups (migrate does it too)."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from loyalty.roles import roles_sync, unmatched_patterns


class Command(BaseCommand):
    help = _("Create the staff role groups and give them their permissions.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help=_(
                "Make every role group exactly its definition (drops permissions added by hand)."
            ),
        )

    def handle(self, *args, reset=False, **options):
        for role, patterns in unmatched_patterns().items():
            self.stderr.write(
                _("%(role)s: no permission matches %(patterns)s")
                % {"role": role, "patterns": ", ".join(patterns)}
            )
        for name, count in roles_sync(reset=reset).items():
            self.stdout.write(_("%(role)s: %(count)d permissions") % {"role": name, "count": count})
