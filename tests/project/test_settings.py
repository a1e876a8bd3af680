"""Settings come from the environment, with safe refusals."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def boot(**env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "SECRET_KEY",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CACHE_URL",
            "ALLOWED_HOSTS",
            "TIME_ZONE",
            "LANGUAGE_CODE",
        }
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER, settings.TIME_ZONE)",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_defaults_are_sqlite_and_eager_celery():
    result = boot()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True", "Europe/Moscow"]


def test_production_refuses_to_start_with_the_development_secret_key():
    result = boot(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert boot(DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="loyalty.example").returncode == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIME_ZONE": "Mars/Base"}, "not an IANA time zone"),
        ({"LANGUAGE_CODE": "de"}, "use one of en, ru"),
        ({"DEBUG": "maybe"}, "not a boolean"),
    ],
)
def test_bad_settings_fail_at_startup_with_a_clear_message(env, message):
    result = boot(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_database_url_and_broker_switch_backends():
    result = boot(
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        TIME_ZONE="Asia/Novosibirsk",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False", "Asia/Novosibirsk"]


def test_datetimes_are_timezone_aware():
    assert settings.USE_TZ is True


def test_health_answers_without_authentication():
    response = Client().get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_admin_login_page_speaks_russian_when_asked():
    response = Client().get("/admin/login/", headers={"accept-language": "ru"})
    assert response.status_code == 200
    assert "Имя пользователя" in response.content.decode()
    assert "Бэк-офис программы лояльности" in response.content.decode()
