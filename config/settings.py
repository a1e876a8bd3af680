"""Settings for the loyalty back office, read from the environment (12-factor).

With nothing set, the project runs on a SQLite file with Celery tasks executed eagerly, so the
demo works from one command. ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch it to
PostgreSQL and Redis (or RabbitMQ). See ``docs/operations.md`` for every variable.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-never-use-in-production"  # noqa: S105

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when DEBUG=false; "
        "the development default is public. Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The back office's frame (django-unfold: config/backoffice.py), before the admin it dresses.
    "unfold.apps.BasicAppConfig",  # the frame only: admin.site stays our PartnerAdminSite
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "loyalty.apps.LoyaltyAdminConfig",  # django.contrib.admin, partner-isolated
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "import_export",
    "audit",
    "crm",
    "loyalty",
    "promotions",
    "processing",
    "communications",
    "contactcenter",
    "reports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Under /api/: a URL over API_MAX_URL_BYTES is a 414 problem; a chunked body (no
    # Content-Length) is read, up to API_MAX_BODY_BYTES, before anything else reads it.
    "processing.api.transport.UriLengthMiddleware",
    "processing.api.bodies.UnsizedBodyMiddleware",
    # Under /api/: refuses bodies over API_MAX_BODY_BYTES unread, answers errors as problems.
    "processing.api.problems.ProblemMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who and from where, for the audit trail of every change made in the request.
    "audit.trail.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # templates/vendor: copies of django-unfold's and the admin's templates changed only to
        # decline model names (loyalty.declension); their strings live in locale/vendor.
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "templates" / "vendor"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a demo load or a task writes; IMMEDIATE makes a
    # writing transaction take the lock at BEGIN, so two writers queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling, compiled rule snapshots' version stamp) ----------------------------
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"  # unfold's login page posts no "next"

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
if LANGUAGE_CODE.split("-")[0] not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE={LANGUAGE_CODE!r}: use one of en, ru")
# locale: our own strings, refreshed by makemessages. locale/vendor: translations for
# django-unfold (which ships no Russian) and for the admin strings that Django's own Russian
# makes ungrammatical with our model names; written by hand, never by makemessages (see the
# Makefile). The first path wins where both translate a string.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale" / "vendor"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Moscow")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not an IANA time zone") from exc
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))

# --- Security when not in debug -----------------------------------------------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST framework and the OpenAPI schema ------------------------------------------------
REST_FRAMEWORK = {
    # drf-spectacular's, with the server's own rules on request fields (processing/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "processing.api.schema.PosAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "COERCE_DECIMAL_TO_STRING": True,
    "EXCEPTION_HANDLER": "processing.api.problems.exception_handler",
}
# The POS API (processing/api): body size limit and per-terminal rate limits by scope. Rates are
# "<requests>/<sec|min|hour|day>"; they count per process unless CACHE_URL names a shared Redis.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
# The longest URL (path and query, as sent) the API reads; longer is a 414 problem. Keep it
# below gunicorn's limit_request_line (config/gunicorn.conf.py) less the method and version.
API_MAX_URL_BYTES = env_int("API_MAX_URL_BYTES", 4096)
API_THROTTLE_RATES = {
    "purchase": env_str("API_THROTTLE_PURCHASE", "6000/min"),
    "lookup": env_str("API_THROTTLE_LOOKUP", "600/min"),
    "offline": env_str("API_THROTTLE_OFFLINE", "60/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty processing API",
    "DESCRIPTION": (
        "The API that cash registers, webshops and apps call. The integration guide, "
        "`docs/pos-integration.md` in the project's repository, walks through it: getting a "
        "key, the conventions and limits (section 2), a purchase step by step (section 3), "
        "retries (section 4) and every error `code` (section 5). Authenticate with "
        "`Authorization: Api-Key <key>`. Money, points and quantities are decimal strings; "
        "datetimes carry an offset. Errors are RFC 9457 problem details "
        "(`application/problem+json`) with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CardStatusEnum": "processing.api.serializers.CARD_STATUSES",
        "PurchaseStatusEnum": "processing.api.serializers.PURCHASE_STATUSES",
        "RefundStatusEnum": "processing.api.serializers.REFUND_STATUSES",
        "OfflineItemStatusEnum": "processing.api.serializers.OFFLINE_ITEM_STATUSES",
        "CertificateStatusEnum": "processing.api.serializers.CERTIFICATE_STATUSES",
        "CertificateKindEnum": "processing.api.serializers.CERTIFICATE_KINDS",
        "ResultStatusEnum": "processing.api.serializers.RESULT_STATUSES",
        "RefundKindEnum": "processing.api.serializers.REFUND_KINDS",
        "TicketStatusEnum": "contactcenter.api.serializers.TICKET_STATUSES",
        "TicketPriorityEnum": "contactcenter.api.serializers.TICKET_PRIORITIES",
    },
}
API_KEY_CUSTOM_HEADER = "HTTP_AUTHORIZATION"
# On PostgreSQL, calculate and confirm read and write in a few round trips of plain SQL
# (processing/fastpath.py) instead of the ORM; false falls back to the ORM path.
POS_SQL_PATH = env_bool("POS_SQL_PATH", True)

# --- Contact centre tickets ---------------------------------------------------------------
# The escalation job escalates a ticket this many minutes before a deadline (and after it).
TICKETS_ESCALATION_MARGIN_MINUTES = env_int("TICKETS_ESCALATION_MARGIN_MINUTES", 30)
# Attachments larger than this are refused (from the admin) or left out (from an email).
TICKETS_ATTACHMENT_MAX_BYTES = env_int("TICKETS_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
# Replies to customers are sent from this address; their subjects carry "[#<number>]".
TICKETS_FROM_EMAIL = env_str("TICKETS_FROM_EMAIL", "support@localhost")

# --- Operator console: manual adjustments -------------------------------------------------
# A manual credit or debit larger than this (in points of any currency without an
# AdjustmentPolicy of its own) waits for a supervisor's approval before it is posted.
ADJUSTMENT_APPROVAL_THRESHOLD = env_str("ADJUSTMENT_APPROVAL_THRESHOLD", "1000")

# --- File imports (cards, products, stores; docs/operations.md "Imports") ------------------
# A file larger than this many bytes is checked and imported by a background job (Celery; with
# no broker, a thread of the web process) with a progress bar; a smaller one in the request.
IMPORT_BACKGROUND_BYTES = env_int("IMPORT_BACKGROUND_BYTES", 512 * 1024)
# Rows written per transaction: other users' writes wait at most for one chunk (SQLite).
IMPORT_CHUNK_ROWS = env_int("IMPORT_CHUNK_ROWS", 2000)
# SQLite only: the import pauses this long after each chunk, so that a write waiting for the
# lock gets it (SQLite's busy handler retries every 100 ms once it has waited a while, and would
# otherwise keep missing the moment between two chunks: the writer waited for the whole import).
IMPORT_SQLITE_PAUSE_MS = env_int("IMPORT_SQLITE_PAUSE_MS", 110)
# A checking or importing job whose heartbeat is older than this is shown as failed (its
# worker died) and can be resumed. Every chunk beats, so a live job is never that quiet.
IMPORT_STALE_SECONDS = env_int("IMPORT_STALE_SECONDS", 120)
# Rejected rows kept per job (page and bad-rows file); the count of errors is always exact.
IMPORT_ERRORS_KEPT = env_int("IMPORT_ERRORS_KEPT", 100_000)
# A line of a CSV file longer than this is refused as not a CSV.
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 64 * 1024)

# --- Phone numbers ------------------------------------------------------------------------
# Numbers written without a country code ("8 900 123-45-67") are read in this region.
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "RU")

# --- Contact verification (docs/operations.md "Contact verification") ---------------------
# A code by SMS is valid this many minutes, a link by email this many hours.
CONTACT_VERIFICATION_SMS_MINUTES = env_int("CONTACT_VERIFICATION_SMS_MINUTES", 10)
CONTACT_VERIFICATION_EMAIL_HOURS = env_int("CONTACT_VERIFICATION_EMAIL_HOURS", 48)
# Wrong codes before a verification is locked (a new one has to be sent).
CONTACT_VERIFICATION_MAX_ATTEMPTS = env_int("CONTACT_VERIFICATION_MAX_ATTEMPTS", 5)
# Codes and links sent to one customer (both channels together) in any hour.
CONTACT_VERIFICATION_MAX_PER_HOUR = env_int("CONTACT_VERIFICATION_MAX_PER_HOUR", 5)
# Where customers open the email links, e.g. https://loyalty.example.com; when empty, the
# address of the back office page the link was sent from.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "")

# --- Logging: no personal data or keys in logs --------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}


# The back office's frame: django-unfold, with the navigation by job and the role-aware home
# of config/backoffice.py.
UNFOLD = {
    "SITE_TITLE": _("Loyalty back office"),
    "SITE_HEADER": _("Loyalty back office"),
    "SITE_SYMBOL": "loyalty",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "SHOW_BACK_BUTTON": True,
    "DASHBOARD_CALLBACK": "config.backoffice.home",
    "STYLES": ["config.backoffice.styles"],
    "ACCOUNT": {
        "navigation": [
            {"title": _("Thanks to colleagues"), "link": reverse_lazy("staff:thanks")},
        ],
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": "config.backoffice.show_all_applications",
        "navigation": "config.backoffice.navigation",
    },
}

# --- Rule segments (docs/segments.md "Incremental refreshes") -----------------------------
# A time-stable rule is refreshed for the customers whose data changed since the previous
# refresh began, this many seconds earlier (a row whose transaction committed after that
# refresh read the data carries an earlier time); at least every this many days a full one.
SEGMENT_REFRESH_OVERLAP_SECONDS = env_int("SEGMENT_REFRESH_OVERLAP_SECONDS", 3600)
SEGMENT_FULL_REFRESH_DAYS = env_int("SEGMENT_FULL_REFRESH_DAYS", 7)
