"""What tickets are sorted and timed by: ticket categories, queues, working calendars and SLA
policies."""

from __future__ import annotations

from django.contrib import admin

from contactcenter.models import (
    Holiday,
    Queue,
    SLAPolicy,
    TicketCategory,
    WorkingCalendar,
    WorkingHours,
)


@admin.register(TicketCategory)
class TicketCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "default_queue", "is_active", "position"]
    list_editable = ["is_active", "position"]
    list_filter = ["is_active", "default_queue"]
    search_fields = ["name", "code"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "supervisor", "email", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["supervisor"]


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "is_default"]
    search_fields = ["name"]
    inlines = [WorkingHoursInline, HolidayInline]


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
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
