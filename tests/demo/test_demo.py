"""The demo command loads a realistic coalition and is idempotent."""

import hashlib
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Sum

from crm.models import Customer
from demo.loader import load_demo
from loyalty.models import Card, Partner, Receipt, Store, Terminal, Tier
from loyalty.reconciliation import ledger_violations
from promotions.models import Promotion, Reward

pytestmark = pytest.mark.django_db


def database_fingerprint() -> dict[str, tuple]:
    """Row count and a checksum of every table of the project's apps."""
    result = {}
    for model in apps.get_models():
        if model._meta.app_label not in {"loyalty", "crm", "promotions", "auth"}:
            continue
        rows = repr(list(model.objects.order_by("pk").values_list()))
        result[model._meta.label] = (
            model.objects.count(),
            hashlib.sha256(rows.encode()).hexdigest(),
        )
    return result


def test_demo_loads_a_coalition_and_a_second_run_changes_nothing():
    # given a small demo (the full one is loaded in the next test)
    summary = load_demo(customers=60, months=2)
    assert summary.created
    before = database_fingerprint()
    # when it runs again
    again = load_demo(customers=60, months=2)
    # then nothing changed
    assert not again.created
    assert database_fingerprint() == before
    assert ledger_violations() == []


def test_demo_receipts_record_the_points_debited_as_processing_does():
    """The money paid with points (points_spent) and the points debited (spent_points) are
    both on every receipt and line, as confirm writes them (1 point = 1.00 RUB)."""
    load_demo(customers=60, months=2)
    paid = Receipt.objects.filter(points_spent__gt=0)
    assert paid.exists()
    for receipt in paid.prefetch_related("lines"):
        assert receipt.spent_points == receipt.points_spent
        assert sum(line.spent_points for line in receipt.lines.all()) == receipt.spent_points


def test_demo_command_loads_the_full_coalition_prints_a_login_and_is_idempotent():
    # when
    out = StringIO()
    call_command("demo", stdout=out)
    # then the coalition is there
    assert Partner.objects.count() == 12
    assert set(Partner.objects.values_list("trade", flat=True)) >= {
        "hypermarket",
        "supermarket",
        "diy",
        "sports",
        "pharmacy",
        "clinic",
        "isp",
        "amusement_park",
        "night_club",
    }
    stores = Partner.objects.annotate(n=Count("stores")).values_list("n", flat=True)
    assert all(2 <= n <= 5 for n in stores)
    assert not Store.objects.filter(terminals__isnull=True).exists()
    assert Customer.objects.count() == 2000
    assert Card.objects.filter(customer__isnull=False).count() == 2000
    assert Tier.objects.count() == 3
    base = Promotion.objects.active().get(partner__isnull=True, trigger="receipt")
    assert Promotion.objects.active().filter(trigger="registration").count() == 2
    assert base.rewards.get().kind == Reward.Kind.POINTS_PERCENT
    receipts = Receipt.objects.aggregate(n=Count("pk"), earned=Sum("points_earned"))
    assert receipts["n"] > 5000
    assert receipts["earned"] > Decimal("0")
    assert Receipt.objects.values("partner").distinct().count() == 12
    months = {(d.year, d.month) for d in Receipt.objects.dates("sold_at", "month")}
    assert len(months) >= 3
    assert ledger_violations() == []
    text = out.getvalue()
    assert "Log in at http://127.0.0.1:8000/admin/" in text
    assert "password:" in text
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    # when it runs a second time
    before = database_fingerprint()
    out = StringIO()
    call_command("demo", stdout=out)
    # then nothing changed, and it says so
    assert database_fingerprint() == before
    assert "Already loaded, nothing changed" in out.getvalue()
    assert Terminal.objects.count() == before["loyalty.Terminal"][0]


def test_demo_reset_admin_password_prints_a_password_that_works():
    load_demo(customers=5, months=1)
    out = StringIO()
    call_command("demo", "--customers", "5", "--months", "1", "--reset-admin-password", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    # and one user per staff role, with the same password, the partner's staff tied to it
    operator = get_user_model().objects.get(username="operator")
    assert operator.check_password(password)
    assert list(operator.groups.values_list("name", flat=True)) == ["Operator"]
    assert not operator.is_superuser
    partner_staff = get_user_model().objects.get(username="partner")
    assert partner_staff.staff_profile.partner.code == "megamart"
    assert "operator (Operator)" in out.getvalue()
