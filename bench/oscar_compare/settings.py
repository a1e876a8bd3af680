"""A minimal django-oscar project: just enough of Oscar to build offers and baskets and run
its offer Applicator (bench/oscar_compare). SQLite in a temporary file."""

import os

from oscar.defaults import *  # noqa: F403

SECRET_KEY = "oscar-bench"  # noqa: S105
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("OSCAR_BENCH_DB", "/tmp/oscar-bench.sqlite3"),  # noqa: S108
    }
}
from oscar import INSTALLED_APPS as OSCAR_APPS  # noqa: E402

INSTALLED_APPS = OSCAR_APPS
SITE_ID = 1
ROOT_URLCONF = "oscar_urls"
MIDDLEWARE = []
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "admin.E403", "admin.E406"]
