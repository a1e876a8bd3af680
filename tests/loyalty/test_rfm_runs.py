"""RFM runs over time: the cell history and the movement between two runs, a run with nothing
changed, cells redefined, the ``rfm_cell`` condition, the segments made per cell and their
refresh after a run, the nightly job and its schedule, the customer 360."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.errors import RuleParamsInvalid
from crm.models import Customer, Segment, SegmentMember
from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean
from loyalty.models import (
    Currency,
    RfmCell,
    RfmCellChange,
    RfmRun,
    RfmRunMove,
    RfmRunStat,
    RfmScore,
    Terminal,
)
from loyalty.rfm.compute import rfm_cells_reassign, rfm_recompute, rfm_recompute_all
from loyalty.rfm.segments import rfm_cell_segments_create, rfm_segments_refresh
from loyalty.tasks import rfm_recompute_all_task
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CurrencyFactory, ProgrammeFactory, TerminalFactory
from tests.loyalty.rfm_helpers import buy, scheme_make

pytestmark = pytest.mark.django_db
D = Decimal
THRESHOLDS = {
    "recency_scoring": "thresholds",
    "recency_bounds": "30, 60, 120, 240",
    "frequency_scoring": "thresholds",
    "frequency_bounds": "2, 3, 5, 8",
}


@dataclass
class World:
    now: datetime
    currency: Currency
    terminal: Terminal


@pytest.fixture
def world() -> World:
    now = timezone.now().replace(microsecond=0)
    return World(now=now, currency=CurrencyFactory(), terminal=TerminalFactory())


@pytest.fixture
def people(world):
    """ann new (R5 F1), bob a champion (R5 F5), cat and eve lost (R1 F1) as of now."""
    ann, bob, cat, eve = CustomerFactory.create_batch(4)
    buy(world, ann, days_ago=10)
    for n in range(8):
        buy(world, bob, days_ago=5 + n, money="500.00")
    buy(world, cat, days_ago=300)
    buy(world, eve, days_ago=310)
    return ann, bob, cat, eve


def cells(scheme) -> dict[int, str]:
    return dict(RfmScore.objects.filter(scheme=scheme).values_list("customer_id", "cell"))


def moves(run) -> set[tuple[str, str, int]]:
    return set(RfmRunMove.objects.filter(run=run).values_list("from_cell", "to_cell", "customers"))


def changes(run) -> set[tuple[int, str, str]]:
    return set(
        RfmCellChange.objects.filter(run=run).values_list("customer_id", "from_cell", "to_cell")
    )


def test_two_runs_record_the_history_and_the_movement(world, people):
    ann, bob, cat, eve = people
    scheme = scheme_make(world.currency.programme, **THRESHOLDS)

    # when the first run scores everyone for the first time
    first = rfm_recompute(scheme.pk, now=world.now)

    assert cells(scheme) == {ann.pk: "new", bob.pk: "champions", cat.pk: "lost", eve.pk: "lost"}
    assert changes(first) == {
        (ann.pk, "", "new"),
        (bob.pk, "", "champions"),
        (cat.pk, "", "lost"),
        (eve.pk, "", "lost"),
    }
    assert moves(first) == {("", "new", 1), ("", "champions", 1), ("", "lost", 2)}
    assert first.changed == 4

    # when 100 days later dan has bought and eve was anonymised
    later = world.now + timedelta(days=100)
    dan = CustomerFactory()
    buy(world, dan, days_ago=-50)
    Customer.objects.filter(pk=eve.pk).update(is_anonymised=True)
    second = rfm_recompute(scheme.pk, now=later)

    # then who moved is recorded, who stayed is counted
    assert cells(scheme) == {
        ann.pk: "about_to_sleep",  # 110 days: R3, F1
        bob.pk: "loyal",  # 105 days: R3, F5
        cat.pk: "lost",
        dan.pk: "promising",  # 50 days: R4, F1
    }
    assert changes(second) == {
        (ann.pk, "new", "about_to_sleep"),
        (bob.pk, "champions", "loyal"),
        (dan.pk, "", "promising"),
        (eve.pk, "lost", ""),
    }
    assert moves(second) == {
        ("new", "about_to_sleep", 1),
        ("champions", "loyal", 1),
        ("", "promising", 1),
        ("lost", "", 1),
        ("lost", "lost", 1),
    }
    assert (second.size, second.buyers, second.changed) == (4, 3, 4)
    assert RfmCellChange.objects.filter(customer=ann).count() == 2  # ann's history
    grid = {
        (s.r, s.f): (s.cell, s.customers, s.money) for s in RfmRunStat.objects.filter(run=second)
    }
    assert grid == {
        (3, 1): ("about_to_sleep", 1, D("100.00")),
        (3, 5): ("loyal", 1, D("4000.00")),
        (1, 1): ("lost", 1, D("0.00")),
        (4, 1): ("promising", 1, D("100.00")),
    }
    assert second.money == D("4200.00")
    # the first run's aggregates are kept as they were
    assert RfmRunStat.objects.filter(run=first).count() == 3


def test_a_run_with_nothing_changed_records_only_stays(world, people):
    scheme = scheme_make(world.currency.programme, **THRESHOLDS)
    rfm_recompute(scheme.pk, now=world.now)

    again = rfm_recompute(scheme.pk, now=world.now)

    assert again.changed == 0
    assert changes(again) == set()
    assert all(source == target for source, target, _count in moves(again))
    assert sum(count for *_cells, count in moves(again)) == again.size == 4


def test_redefined_cells_move_the_scores_without_history(world, people):
    ann, bob, cat, eve = people
    scheme = scheme_make(world.currency.programme, **THRESHOLDS)
    run = rfm_recompute(scheme.pk, now=world.now)
    assert rfm_cells_reassign(scheme.pk) == 0  # the cells as the run found them

    RfmCell.objects.filter(scheme=scheme, code="lost").update(code="gone", name="Gone")
    assert rfm_cells_reassign(scheme.pk) == 2

    assert cells(scheme) == {ann.pk: "new", bob.pk: "champions", cat.pk: "gone", eve.pk: "gone"}
    assert RfmCellChange.objects.filter(scheme=scheme).exclude(run=run).count() == 0


# --- the segment condition ------------------------------------------------------------------


def rule(scheme_id, cells_, negated=False) -> dict:
    return {
        "op": "and",
        "items": [{"kind": "rfm_cell", "not": negated, "scheme": scheme_id, "cells": cells_}],
    }


def test_the_rfm_cell_condition_finds_the_customers_of_its_cells(world, people):
    ann, bob, cat, eve = people
    stranger = CustomerFactory()
    programme = world.currency.programme
    scheme = scheme_make(programme, **THRESHOLDS)
    rfm_recompute(scheme.pk, now=world.now)

    def members(rule_):
        clean = rule_clean(rule_, programme_id=programme.pk)
        return set(rule_members(clean, programme_id=programme.pk).values_list("pk", flat=True))

    assert members(rule(scheme.pk, ["lost"])) == {cat.pk, eve.pk}
    assert members(rule(scheme.pk, ["new", "champions"])) == {ann.pk, bob.pk}
    # NOT is the complement, customers never scored included
    assert members(rule(scheme.pk, ["lost"], negated=True)) >= {ann.pk, bob.pk, stranger.pk}
    assert not members(rule(scheme.pk, ["lost"], negated=True)) & {cat.pk, eve.pk}


def test_the_rfm_cell_condition_refuses_unknown_cells_and_other_programmes_schemes(world):
    programme = world.currency.programme
    scheme = scheme_make(programme)
    theirs = scheme_make(ProgrammeFactory(code="theirs"), code="theirs")

    with pytest.raises(RuleParamsInvalid) as unknown:
        rule_clean(rule(scheme.pk, ["lost", "vip"]), programme_id=programme.pk)
    with pytest.raises(RuleParamsInvalid) as foreign:
        rule_clean(rule(theirs.pk, ["lost"]), programme_id=programme.pk)
    with pytest.raises(RuleParamsInvalid) as empty:
        rule_clean(rule(scheme.pk, []), programme_id=programme.pk)

    assert (unknown.value.details["param"], unknown.value.details["missing"]) == ("cells", ["vip"])
    assert foreign.value.details["param"] == "scheme"
    assert empty.value.details["param"] == "cells"
    assert rule_clean(rule(scheme.pk, ["lost", "lost"]), programme_id=programme.pk)["items"][0][
        "cells"
    ] == ["lost"]


# --- segments per cell -----------------------------------------------------------------------


def test_a_segment_per_cell_follows_each_run(world, people):
    ann, bob, cat, eve = people
    scheme = scheme_make(world.currency.programme, **THRESHOLDS)
    rfm_recompute(scheme.pk, now=world.now)

    made = rfm_cell_segments_create(scheme)

    assert len(made.created) == RfmCell.objects.filter(scheme=scheme).count() == 11
    lost = Segment.objects.get(code=f"rfm.{scheme.code}.lost")
    assert lost.kind == Segment.Kind.RULES
    assert set(lost.members.values_list("customer_id", flat=True)) == {cat.pk, eve.pk}
    # again: nothing new, the segments are left as they are
    again = rfm_cell_segments_create(scheme)
    assert (len(again.created), len(again.existing)) == (0, 11)

    # when a later run moves bob out of the champions, the refresh follows
    champions = Segment.objects.get(code=f"rfm.{scheme.code}.champions")
    rfm_recompute(scheme.pk, now=world.now + timedelta(days=100))
    assert set(champions.members.values_list("customer_id", flat=True)) == {bob.pk}
    done = rfm_segments_refresh(scheme.pk)
    assert (done.refreshed, done.failed) == (11, 0)
    assert not champions.members.exists()
    assert SegmentMember.objects.filter(segment__code=f"rfm.{scheme.code}.loyal").count() == 1


def test_the_nightly_job_recomputes_active_schemes_and_their_segments(world, people, celery_eager):
    programme = world.currency.programme
    active = scheme_make(programme, code="active", **THRESHOLDS)
    idle = scheme_make(programme, code="idle", is_active=False)
    broken = scheme_make(programme, code="broken")
    RfmCell.objects.filter(scheme=broken, code="lost").delete()  # a gap: R1 F1, R1 F2
    rfm_cell_segments_create(active)  # no scores yet: empty segments

    done = rfm_recompute_all_task.delay().get()

    assert done == {"schemes": 1, "failed": 1, "segments": 11}
    assert RfmRun.objects.filter(scheme=active).count() == 1
    assert not RfmRun.objects.filter(scheme__in=[idle, broken]).exists()
    assert Segment.objects.get(code="rfm.active.lost").members.count() == 2
    assert rfm_recompute_all(now=world.now)["schemes"] == 1


def test_the_nightly_job_is_scheduled_before_the_segments_refresh():
    task = PeriodicTask.objects.get(name="Recompute RFM scores (nightly)")
    segments = PeriodicTask.objects.get(task="crm.segments_refresh")

    assert task.task == "loyalty.rfm_recompute_all"
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("3", "0")
    assert (segments.crontab.hour, segments.crontab.minute) == ("3", "30")


# --- the customer 360 ------------------------------------------------------------------------


def test_the_360_shows_the_cell_and_its_history(admin_client, world, people):
    ann, *_others = people
    scheme = scheme_make(world.currency.programme, name="Yearly RFM", **THRESHOLDS)
    rfm_recompute(scheme.pk, now=world.now)
    rfm_recompute(scheme.pk, now=world.now + timedelta(days=100))
    stranger = CustomerFactory()

    page = admin_client.get(reverse("console:customer", args=[ann.pk])).content.decode()
    empty = admin_client.get(reverse("console:customer", args=[stranger.pk])).content.decode()

    section = page[page.index('<section id="rfm"') :].split("</section>")[0]
    assert "Yearly RFM" in section
    assert "About to sleep" in section  # now
    assert "New customers → About to sleep" in section  # the history
    assert "not scored → New customers" in section
    assert "Not scored." in empty
