"""The daily job of date-driven rewards (birthdays, anniversaries, days of the month) in the
default schedule: 00:20 in the project's time zone, editable afterwards in the admin."""

from django.conf import settings
from django.db import migrations

NAME = "Reward the customers' dates (daily, catches up missed days)"
TASK = "promotions.lifecycle_dates"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    after_midnight, _ = CrontabSchedule.objects.get_or_create(
        minute="20",
        hour="0",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(
        name=NAME, defaults={"task": TASK, "crontab": after_midnight, "enabled": True}
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0009_lifecycle_triggers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
