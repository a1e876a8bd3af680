"""Refreshing rule segments: the members become the rule's, who entered and left is recorded,
a second refresh changes nothing, a failure changes no member, manual segments are never
refreshed, concurrent refreshes queue (PostgreSQL, real threads); the preview saves nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.errors import RuleParamsInvalid, SegmentIsManual
from crm.models import Segment, SegmentMember, SegmentMembershipChange, SegmentRefresh
from crm.segments.preview import segment_preview
from crm.segments.refresh import segment_refresh, segments_refresh_all
from crm.tasks import segment_refresh_task, segments_refresh_task
from tests.factories.crm import CustomerFactory, SegmentFactory
from tests.factories.loyalty import ProgrammeFactory

WOMEN = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}
MEN = {"op": "and", "items": [{"kind": "gender", "genders": ["male"]}]}


def members(segment) -> set[int]:
    return set(SegmentMember.objects.filter(segment=segment).values_list("customer_id", flat=True))


def changes(segment) -> list[tuple[int, str]]:
    return sorted(
        SegmentMembershipChange.objects.filter(segment=segment).values_list("customer_id", "change")
    )


@pytest.fixture
def people(db):
    return {
        "anna": CustomerFactory(gender="female"),
        "olga": CustomerFactory(gender="female"),
        "ivan": CustomerFactory(gender="male"),
        "gone": CustomerFactory(gender="female", is_anonymised=True),
    }


@pytest.mark.django_db
def test_a_refresh_records_who_entered_and_left_and_itself(people):
    # given a rule segment for women with one man put in by hand
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    SegmentMember.objects.create(segment=segment, customer=people["ivan"])
    now = timezone.now()

    # when it is refreshed
    refresh = segment_refresh(segment.pk, now=now)

    # then the women are in, the man left, the anonymised customer is never in
    anna, olga, ivan = people["anna"].pk, people["olga"].pk, people["ivan"].pk
    assert members(segment) == {anna, olga}
    assert changes(segment) == sorted([(anna, "entered"), (olga, "entered"), (ivan, "left")])
    assert (refresh.size, refresh.entered, refresh.left) == (2, 2, 1)
    assert refresh.as_of == now
    assert refresh.error == ""
    segment.refresh_from_db()
    assert (segment.size, segment.refreshed_at, segment.refresh_error) == (2, now, "")
    assert segment.refresh_ms == refresh.took_ms
    assert all(c.refresh_id == refresh.pk and c.at == now for c in segment.membership_changes.all())


@pytest.mark.django_db
def test_refreshing_twice_changes_nothing_the_second_time(people):
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    segment_refresh(segment.pk)
    before = (members(segment), changes(segment))

    again = segment_refresh(segment.pk)

    assert (members(segment), changes(segment)) == before
    assert (again.size, again.entered, again.left) == (2, 0, 0)
    assert SegmentRefresh.objects.filter(segment=segment).count() == 2  # size over time


@pytest.mark.django_db
def test_a_changed_rule_moves_people_and_history_keeps_both_refreshes(people):
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    first = segment_refresh(segment.pk)
    segment.rule = MEN
    segment.save()

    second = segment_refresh(segment.pk)

    assert members(segment) == {people["ivan"].pk}
    assert (second.entered, second.left) == (1, 2)
    by_refresh = {
        refresh: sorted(SegmentMembershipChange.objects.filter(refresh=refresh).values_list("change", flat=True))
        for refresh in (first, second)
    }  # fmt: skip
    assert by_refresh == {first: ["entered", "entered"], second: ["entered", "left", "left"]}


@pytest.mark.django_db
def test_a_manual_segment_is_never_refreshed(people):
    segment = SegmentFactory()
    SegmentMember.objects.create(segment=segment, customer=people["ivan"])
    with pytest.raises(SegmentIsManual):
        segment_refresh(segment.pk)
    assert members(segment) == {people["ivan"].pk}
    assert not SegmentRefresh.objects.exists()
    assert segments_refresh_all() == {"refreshed": 0, "failed": 0}


@pytest.mark.django_db
def test_a_rule_that_cannot_be_evaluated_changes_no_member_and_says_why(people):
    # given a segment whose rule names a segment deleted since it was saved
    named = SegmentFactory()
    segment = SegmentFactory(
        programme=named.programme,
        kind=Segment.Kind.RULES,
        rule={"op": "and", "items": [{"kind": "segment", "segment": named.pk}]},
    )
    SegmentMember.objects.create(segment=segment, customer=people["anna"])
    named.delete()

    with pytest.raises(RuleParamsInvalid):
        segment_refresh(segment.pk)

    assert members(segment) == {people["anna"].pk}
    assert not SegmentMembershipChange.objects.exists()
    segment.refresh_from_db()
    assert "segment" in segment.refresh_error
    failed = SegmentRefresh.objects.get(segment=segment)
    assert failed.size is None
    assert failed.error == segment.refresh_error


@pytest.mark.django_db
def test_the_nightly_job_refreshes_a_segment_after_the_ones_it_reads(people):
    # given a segment made first (a job in id order would refresh it first) that reads the
    # members of a segment made after it
    programme = ProgrammeFactory()
    recent_women = SegmentFactory(programme=programme, kind=Segment.Kind.RULES, rule=MEN)
    women = SegmentFactory(programme=programme, kind=Segment.Kind.RULES, rule=WOMEN)
    recent_women.rule = {
        "op": "and",
        "items": [
            {"kind": "segment", "segment": women.pk},
            {"kind": "registered", "window": {"last_days": 30}},
        ],
    }
    recent_women.full_clean()
    recent_women.save()

    # when the nightly job runs once
    done = segments_refresh_task()

    # then the reader saw the women already refreshed
    assert done == {"refreshed": 2, "failed": 0}
    assert members(recent_women) == {people["anna"].pk, people["olga"].pk}


@pytest.mark.django_db
def test_the_nightly_job_is_in_the_default_schedule():
    task = PeriodicTask.objects.get(task="crm.segments_refresh")
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("3", "30")


@pytest.mark.django_db
def test_the_task_refreshes_on_demand(people, celery_eager):
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    assert segment_refresh_task.delay(segment.pk).get() == 2
    manual = SegmentFactory()
    assert segment_refresh_task.delay(manual.pk).get() is None


@pytest.mark.django_db
def test_the_preview_counts_and_lists_without_saving(people):
    programme = ProgrammeFactory()
    rule = {"op": "or", "items": [{"kind": "gender", "genders": ["female"]}]}

    preview = segment_preview(rule, programme_id=programme.pk, limit=1)

    assert preview.size == 2
    assert len(preview.customers) == 1
    assert preview.customers[0].pk in (people["anna"].pk, people["olga"].pk)
    assert preview.rule["items"][0]["not"] is False
    assert not SegmentMember.objects.exists()
    assert not Segment.objects.exists()
    with pytest.raises(RuleParamsInvalid):
        segment_preview({"op": "and", "items": [{"kind": "age"}]}, programme_id=programme.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_segment_queue_and_record_each_change_once():
    # given 200 customers, half of them women, and a segment of women
    CustomerFactory.create_batch(100, gender="female")
    CustomerFactory.create_batch(100, gender="male")
    segment = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)
    now = timezone.now() - timedelta(seconds=1)
    barrier = threading.Barrier(6)
    errors: list[Exception] = []

    def run():
        try:
            barrier.wait()
            segment_refresh(segment.pk, now=now)
        except Exception as exc:  # noqa: BLE001 - every outcome is checked below
            errors.append(exc)
        finally:
            connection.close()

    # when six refreshes start together
    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then each woman entered once, by exactly one of them, and the others found nothing to do
    assert errors == []
    assert len(members(segment)) == 100
    assert SegmentMembershipChange.objects.filter(segment=segment).count() == 100
    refreshes = list(SegmentRefresh.objects.filter(segment=segment).values_list("entered", "left"))
    assert sorted(refreshes) == [(0, 0)] * 5 + [(100, 0)]
