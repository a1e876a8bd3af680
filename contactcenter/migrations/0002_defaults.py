"""The default reference data: ticket categories, a general queue, a working calendar
(Monday to Friday, 09:00-18:00 in the project's time zone) and SLA policies for every category
by priority. Everything is editable afterwards in the admin."""

from datetime import time

from django.conf import settings
from django.db import migrations

CATEGORIES = [
    ("card_activation", "Card activation"),
    ("balance", "Balance"),
    ("lost_card", "Lost card"),
    ("missing_points", "Missing points"),
    ("complaint", "Complaint"),
    ("consultation", "Consultation"),
    ("other", "Other"),
]
# priority: (first response, resolution), in working minutes
POLICIES = {
    "urgent": (30, 240),
    "high": (60, 540),
    "normal": (240, 1620),
    "low": (480, 2700),
}
CALENDAR = "Office hours"


def create(apps, schema_editor):
    TicketCategory = apps.get_model("contactcenter", "TicketCategory")
    Queue = apps.get_model("contactcenter", "Queue")
    WorkingCalendar = apps.get_model("contactcenter", "WorkingCalendar")
    WorkingHours = apps.get_model("contactcenter", "WorkingHours")
    SLAPolicy = apps.get_model("contactcenter", "SLAPolicy")
    queue, _ = Queue.objects.get_or_create(code="general", defaults={"name": "General"})
    for position, (code, name) in enumerate(CATEGORIES):
        TicketCategory.objects.get_or_create(
            code=code, defaults={"name": name, "position": position, "default_queue": queue}
        )
    if not WorkingCalendar.objects.filter(is_default=True).exists():
        calendar = WorkingCalendar.objects.create(
            name=CALENDAR, time_zone=settings.TIME_ZONE, is_default=True
        )
        for weekday in range(5):
            WorkingHours.objects.create(
                calendar=calendar, weekday=weekday, start=time(9), end=time(18)
            )
    for priority, (first, resolution) in POLICIES.items():
        SLAPolicy.objects.get_or_create(
            category=None,
            priority=priority,
            defaults={"first_response_minutes": first, "resolution_minutes": resolution},
        )


def remove(apps, schema_editor):
    apps.get_model("contactcenter", "SLAPolicy").objects.filter(category=None).delete()
    apps.get_model("contactcenter", "WorkingCalendar").objects.filter(name=CALENDAR).delete()


class Migration(migrations.Migration):
    dependencies = [("contactcenter", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
