"""SLA arithmetic: working time added and measured over nights, weekends, holidays, midnight,
time zones and DST changes. Pure functions: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactcenter.worktime import (
    Schedule,
    ScheduleEmpty,
    add_working_time,
    working_minutes_between,
    working_time_between,
)

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_SIX = ((time(9), time(18)),)


def office(zone=MOSCOW, holidays=(), hours=NINE_TO_SIX, weekdays=range(5)) -> Schedule:
    return Schedule(zone=zone, hours=dict.fromkeys(weekdays, hours), holidays=frozenset(holidays))


def at(day: str, hh: int, mm: int = 0, zone=MOSCOW) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hh, mm), tzinfo=zone)


# 2026-03-02 is a Monday, 2026-03-06 a Friday.


def test_within_one_working_day():
    assert add_working_time(at("2026-03-02", 10), 120, office()) == at("2026-03-02", 12)


def test_outside_hours_starts_at_the_next_opening():
    # given a ticket opened at 07:00, before the office opens
    # then the clock starts at 09:00
    assert add_working_time(at("2026-03-02", 7), 30, office()) == at("2026-03-02", 9, 30)
    # and one opened in the evening starts the next morning
    assert add_working_time(at("2026-03-02", 20), 30, office()) == at("2026-03-03", 9, 30)


def test_the_night_is_skipped():
    # 17:00 + 2 h: one hour today, one tomorrow from 09:00
    assert add_working_time(at("2026-03-02", 17), 120, office()) == at("2026-03-03", 10)


def test_the_weekend_is_skipped():
    # Friday 17:30 + 1 h: 30 min on Friday, 30 min on Monday
    assert add_working_time(at("2026-03-06", 17, 30), 60, office()) == at("2026-03-09", 9, 30)
    # opened on Saturday: the clock starts on Monday
    assert add_working_time(at("2026-03-07", 12), 60, office()) == at("2026-03-09", 10)


def test_holidays_are_skipped():
    # given Monday 9 March is a holiday
    schedule = office(holidays=[date(2026, 3, 9)])
    # then Friday 17:30 + 1 h ends on Tuesday
    assert add_working_time(at("2026-03-06", 17, 30), 60, schedule) == at("2026-03-10", 9, 30)


def test_several_days_of_work():
    # 27 working hours from Monday 09:00 = three full days: Wednesday 18:00
    assert add_working_time(at("2026-03-02", 9), 27 * 60, office()) == at("2026-03-04", 18)


def test_an_end_exactly_at_closing_stays_on_that_day():
    assert add_working_time(at("2026-03-02", 9), 9 * 60, office()) == at("2026-03-02", 18)


def test_zero_minutes_is_the_start():
    assert add_working_time(at("2026-03-07", 3), 0, office()) == at("2026-03-07", 3)


def test_a_lunch_break_is_not_working_time():
    schedule = office(hours=((time(9), time(13)), (time(14), time(18))))
    assert add_working_time(at("2026-03-02", 12), 120, schedule) == at("2026-03-02", 15)
    assert working_minutes_between(at("2026-03-02", 12), at("2026-03-02", 15), schedule) == 120


def test_a_night_shift_crosses_midnight():
    # given a shift 22:00-06:00 every night
    schedule = office(hours=((time(22), time(6)),), weekdays=range(7))
    # then 23:00 + 3 h is 02:00 the next day
    assert add_working_time(at("2026-03-02", 23), 180, schedule) == at("2026-03-03", 2)
    # and at 03:00 the shift that began the day before is still running
    assert add_working_time(at("2026-03-03", 3), 60, schedule) == at("2026-03-03", 4)
    # and 05:00 + 2 h: one hour now, one from 22:00
    assert add_working_time(at("2026-03-03", 5), 120, schedule) == at("2026-03-03", 23)


def test_round_the_clock_and_midnight():
    schedule = office(hours=((time(0), time(0)),), weekdays=range(7))
    assert add_working_time(at("2026-03-02", 23), 120, schedule) == at("2026-03-03", 1)


def test_the_time_zone_of_the_calendar_decides():
    # given a Novosibirsk office (UTC+7) and a ticket opened at 09:00 Moscow (13:00 there)
    schedule = office(zone=ZoneInfo("Asia/Novosibirsk"))
    opened = at("2026-03-02", 9)
    # then 5 h + 1 h: 13:00-18:00 there, then 09:00-10:00 next day = 06:00 Moscow
    due = add_working_time(opened, 360, schedule)
    assert due == datetime(2026, 3, 3, 10, tzinfo=ZoneInfo("Asia/Novosibirsk"))
    assert due.tzinfo is MOSCOW  # answered in the zone of the start


def test_a_utc_start_is_read_in_the_calendar_zone():
    opened = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 08:00 Moscow
    assert add_working_time(opened, 60, office()) == at("2026-03-02", 10)


def test_dst_spring_forward_shortens_a_night_shift():
    # given a Berlin night shift; clocks go 02:00 -> 03:00 on Sunday 29 March 2026
    schedule = office(zone=BERLIN, hours=((time(22), time(6)),), weekdays=range(7))
    # then that night holds 7 real hours, not 8
    night = working_time_between(
        at("2026-03-28", 22, zone=BERLIN), at("2026-03-29", 6, zone=BERLIN), schedule
    )
    assert night == timedelta(hours=7)
    # and 22:00 + 7 h ends at 06:00 local
    assert add_working_time(at("2026-03-28", 22, zone=BERLIN), 420, schedule) == at(
        "2026-03-29", 6, zone=BERLIN
    )


def test_dst_fall_back_lengthens_a_night_shift():
    schedule = office(zone=BERLIN, hours=((time(22), time(6)),), weekdays=range(7))
    # clocks go 03:00 -> 02:00 on Sunday 25 October 2026: that night holds 9 hours
    start = at("2026-10-24", 22, zone=BERLIN)
    assert working_time_between(start, at("2026-10-25", 6, zone=BERLIN), schedule) == timedelta(
        hours=9
    )
    assert add_working_time(start, 9 * 60, schedule) == at("2026-10-25", 6, zone=BERLIN)


def test_dst_does_not_move_office_hours():
    # Friday 27 March 17:00 Berlin + 2 h: 1 h on Friday, 1 h on Monday after the change
    schedule = office(zone=BERLIN)
    due = add_working_time(at("2026-03-27", 17, zone=BERLIN), 120, schedule)
    assert due == at("2026-03-30", 10, zone=BERLIN)
    assert due.utcoffset() == timedelta(hours=2)


def test_minutes_between_counts_only_working_time():
    # Friday 17:00 -> Monday 10:00 = 1 h + 1 h
    assert working_minutes_between(at("2026-03-06", 17), at("2026-03-09", 10), office()) == 120
    assert working_minutes_between(at("2026-03-09", 10), at("2026-03-06", 17), office()) == -120
    assert working_minutes_between(at("2026-03-07", 1), at("2026-03-08", 23), office()) == 0


def test_an_empty_calendar_and_naive_times_are_refused():
    with pytest.raises(ScheduleEmpty):
        add_working_time(at("2026-03-02", 9), 10, Schedule(zone=MOSCOW, hours={}))
    with pytest.raises(ScheduleEmpty):
        add_working_time(
            at("2026-03-02", 9),
            10,
            office(holidays=[date(2026, 1, 1) + timedelta(days=n) for n in range(1200)]),
        )
    with pytest.raises(ValueError, match="aware"):
        add_working_time(datetime(2026, 3, 2, 9), 10, office())  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        add_working_time(at("2026-03-02", 9), -1, office())


starts = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(BERLIN),
)


@given(start=starts, minutes=st.integers(min_value=0, max_value=10_000))
def test_adding_then_measuring_gives_the_minutes_back(start, minutes):
    schedule = office(
        zone=BERLIN, hours=((time(8), time(12)), (time(22), time(2))), weekdays=(0, 2, 4, 5)
    )
    due = add_working_time(start, minutes, schedule)
    assert due >= start
    assert working_time_between(start, due, schedule) == timedelta(minutes=minutes)
