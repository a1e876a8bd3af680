"""Segments over time (Reports → Segments over time): each segment's size at its last refreshes
as an inline line, one segment's every refresh as a table and a CSV; partner staff see the
segments of their partner's programmes and of the coalition's only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Segment, SegmentRefresh
from loyalty.models import Programme, StaffProfile
from reports.services.segments import segments_overview, size_chart
from tests.factories.crm import CustomerFactory, SegmentFactory
from tests.factories.loyalty import PartnerFactory, ProgrammeFactory

pytestmark = pytest.mark.django_db
RULE = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}


def _refreshes(segment, sizes, *, start=None):
    """One refresh a day with these sizes (None: a failed one), the first ``len`` days ago."""
    start = start or timezone.now() - timedelta(days=len(sizes))
    previous = 0
    for day, size in enumerate(sizes):
        SegmentRefresh.objects.create(
            segment=segment,
            started_at=start + timedelta(days=day),
            as_of=start + timedelta(days=day),
            size=size,
            entered=max((size or previous) - previous, 0),
            left=max(previous - (size or previous), 0),
            took_ms=10 + day,
            error="" if size is not None else "rule names a deleted row",
        )
        previous = size if size is not None else previous


def _staff(django_user_model, name, *codenames, partner=None):
    user = django_user_model.objects.create_user(name, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="crm", codename=codename)
        )
    if partner is not None:
        StaffProfile.objects.create(user=user, partner=partner)
    return get_user_model().objects.get(pk=user.pk)


# --- the line ----------------------------------------------------------------------------------


def test_the_line_puts_the_largest_size_at_the_top_and_the_smallest_at_the_bottom():
    chart = size_chart([10, 30, 20], width=100, height=40)

    assert chart.points == "0.0,40.0 50.0,0.0 100.0,20.0"
    assert (chart.low, chart.high) == (10, 30)


def test_equal_sizes_draw_a_flat_line_and_one_size_a_point_in_the_middle():
    assert size_chart([5, 5], width=100, height=40).points == "0.0,20.0 100.0,20.0"
    assert size_chart([7], width=100, height=40).points == "50.0,20.0"
    assert size_chart([], width=100, height=40).points == ""


# --- the overview --------------------------------------------------------------------------------


def test_the_overview_keeps_the_last_refreshes_that_found_a_size_oldest_first():
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=RULE, name="A rules")
    _refreshes(rules, [3, 5, None, 8, 13])
    manual = SegmentFactory(programme=rules.programme, name="B by hand")
    manual.customers.add(*CustomerFactory.create_batch(2))

    rows = segments_overview(Segment.objects.all(), spark=3)

    assert [row.segment for row in rows] == [rules, manual]
    assert [r.size for r in rows[0].refreshes] == [5, 8, 13]  # the failed one left out
    assert rows[1].refreshes == []
    assert rows[1].members == 2


def test_the_overview_reads_the_same_queries_whatever_the_number_of_segments():
    first = SegmentFactory(kind=Segment.Kind.RULES, rule=RULE)
    _refreshes(first, [1, 2])
    with CaptureQueriesContext(connection) as one:
        segments_overview(Segment.objects.all())
    for _ in range(5):
        _refreshes(SegmentFactory(kind=Segment.Kind.RULES, rule=RULE), [4, 5, 6])
    with CaptureQueriesContext(connection) as six:
        rows = segments_overview(Segment.objects.all())

    assert len(rows) == 6
    assert len(six) == len(one) == 2


def test_the_page_draws_each_segment(client, django_user_model):
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=RULE, name="Women")
    _refreshes(rules, [10, 12, 11])
    SegmentFactory(programme=rules.programme, kind=Segment.Kind.RULES, rule=RULE, name="Fresh")
    SegmentFactory(programme=rules.programme, name="Staff")
    client.force_login(_staff(django_user_model, "mk", "view_segment"))

    page = client.get(reverse("reports:segments")).content.decode()

    row = page.split(f'id="segment-{rules.pk}"')[1].split("</tr>")[0]
    assert "<polyline" in row
    assert "10–12" in row
    assert reverse("reports:segment", args=[rules.pk]) in row
    assert "Not refreshed yet." in page
    assert "Filled by hand: never refreshed." in page
    assert "cdn" not in page.lower()
    assert '<script src="http' not in page


# --- one segment ---------------------------------------------------------------------------------


def test_one_segment_lists_every_refresh_newest_first_and_gives_them_as_csv(
    client, django_user_model
):
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=RULE, name="Women", code="women")
    _refreshes(segment, [10, None, 12])
    client.force_login(_staff(django_user_model, "mk", "view_segment"))
    url = reverse("reports:segment", args=[segment.pk])

    page = client.get(url).content.decode()
    table = page.split('id="refreshes"')[1]
    assert table.index("<td>12</td>") < table.index("rule names a deleted row")
    assert table.index("rule names a deleted row") < table.index("<td>10</td>")
    assert 'id="size-chart"' in page
    assert "from 10 to 12 members" in page

    response = client.get(url, {"format": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="segment-women-sizes.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[2:5] for row in rows[1:]] == [["12", "2", "0"], ["", "0", "0"], ["10", "10", "0"]]
    assert rows[2][6] == "rule names a deleted row"


def test_a_segment_never_refreshed_says_so(client, django_user_model):
    manual = SegmentFactory(name="Staff")
    client.force_login(_staff(django_user_model, "mk", "view_segment"))

    page = client.get(reverse("reports:segment", args=[manual.pk])).content.decode()

    assert "Filled by hand: never refreshed." in page
    assert 'id="size-chart"' not in page
    assert "Download CSV" not in page


def test_without_the_right_to_see_segments_the_pages_are_closed(client, django_user_model):
    segment = SegmentFactory()
    client.force_login(_staff(django_user_model, "nobody"))

    assert client.get(reverse("reports:segments")).status_code == 403
    assert client.get(reverse("reports:segment", args=[segment.pk])).status_code == 403


def test_partner_staff_see_their_programmes_and_the_coalitions_segments_only(
    client, django_user_model
):
    alpha, bravo = PartnerFactory(name="Alpha"), PartnerFactory(name="Bravo")
    coalition = ProgrammeFactory(code="coalition")
    ours = SegmentFactory(
        programme=Programme.objects.create(code="alpha", name="Alpha club", partner=alpha),
        name="Alpha regulars",
    )
    theirs = SegmentFactory(
        programme=Programme.objects.create(code="bravo", name="Bravo club", partner=bravo),
        name="Bravo regulars",
    )
    shared = SegmentFactory(programme=coalition, name="Coalition regulars")
    client.force_login(_staff(django_user_model, "alpha", "view_segment", partner=alpha))

    page = client.get(reverse("reports:segments")).content.decode()

    assert "Alpha regulars" in page
    assert "Coalition regulars" in page
    assert "Bravo" not in page
    assert client.get(reverse("reports:segment", args=[ours.pk])).status_code == 200
    assert client.get(reverse("reports:segment", args=[shared.pk])).status_code == 200
    assert client.get(reverse("reports:segment", args=[theirs.pk])).status_code == 404
