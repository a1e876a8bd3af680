"""The auditor browses the trail in the admin: filters, search, a before/after table; nobody,
not even a superuser, can add, change or delete an event there."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from audit.models import AuditEvent
from loyalty.models import Partner
from tests.factories.loyalty import PartnerFactory

pytestmark = pytest.mark.django_db
URL = "/admin/audit/auditevent/"


@pytest.fixture
def auditor(client):
    user = get_user_model().objects.create_user("ivan", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(user)
    return client


def test_the_view_permission_opens_the_list_and_the_detail(auditor):
    # given
    partner = PartnerFactory(name="Clinic")
    partner.name = "Clinic North"
    partner.save()
    event = AuditEvent.objects.get(action="update", content_type__model="partner")
    # when
    listing = auditor.get(URL)
    detail = auditor.get(f"{URL}{event.pk}/change/")
    # then
    assert listing.status_code == 200
    assert b"Clinic North" in listing.content
    assert detail.status_code == 200
    assert b"audit-changes" in detail.content
    assert b"Clinic North" in detail.content
    assert b"(name)" in detail.content  # the row names the field
    assert b'name="_save"' not in detail.content


def test_filters_and_search_narrow_the_list(auditor):
    first = PartnerFactory(name="Alpha")
    PartnerFactory(name="Beta")
    content_type = ContentType.objects.get_for_model(Partner)
    filtered = auditor.get(
        URL, {"content_type__id__exact": content_type.pk, "object_id": first.pk, "action": "create"}
    )
    assert list(filtered.context["cl"].result_list) == list(
        AuditEvent.objects.filter(object_id=str(first.pk), content_type=content_type)
    )
    searched = auditor.get(URL, {"q": "Beta"})
    assert [e.object_repr for e in searched.context["cl"].result_list] == ["Beta"]
    year = str(first.created_at.year)
    for params in ({"source__exact": "command"}, {"at__year": year}, {"user__isnull": "True"}):
        assert auditor.get(URL, params).status_code == 200


def test_nobody_can_add_change_or_delete_events(admin_client):
    partner = PartnerFactory()
    event = AuditEvent.objects.get(object_id=str(partner.pk), content_type__model="partner")
    assert admin_client.get(f"{URL}add/").status_code == 403
    assert admin_client.get(f"{URL}{event.pk}/delete/").status_code == 403
    response = admin_client.post(f"{URL}{event.pk}/change/", {"note": "edited"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.note == ""
    listing = admin_client.get(URL)
    assert listing.context["cl"].model_admin.get_actions(listing.wsgi_request) == {}


def test_staff_without_the_permission_get_403(client):
    user = get_user_model().objects.create_user("petr", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403


def test_audited_pages_link_to_their_trail(admin_client, client):
    partner = PartnerFactory()
    page = admin_client.get(f"/admin/loyalty/partner/{partner.pk}/change/")
    assert b"audit-trail-link" in page.content
    assert f"object_id={partner.pk}".encode() in page.content
    # not for staff who may not see the trail
    user = get_user_model().objects.create_user("petr", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_partner"))
    client.force_login(user)
    page = client.get(f"/admin/loyalty/partner/{partner.pk}/change/")
    assert page.status_code == 200
    assert b"audit-trail-link" not in page.content


def test_a_user_with_a_history_is_protected_from_deletion(admin_client):
    # given: a staff user who changed something
    from audit.trail import audit_context

    user = get_user_model().objects.create_user("lena", password="x", is_staff=True)
    with audit_context(user=user):
        PartnerFactory()
    # when: the admin tries to delete them
    page = admin_client.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})
    # then: the admin explains instead of failing; the user stays (deactivate them instead)
    assert page.status_code == 200
    assert get_user_model().objects.filter(pk=user.pk).exists()
