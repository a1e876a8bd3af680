"""Working-time arithmetic for SLA deadlines: pure Python, no database.

A ``Schedule`` is a week of working intervals in local wall-clock time, a set of holidays and a
time zone. An interval belongs to the day it starts on; one whose end is not after its start
runs past midnight into the next day (22:00-06:00 is a night shift, 00:00-00:00 a whole day).
A holiday removes the intervals that start on it.

Intervals are turned into aware instants day by day and all sums are taken on those instants,
so a working night that loses or gains an hour at a DST change counts the hours it really has.
Python compares and subtracts two datetimes of the same ``tzinfo`` by wall clock, so every
instant is turned to UTC before any sum. A wall-clock time that does not exist on the day of a spring-forward change is read with the
offset in force before the change (``fold=0``), i.e. it falls just after the gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# Searching further than this for working time means the calendar has (almost) none.
MAX_SEARCH_DAYS = 3 * 366


class ScheduleEmpty(ValueError):
    """The calendar has no working time within the search horizon."""


@dataclass(frozen=True)
class Schedule:
    """Working intervals by weekday (Monday is 0), holidays and the zone they are read in."""

    zone: tzinfo
    hours: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def has_hours(self) -> bool:
        return any(self.hours.get(day) for day in range(7))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("working time arithmetic needs timezone-aware datetimes")
    return value.astimezone(UTC)


def _intervals_from(schedule: Schedule, day: date) -> Iterator[tuple[datetime, datetime]]:
    """The working intervals starting on ``day`` and after, in time order (as aware instants)."""
    for offset in range(MAX_SEARCH_DAYS):
        current = day + timedelta(days=offset)
        if current in schedule.holidays:
            continue
        for start, end in sorted(schedule.hours.get(current.weekday(), ())):
            begins = datetime.combine(current, start, tzinfo=schedule.zone).astimezone(UTC)
            end_day = current if end > start else current + timedelta(days=1)
            ends = datetime.combine(end_day, end, tzinfo=schedule.zone).astimezone(UTC)
            if ends > begins:
                yield begins, ends


def _schedule(calendar) -> Schedule:
    return calendar if isinstance(calendar, Schedule) else calendar.schedule()


def add_working_time(start: datetime, minutes: float, calendar) -> datetime:
    """Return the instant when ``minutes`` of working time have passed since ``start``.

    ``calendar`` is a ``Schedule`` or anything with a ``schedule()`` method (a
    ``WorkingCalendar``). Zero minutes is ``start`` itself. Raises ``ScheduleEmpty`` when the
    calendar has no working time, ``ValueError`` for a naive ``start`` or negative minutes.
    """
    schedule = _schedule(calendar)
    cursor = _utc(start)
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    remaining = timedelta(minutes=minutes)
    if not remaining:
        return start
    if not schedule.has_hours():
        raise ScheduleEmpty("the calendar has no working hours")
    # The day before too: its night interval may still be running at ``start``.
    first_day = cursor.astimezone(schedule.zone).date() - timedelta(days=1)
    for begins, ends in _intervals_from(schedule, first_day):
        if ends <= cursor:
            continue
        begins = max(begins, cursor)
        available = ends - begins
        if remaining <= available:
            return (begins + remaining).astimezone(start.tzinfo)
        remaining -= available
        cursor = ends
    raise ScheduleEmpty("no working time within the search horizon")


def working_time_between(a: datetime, b: datetime, calendar) -> timedelta:
    """Return the working time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    schedule = _schedule(calendar)
    a, b = _utc(a), _utc(b)
    if b < a:
        return -working_time_between(b, a, schedule)
    total = timedelta()
    cursor = a
    first_day = a.astimezone(schedule.zone).date() - timedelta(days=1)
    if not schedule.has_hours():
        return total
    for begins, ends in _intervals_from(schedule, first_day):
        if begins >= b:
            break
        if ends <= cursor:
            continue
        begins = max(begins, cursor)
        ends = min(ends, b)
        total += ends - begins
        cursor = ends
    return total


def working_minutes_between(a: datetime, b: datetime, calendar) -> float:
    """Return the working minutes from ``a`` to ``b`` (fractions of a minute kept)."""
    return working_time_between(a, b, calendar).total_seconds() / 60
