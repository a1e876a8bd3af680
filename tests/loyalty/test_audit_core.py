"""The audit trail's core: who and from where come from the context, values are JSON-safe,
rows cannot be changed."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.trail import AuditMiddleware, audit_context, changes, client_address, record, snapshot
from loyalty.models import ImmutableRowError, Partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("olga", password="x", is_staff=True)


def test_an_event_takes_who_and_where_from_the_context(staff):
    partner = Partner.objects.create(name="Pharmacy", code="PH")
    with audit_context(user=staff, address="10.0.0.7", source=AuditEvent.Source.ADMIN):
        event = record(AuditEvent.Action.UPDATE, partner, before={"name": "A"}, after={"name": "B"})
    event.refresh_from_db()
    assert (event.user, event.username, event.address) == (staff, "olga", "10.0.0.7")
    assert event.source == AuditEvent.Source.ADMIN
    assert (event.object_id, event.object_repr) == (str(partner.pk), str(partner))
    assert event.content_type.model_class() is Partner
    # outside any context: a command, nobody, no address
    bare = record(AuditEvent.Action.OTHER, note="nightly")
    assert (bare.user, bare.address, bare.source) == (None, None, AuditEvent.Source.COMMAND)


def test_snapshot_is_json_safe_and_changes_keep_only_what_differs():
    partner = Partner(name="Clinic", code="CL")
    values = snapshot(partner)
    assert values["name"] == "Clinic"
    before = {"a": Decimal("1"), "b": 1}
    assert changes({"a": "1.00", "b": 1}, {"a": "2.00", "b": 1}) == ({"a": "1.00"}, {"a": "2.00"})
    assert changes(before, before) == ({}, {})


def test_events_are_append_only(staff):
    event = record(AuditEvent.Action.OTHER, user=staff)
    with pytest.raises(ImmutableRowError):
        event.save()
    with pytest.raises(ImmutableRowError):
        AuditEvent.objects.filter(pk=event.pk).update(note="x")
    with pytest.raises(ImmutableRowError):
        event.delete()
    # and the database refuses a raw UPDATE
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE loyalty_auditevent SET note = 'x' WHERE id = %s", [event.pk])


def test_the_middleware_sets_the_context_for_the_request(staff, settings):
    seen = {}

    def view(request):
        seen["event"] = record(AuditEvent.Action.OTHER, note="in a view")

    request = RequestFactory().post("/admin/loyalty/partner/1/change/", REMOTE_ADDR="192.0.2.5")
    request.user = staff
    AuditMiddleware(view)(request)
    event = seen["event"]
    assert (event.user, event.address, event.source) == (staff, "192.0.2.5", "admin")
    # a forwarded address counts only where a trusted proxy is declared
    request.META["HTTP_X_FORWARDED_FOR"] = "203.0.113.9, 10.0.0.1"
    assert client_address(request) == "192.0.2.5"
    settings.AUDIT_TRUST_FORWARDED_FOR = True
    assert client_address(request) == "203.0.113.9"


def test_timestamps_are_aware(staff):
    event = record(AuditEvent.Action.OTHER, user=staff)
    assert event.at.tzinfo is not None
    assert event.at <= datetime.datetime.now(datetime.UTC)
