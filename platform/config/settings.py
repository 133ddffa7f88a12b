"""The platform's one settings module, configured by environment variables.

With no ``DATABASE_URL`` / ``REDIS_URL``, embedded PostgreSQL and Redis are started under
``AIPLATFORM_DATA_DIR`` (default ``.data/``), see ``config.embedded``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from urllib.parse import unquote

import environ
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()

# Tests never share the development servers (a dev worker would take their tasks) and need
# no collected static files.
TESTING = "pytest" in sys.modules

# Off unless asked for (``make dev`` or ``DEBUG=1``): ``make run`` behaves like production.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and env.bool("REQUIRE_SECRET_KEY", default=False):
        raise RuntimeError("SECRET_KEY must be set in production")
    # Local runs and tests only: a fixed, obviously-unsafe key.
    SECRET_KEY = "insecure-local-key-" + "x" * 40  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Data stores ----------------------------------------------------------------------------

_database_url = env.str("DATABASE_URL", default="")
_redis_url = env.str("REDIS_URL", default="")
if not _database_url or not _redis_url:
    from config import embedded

    _services = embedded.ensure_started(embedded.data_dir() / "test" if TESTING else None)
    _database_url = _database_url or _services.database_url
    _redis_url = _redis_url or _services.redis_url

_database = env.db_url_config(_database_url)
# django-environ keeps a percent-encoded Unix socket directory as it is.
_database["HOST"] = unquote(_database.get("HOST", ""))
_database.update(
    {
        # Keeps app.tenant_id / app.rls_bypass in step with the tenant context.
        "ENGINE": "tenancy.db",
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
    }
)
# Connection pooling (Django 5.2's psycopg pool): a process holds at most DB_POOL_MAX_SIZE
# connections, shared by its threads, instead of one per thread kept for CONN_MAX_AGE. The
# budget per process type (docker/README.md, "Database connections"): web 4 (its threads),
# online worker 8 (16 threads: a chat call holds a connection for a few milliseconds), job
# workers 2 per child, beat 1. DB_POOL_MAX_SIZE=0 turns pooling off (persistent connections
# per thread, as before); the in-process test suite runs without it, its servers with it.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0 if TESTING else 4)
if DB_POOL_MAX_SIZE > 0:
    _database["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    _database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        # How long a thread waits for a free connection before the request fails.
        "timeout": env.float("DB_POOL_TIMEOUT", default=20.0),
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _redis_url
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
    }
}

# --- Applications ---------------------------------------------------------------------------

INSTALLED_APPS = [
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "tenancy",
    "accounts",
    "audit",
    "billing",
    "jobs",
    "webhooks",
    "api",
    "apps.finance_sentiment",
    "apps.support_bot",
    "apps.recommendation",
    "console.apps.ConsoleConfig",
    "dashboard",
]
# Worker nodes add their own Django app (management commands such as train_default_model);
# the web image has neither torch nor workers/, and never loads it.
if importlib.util.find_spec("torch") is not None and importlib.util.find_spec("workers"):
    INSTALLED_APPS.append("workers.apps.WorkersConfig")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.logging.RequestContextMiddleware",
    # A NUL in an /api/ query string is a 400 before any view reads it.
    "api.middleware.QueryStringMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session (it reads nothing from it, but the order is Django's documented one)
    # and before CommonMiddleware: the language from the cookie or Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's own language and time zone win over the cookie and the browser.
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response, with a nonce per request (config.csp).
    "config.csp.PlatformCSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.TenantMiddleware",
    # After the tenant is known: counts API calls and refuses them over the plan's limit.
    "billing.middleware.ApiCallMeteringMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.tenant",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Languages, time zones and formats ------------------------------------------------------

# English is the source language; every msgid has a Simplified Chinese translation in
# locale/zh_Hans (tests/i18n checks the catalog is complete and compiled).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# The default zone of anonymous pages, emails and tasks; a signed-in user's own zone
# (User.time_zone, applied by accounts.middleware) changes what pages show, never what is stored.
TIME_ZONE = "UTC"
USE_TZ = True
# Dates use the named formats (DATE_FORMAT, DATETIME_FORMAT, ...) of config/formats/<lang>, so
# each language writes them its own way; numbers are always localised (Django 5).
FORMAT_MODULE_PATH = ["config.formats"]

# --- Static files and storage ---------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))
# Uploaded datasets and model artefacts: never served by URL (config.urls has no media route in
# any mode); they are read only through the download views, which check the tenant and role.
MEDIA_URL = "/media/"

_storage_backend = env.str("STORAGE_BACKEND", default="filesystem")
if _storage_backend == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING) and env.bool("STATIC_MANIFEST", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ----------------------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AI Platform <noreply@localhost>")
# The address people reach the dashboard at, for links in messages sent outside a request
# (alert notifications to Slack, Feishu, DingTalk, webhooks and e-mail): no trailing slash.
SITE_BASE_URL = env.str("SITE_BASE_URL", default="http://localhost:8000").rstrip("/")

# --- Security (production values whenever DEBUG is off) -------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies whose X-Forwarded-For is believed (addresses or CIDR networks, comma-separated): the
# ingress in Kubernetes; none locally, where the peer address is the client
# (``config.clientaddr``).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# Sign-in and password-reset throttles (accounts.throttle): failures per account and per
# client address in 15 minutes; reset emails per address of mail and per client in an hour.
SIGN_IN_MAX_FAILURES_PER_ACCOUNT = env.int("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", default=5)
SIGN_IN_MAX_FAILURES_PER_ADDRESS = env.int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", default=30)
PASSWORD_RESET_MAX_PER_EMAIL = env.int("PASSWORD_RESET_MAX_PER_EMAIL", default=3)
PASSWORD_RESET_MAX_PER_ADDRESS = env.int("PASSWORD_RESET_MAX_PER_ADDRESS", default=10)
# Pages: our own scripts and styles, plus the request's nonce on inline elements; the API and
# the widget script get a stricter policy (config.csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasTenant"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_DEFAULT_RATE_LIMIT_PER_MINUTE = env.int("API_DEFAULT_RATE_LIMIT_PER_MINUTE", default=600)
# The support bot's public web widget, per widget key and visitor address.
WIDGET_RATE_LIMIT_PER_MINUTE = env.int("WIDGET_RATE_LIMIT_PER_MINUTE", default=30)

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Platform API",
    "DESCRIPTION": "Multi-tenant API for the support bot, finance sentiment and recommendation "
    "applications. Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set where two fields share a name (``kind``, ``status``,
    # ``arm``); without these drf-spectacular makes up hashed names and warns.
    "ENUM_NAME_OVERRIDES": {
        "ExperimentArmEnum": "apps.recommendation.experiments.models.Arm",
        "ExperimentStatusEnum": "apps.recommendation.experiments.models.Experiment.Status",
        "MerchandisingRuleKindEnum": "apps.recommendation.rules.models.RuleKind",
        "AlertRuleKindEnum": "apps.finance_sentiment.models.AlertRule.Kind",
        "AlertChannelKindEnum": "apps.finance_sentiment.models.AlertChannel.Kind",
    },
}

# --- Celery ---------------------------------------------------------------------------------


def _celery_url(url: str) -> str:
    # kombu spells a Unix-socket Redis URL differently from redis-py.
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


CELERY_BROKER_URL = _celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = _celery_url(REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Worker-only modules: imported when a worker starts, never by the web tier (workers.warmup
# connects the start signals that preload the default models on online workers).
CELERY_IMPORTS = ["workers.tasks", "workers.warmup"]
CELERY_TASK_ROUTES = {
    "jobs.sweep": {"queue": "default"},
    "webhooks.deliver": {"queue": "default"},
    "billing.*": {"queue": "default"},
    "online.*": {"queue": "online"},
}
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "sweep-jobs": {"task": "jobs.sweep", "schedule": env.float("JOB_SWEEP_SECONDS", default=15.0)},
    # Finance sentiment: claim due RSS/Atom feeds (each polled by its own task) and evaluate
    # every tenant's alert rules.
    "finance-poll-feeds": {"task": "finance.poll_feeds", "schedule": 60.0,
                           "options": {"queue": "default"}},
    "finance-evaluate-alerts": {"task": "finance.evaluate_alerts", "schedule": 300.0,
                                "options": {"queue": "default"}},
    # Billing: real-time counters to usage records, period close (invoices), storage levels.
    "billing-flush-usage": {"task": "billing.flush_usage",
                            "schedule": env.float("BILLING_FLUSH_WINDOW_SECONDS", default=60.0),
                            "options": {"queue": "default"}},
    "billing-close-periods": {"task": "billing.close_periods", "schedule": 900.0,
                              "options": {"queue": "default"}},
    "billing-snapshot-storage": {"task": "billing.snapshot_storage", "schedule": 3600.0,
                                 "options": {"queue": "default"}},
}

# --- Jobs and models ------------------------------------------------------------------------

DATASET_MAX_BYTES = env.int("DATASET_MAX_BYTES", default=50 * 1024 * 1024)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
JOB_HEARTBEAT_STALE_SECONDS = env.int("JOB_HEARTBEAT_STALE_SECONDS", default=300)
# Worker liveness (jobs.liveness): a running job's worker refreshes a Redis key every 5 s that
# lives 20 s; the sweeper (every JOB_SWEEP_SECONDS) re-queues a job whose worker has no key, so
# a killed worker's job runs again within about TTL + sweep interval + pickup.
JOB_LIVENESS_INTERVAL_SECONDS = env.float("JOB_LIVENESS_INTERVAL_SECONDS", default=5.0)
JOB_LIVENESS_TTL_SECONDS = env.int("JOB_LIVENESS_TTL_SECONDS", default=20)
# A job whose database connection broke (restart, failover) is retried after this many
# seconds, up to this many times, and resumes where it was.
JOB_DATABASE_RETRY_SECONDS = env.int("JOB_DATABASE_RETRY_SECONDS", default=3)
JOB_DATABASE_RETRIES = env.int("JOB_DATABASE_RETRIES", default=20)
JOB_QUEUED_STALE_SECONDS = env.int("JOB_QUEUED_STALE_SECONDS", default=600)
JOB_SOFT_TIME_LIMIT_SECONDS = env.int("JOB_SOFT_TIME_LIMIT_SECONDS", default=6 * 3600)
# Where workers keep checkpoints and unpacked model artefacts (local disk, not storage).
MODEL_WORK_DIR = Path(env.str("MODEL_WORK_DIR", default=str(BASE_DIR / ".data" / "models")))
MODEL_CACHE_SIZE = env.int("MODEL_CACHE_SIZE", default=8)
# The precision of the workers' classifier forward passes: "fp32", or "int8" (ONNX Runtime,
# dynamic quantization; a model serves in int8 only once it matched fp32 on its test rows,
# see workers/runtime/quantization.py).
INFERENCE_PRECISION = env.str("INFERENCE_PRECISION", default="fp32").strip().lower()
if INFERENCE_PRECISION not in ("fp32", "int8"):
    raise RuntimeError(
        f"INFERENCE_PRECISION must be 'fp32' or 'int8', not {INFERENCE_PRECISION!r}")
# The public datasets used for default models, the demo, tests and benchmarks: shipped in the
# repository (data/README.md), so a fresh clone needs nothing beside it.
DATASETS_DIR = Path(env.str("DATASETS_DIR", default=str(BASE_DIR / "data")))
# Platform default models (one folder per app), used by tenants without their own fine-tune.
# Installed by `manage.py train_default_model` (git-ignored); they win over the shipped ones.
DEFAULT_MODELS_DIR = Path(env.str("DEFAULT_MODELS_DIR", default=str(BASE_DIR / "models")))
# The small default models shipped in the repository (`make default-models` rebuilds them).
SHIPPED_MODELS_DIR = Path(env.str("SHIPPED_MODELS_DIR",
                                  default=str(BASE_DIR / "models" / "shipped")))
# Real-time inference (the `online` queue): how long the web tier waits for a worker.
ONLINE_TIMEOUT_SECONDS = env.float("ONLINE_TIMEOUT_SECONDS", default=10.0)
# The support bot's generative composer: the deployment's OpenAI-compatible chat endpoint
# (vLLM, Ollama, a hosted model; e.g. http://vllm:8000/v1), the default for tenants that
# switch generation on without an endpoint of their own. Empty: no deployment default.
BOT_GENERATOR_URL = env.str("BOT_GENERATOR_URL", default="")
BOT_GENERATOR_MODEL = env.str("BOT_GENERATOR_MODEL", default="")
BOT_GENERATOR_API_KEY = env.str("BOT_GENERATOR_API_KEY", default="")
BOT_GENERATOR_TIMEOUT_SECONDS = env.float("BOT_GENERATOR_TIMEOUT_SECONDS", default=8.0)
# Every generated sentence must be this similar (cosine, MiniLM) to one of the passages it
# was given, else the extractive answer is sent.
BOT_GROUNDING_THRESHOLD = env.float("BOT_GROUNDING_THRESHOLD", default=0.75)
# Online workers batch the chat messages that arrive together into one forward pass
# (workers/runtime/microbatch.py): at most this many per batch, waiting at most this long for
# more after the first (0: only what queued up while the previous batch ran).
ONLINE_BATCH_MAX_SIZE = env.int("ONLINE_BATCH_MAX_SIZE", default=32)
ONLINE_BATCH_MAX_WAIT_MS = env.float("ONLINE_BATCH_MAX_WAIT_MS", default=0.0)
# Threaded (online) workers: Python's GIL switch interval (default 5 ms), see workers/tasks.py.
ONLINE_WORKER_SWITCH_INTERVAL_MS = env.float("ONLINE_WORKER_SWITCH_INTERVAL_MS", default=0.5)
DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"
# Further base models tenants may fine-tune from: {"name": "/local/path or hub id"}.
BASE_MODELS: dict[str, str] = env.json("BASE_MODELS", default={})
WEBHOOKS_ALLOW_PRIVATE_URLS = env.bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=False)

# --- Billing --------------------------------------------------------------------------------

# Off: real-time endpoints neither count usage nor check quotas (benchmarks compare both).
BILLING_METERING_ENABLED = env.bool("BILLING_METERING_ENABLED", default=True)
# Real-time counters are flushed to usage records per window of this many seconds.
BILLING_FLUSH_WINDOW_SECONDS = env.int("BILLING_FLUSH_WINDOW_SECONDS", default=60)
# How long a usage counter in Redis is trusted before it is re-read from the database.
BILLING_USAGE_COUNTER_TTL_SECONDS = env.int("BILLING_USAGE_COUNTER_TTL_SECONDS", default=60)
# How long a process keeps a tenant's plan limits in memory.
BILLING_PLAN_CACHE_SECONDS = env.float("BILLING_PLAN_CACHE_SECONDS", default=30.0)
BILLING_DEFAULT_PLAN = env.str("BILLING_DEFAULT_PLAN", default="free")
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="USD")
# A fraction: 0.2 is 20 %; stored on each invoice.
BILLING_TAX_RATE = env.str("BILLING_TAX_RATE", default="0")
# "" keeps invoices in the platform; "stripe" sends them to Stripe.
BILLING_PAYMENT_PROVIDER = env.str("BILLING_PAYMENT_PROVIDER", default="")
BILLING_PAYMENT_DAYS_DUE = env.int("BILLING_PAYMENT_DAYS_DUE", default=30)
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")

# --- Logging --------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING_CONFIG = None
from config.logging import configure_logging  # noqa: E402

configure_logging(level=LOG_LEVEL, json=LOG_JSON)
