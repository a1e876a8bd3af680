"""What tickets are sorted and timed by: ticket categories, queues, working calendars and SLA
policies."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from contactcenter.models import (
    Holiday,
    Queue,
    SLAPolicy,
    TicketCategory,
    WorkingCalendar,
    WorkingHours,
)


@admin.register(TicketCategory)
class TicketCategoryAdmin(ModelAdmin):
    list_display = ["name", "code", "default_queue", "is_active", "position"]
    list_editable = ["is_active", "position"]
    list_filter = ["is_active", "default_queue"]
    search_fields = ["name", "code"]


@admin.register(Queue)
class QueueAdmin(ModelAdmin):
    list_display = ["name", "code", "supervisor", "email", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["supervisor"]


class WorkingHoursInline(TabularInline):
    model = WorkingHours
    extra = 0


class HolidayInline(TabularInline):
    model = Holiday
    extra = 0


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(ModelAdmin):
    list_display = ["name", "time_zone", "is_default"]
    search_fields = ["name"]
    inlines = [WorkingHoursInline, HolidayInline]


@admin.register(SLAPolicy)
class SLAPolicyAdmin(ModelAdmin):
    list_display = [
        "__str__",
        "category",
        "priority",
        "first_response_minutes",
        "resolution_minutes",
        "calendar",
    ]
    list_filter = ["priority", "category", "calendar"]
    list_select_related = ["category", "calendar"]
