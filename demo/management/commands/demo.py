import secrets
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo.loader import load_demo
from loyalty import roles
from loyalty.models import Partner, StaffProfile
from loyalty.roles import roles_sync

# (user name, role, partner code for partner staff)
DEMO_STAFF = [
    ("marketer", roles.MARKETER, None),
    ("operator", roles.OPERATOR, None),
    ("supervisor", roles.SUPERVISOR, None),
    ("partner", roles.PARTNER_STAFF, "megamart"),
    ("auditor", roles.AUDITOR, None),
]


class Command(BaseCommand):
    help = (
        "Load the demo coalition (12 partners, stores, terminals, catalogue, customers with cards "
        "and a few months of purchases). Idempotent: a second run changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=2000, help="How many customers (default 2000)."
        )
        parser.add_argument(
            "--months", type=int, default=4, help="Months of purchase history (default 4)."
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")
        parser.add_argument(
            "--language",
            choices=["en", "ru"],
            default=None,
            help="The language of the demo's names (partners, stores, products, customers...); "
            "default: LANGUAGE_CODE's (en unless set).",
        )
        parser.add_argument(
            "--admin-user", default="admin", help="The superuser to create (default admin)."
        )
        parser.add_argument(
            "--reset-admin-password",
            action="store_true",
            help="Give the existing admin user a new random password and print it.",
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/admin/", help="Where the admin is served."
        )

    def handle(
        self,
        *args,
        customers,
        months,
        seed,
        language,
        admin_user,
        reset_admin_password,
        url,
        **options,
    ):
        if customers < 1 or months < 1:
            raise CommandError("--customers and --months must be at least 1.")
        started = time.monotonic()
        language = language or settings.LANGUAGE_CODE.split("-")[0]
        summary = load_demo(customers=customers, months=months, seed=seed, language=language)
        elapsed = time.monotonic() - started
        verb = "Loaded" if summary.created else "Already loaded, nothing changed:"
        self.stdout.write(
            f"{verb} {summary.partners} partners, {summary.stores} stores, {summary.terminals} terminals, "
            f"{summary.products} products, {summary.customers} customers, {summary.cards} cards, "
            f"{summary.receipts} receipts, {summary.postings} postings ({elapsed:.1f} s)."
        )
        password = self._admin(admin_user, reset_admin_password)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Log in at {url}"))
        if password:
            self.stdout.write(self.style.SUCCESS(f"  user: {admin_user}   password: {password}"))
            self.stdout.write(
                "  one user per staff role, same password: "
                + ", ".join(f"{name} ({role})" for name, role, _partner in DEMO_STAFF)
            )
        else:
            self.stdout.write(
                f"  user: {admin_user} (exists; its password was printed when it was created, "
                f"or run: manage.py demo --reset-admin-password)"
            )
        self.stdout.write("A key for a cash register: manage.py issue_terminal_key MEGAMART-01-T1")

    @transaction.atomic
    def _admin(self, username: str, reset: bool) -> str | None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None and not reset:
            return None
        password = secrets.token_urlsafe(12)
        if user is None:
            User.objects.create_superuser(
                username=username, email=f"{username}@example.com", password=password
            )
        else:
            user.set_password(password)
            user.is_active = user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_active", "is_staff", "is_superuser"])
        self._role_users(password)
        return password

    def _role_users(self, password: str) -> None:
        """A user for each staff role (loyalty.roles), to try the back office as them."""
        User = get_user_model()
        roles_sync()
        for username, role, partner_code in DEMO_STAFF:
            user = User.objects.filter(username=username).first() or User(username=username)
            user.email = f"{username}@example.com"
            user.is_active = user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            partner = Partner.objects.filter(code=partner_code).first() if partner_code else None
            StaffProfile.objects.update_or_create(user=user, defaults={"partner": partner})
