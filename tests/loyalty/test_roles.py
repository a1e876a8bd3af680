"""Staff roles: the groups exist after migrate with their permissions; the auditor reads
everything and changes nothing; a hand-made change to a group survives a sync unless reset."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from loyalty import roles
from tests.factories.loyalty import PartnerFactory

pytestmark = pytest.mark.django_db


def _perms(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_every_role_exists_after_migrate_and_every_pattern_means_something():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)
    assert roles.unmatched_patterns() == {}


def test_the_roles_hold_what_their_work_needs():
    assert len(_perms(roles.COALITION_ADMIN)) == Permission.objects.count()
    marketer = _perms(roles.MARKETER)
    assert {"promotions.add_promotion", "reports.add_backtest", "crm.change_segment"} <= marketer
    assert "loyalty.change_card" not in marketer
    operator = _perms(roles.OPERATOR)
    assert {"contactcenter.add_ticket", "loyalty.change_card", "crm.view_customer"} <= operator
    assert "audit.view_auditevent" not in operator
    assert {"contactcenter.use_console", "contactcenter.add_adjustment"} <= operator
    assert "contactcenter.approve_adjustment" not in operator
    assert "contactcenter.view_contacts" not in operator
    assert not any(p.startswith("promotions.change") for p in operator)
    supervisor = _perms(roles.SUPERVISOR)
    assert operator < supervisor
    assert "contactcenter.change_slapolicy" in supervisor
    assert {"contactcenter.approve_adjustment", "contactcenter.view_contacts"} <= supervisor
    partner = _perms(roles.PARTNER_STAFF)
    assert {
        "loyalty.change_store",
        "promotions.change_promotion",
        "loyalty.view_receipt",
    } <= partner
    assert not any(p.startswith("crm.") and p != "crm.view_segment" for p in partner)
    assert not any(p.startswith(("contactcenter.", "auth.")) for p in partner)


def test_the_auditor_only_reads(client):
    auditor = _perms(roles.AUDITOR)
    assert auditor
    assert all(p.split(".")[1].startswith("view_") for p in auditor)
    assert "audit.view_auditevent" in auditor
    user = get_user_model().objects.create_user("audrey", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.AUDITOR))
    client.force_login(user)
    partner = PartnerFactory(name="Alpha")
    change = reverse("admin:loyalty_partner_change", args=[partner.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert client.post(change, {"name": "Renamed"}).status_code == 403
    assert client.get(reverse("admin:loyalty_partner_add")).status_code == 403
    partner.refresh_from_db()
    assert partner.name == "Alpha"


def test_a_sync_keeps_what_was_added_by_hand_unless_reset():
    operator = Group.objects.get(name=roles.OPERATOR)
    extra = Permission.objects.get(codename="change_promotion")
    operator.permissions.add(extra)
    call_command("roles_sync", stdout=io.StringIO())
    assert operator.permissions.filter(pk=extra.pk).exists()
    roles.roles_sync(reset=True)
    assert not operator.permissions.filter(pk=extra.pk).exists()
    operator.delete()
    roles.roles_sync()
    assert Group.objects.filter(name=roles.OPERATOR).exists()
