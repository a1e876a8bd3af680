"""Factories for the contact centre: categories, queues, calendars, policies and tickets."""

from __future__ import annotations

from datetime import time

import factory

from contactcenter.models import (
    Holiday,
    Priority,
    Queue,
    SLAPolicy,
    Ticket,
    TicketCategory,
    WorkingCalendar,
    WorkingHours,
)


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"queue{n}")
    name = factory.Sequence(lambda n: f"Queue {n}")


class TicketCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketCategory
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"category{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class WorkingCalendarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkingCalendar

    name = factory.Sequence(lambda n: f"Calendar {n}")
    time_zone = "Europe/Moscow"


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkingHours

    calendar = factory.SubFactory(WorkingCalendarFactory)
    weekday = 0
    start = time(9)
    end = time(18)


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    calendar = factory.SubFactory(WorkingCalendarFactory)


def office_calendar(
    time_zone: str = "Europe/Moscow",
    *,
    start: time = time(9),
    end: time = time(18),
    weekdays=range(5),
    holidays=(),
    is_default: bool = False,
) -> WorkingCalendar:
    """A calendar with the same hours on ``weekdays`` (Monday is 0) and these holidays."""
    if is_default:
        WorkingCalendar.objects.filter(is_default=True).update(is_default=False)
    calendar = WorkingCalendarFactory(time_zone=time_zone, is_default=is_default)
    for weekday in weekdays:
        WorkingHoursFactory(calendar=calendar, weekday=weekday, start=start, end=end)
    for day in holidays:
        HolidayFactory(calendar=calendar, date=day)
    return calendar


class SLAPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLAPolicy

    category = factory.SubFactory(TicketCategoryFactory)
    priority = Priority.NORMAL
    first_response_minutes = 60
    resolution_minutes = 480


class TicketFactory(factory.django.DjangoModelFactory):
    """A bare ticket row (no deadlines); tests of behaviour open tickets with ``ticket_open``."""

    class Meta:
        model = Ticket

    channel = Ticket.Channel.CALL
    category = factory.SubFactory(TicketCategoryFactory)
    subject = factory.Sequence(lambda n: f"Question {n}")
    number = factory.Sequence(lambda n: f"T{n:06d}")
