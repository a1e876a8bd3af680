"""Default schedule of the processing jobs, editable afterwards in the admin."""

from django.db import migrations

TASKS = [
    # name, task, every (minutes)
    ("Activate and expire points", "loyalty.lots_mature", 15),
    ("Release expired holds", "loyalty.holds_expire", 1),
    ("Refresh partner and programme balances", "loyalty.ledger_rollup", 5),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes in TASKS:
        every, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": every, "enabled": True}
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _task, _every in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0003_processing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
