"""The segments' admin: a rule segment shows its refreshes and is refreshed by an action; a bad
rule is refused on the form with its named error; a rule segment's members are not edited by
hand."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.urls import reverse

from crm.admin import SegmentMemberInline
from crm.models import Segment, SegmentRefresh
from tests.factories.crm import CustomerFactory, SegmentFactory

pytestmark = pytest.mark.django_db
WOMEN = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}


def test_the_refresh_action_refreshes_rule_segments_and_skips_manual_ones(admin_client):
    CustomerFactory(gender="female")
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    manual = SegmentFactory(programme=rules.programme)

    response = admin_client.post(
        reverse("admin:crm_segment_changelist"),
        {"action": "refresh_now", "_selected_action": [rules.pk, manual.pk]},
        follow=True,
    )

    assert response.status_code == 200
    text = response.content.decode()
    assert "1 members, 1 entered, 0 left" in text
    assert "never refreshed" in text
    refresh = SegmentRefresh.objects.get()
    assert refresh.user is not None
    assert refresh.trigger == SegmentRefresh.Trigger.STAFF
    page = admin_client.get(reverse("admin:crm_segment_change", args=[rules.pk]))
    assert page.status_code == 200
    assert "1 (entered 1, left 0)" in page.content.decode()


def test_a_bad_rule_is_refused_on_the_form(admin_client):
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    data = {
        "programme": segment.programme_id,
        "code": segment.code,
        "name": segment.name,
        "description": "",
        "kind": "rules",
        "rule": json.dumps({"op": "and", "items": [{"kind": "horoscope"}]}),
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
    }
    response = admin_client.post(reverse("admin:crm_segment_change", args=[segment.pk]), data)
    assert response.status_code == 200
    assert "horoscope" in response.content.decode()
    segment.refresh_from_db()
    assert segment.rule == WOMEN


def test_a_rule_segments_members_are_read_only(admin_user, rf):
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    manual = SegmentFactory(programme=rules.programme)
    inline = SegmentMemberInline(Segment, admin.site)
    request = rf.get("/")
    request.user = admin_user
    assert not inline.has_add_permission(request, rules)
    assert not inline.has_change_permission(request, rules)
    assert not inline.has_delete_permission(request, rules)
    assert inline.has_add_permission(request, manual)
