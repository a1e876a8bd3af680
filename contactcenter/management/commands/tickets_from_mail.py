"""Open tickets from emails kept in an mbox, a maildir or .eml files.

    manage.py tickets_from_mail /var/mail/support          # an mbox file
    manage.py tickets_from_mail ~/Maildir                  # a maildir (cur/, new/, tmp/)
    manage.py tickets_from_mail inbox/ one.eml two.eml      # a folder of .eml files, or files

Reading the same mailbox again is safe: a message already turned into a ticket or a comment
(by its Message-ID) is skipped.
"""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contactcenter.errors import CategoryUnknown
from contactcenter.inbound_mail import DEFAULT_CATEGORY, mail_ingest_bytes

FORMATS = ("auto", "mbox", "maildir", "eml")


def _format_of(path: Path) -> str:
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            return "maildir"
        return "eml"
    return "eml" if path.suffix.lower() == ".eml" else "mbox"


def raw_messages(path: Path, kind: str = "auto") -> Iterator[bytes]:
    """The raw bytes of every message at ``path`` (an mbox, a maildir, a folder or an .eml)."""
    kind = _format_of(path) if kind == "auto" else kind
    if kind == "eml":
        files = sorted(path.glob("*.eml")) if path.is_dir() else [path]
        for file in files:
            yield file.read_bytes()
        return
    box = (
        mailbox.Maildir(path, create=False)
        if kind == "maildir"
        else mailbox.mbox(path, create=False)
    )
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


class Command(BaseCommand):
    help = "Open tickets from emails (mbox, maildir or .eml); replies quoting [#number] become comments."

    def add_arguments(self, parser):
        parser.add_argument(
            "paths", nargs="+", help="mbox files, maildirs, .eml files or folders of them."
        )
        parser.add_argument("--format", choices=FORMATS, default="auto", dest="kind")
        parser.add_argument(
            "--category",
            default=DEFAULT_CATEGORY,
            help=f"The category of new tickets (default: {DEFAULT_CATEGORY}).",
        )

    def handle(self, *args, paths: list[str], kind: str, category: str, **options):
        outcomes: Counter[str] = Counter()
        for name in paths:
            path = Path(name)
            if not path.exists():
                raise CommandError(f"{name} does not exist.")
            for raw in raw_messages(path, kind):
                try:
                    result = mail_ingest_bytes(raw, category_code=category)
                except CategoryUnknown as exc:
                    raise CommandError(f"No active ticket category {category!r}.") from exc
                outcomes[result.outcome] += 1
                if result.ticket is not None:
                    self.stdout.write(f"#{result.ticket.number} {result.outcome}")
                for skipped in result.skipped_attachments:
                    self.stderr.write(
                        self.style.WARNING(
                            f"#{result.ticket.number}: attachment {skipped} left out"
                        )
                    )
        self.stdout.write(
            f"{outcomes['opened']} opened, {outcomes['commented']} commented, "
            f"{outcomes['duplicate']} already read."
        )
