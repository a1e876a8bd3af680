"""The nightly RFM recompute in the default schedule: 03:00 in the project's time zone, before
the refresh of the rule segments at 03:30 (a run refreshes the segments that read its scheme
itself too), editable afterwards in the admin (Periodic tasks)."""

from django.conf import settings
from django.db import migrations

NAME = "Recompute RFM scores (nightly)"
TASK = "loyalty.rfm_recompute_all"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    at_three, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="3",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(
        name=NAME, defaults={"task": TASK, "crontab": at_three, "enabled": True}
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0027_rfm_segmentation"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
