"""The Django REST framework test peer; what varies comes from the environment.

APICONN_TEST_DB              SQLite file (required; created and migrated at start)
APICONN_TEST_CLIENT_ID       OAuth2 client-credentials application (with _SECRET)
APICONN_TEST_CLIENT_SECRET
APICONN_TEST_TOKEN_SECONDS   OAuth2 access token lifetime (default 36000)
APICONN_TEST_USER            user for simplejwt login (with _PASSWORD)
APICONN_TEST_PASSWORD
APICONN_TEST_ACCESS_SECONDS  simplejwt access token lifetime (default 300)
APICONN_TEST_OPEN            1: the /api/ viewsets also allow anonymous access
APICONN_TEST_SEED            N customers with deterministic values ...
APICONN_TEST_INVOICES        ... and M invoices each (default 0)
APICONN_TEST_FIXTURE         a Django fixture file (JSON) to load instead
APICONN_TEST_LOG             a file that gets one line per request (peer/middleware.py)
APICONN_TEST_DELAY_MS        data requests wait this long first (default 0)
"""

import os
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


try:
    DB_PATH = os.environ["APICONN_TEST_DB"]
except KeyError:
    raise ImproperlyConfigured(
        "set APICONN_TEST_DB to the path of the SQLite file"
    ) from None

SECRET_KEY = "apiconn-tests-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "django_filters",
    "oauth2_provider",
    "shop",
]
MIDDLEWARE = [
    "peer.middleware.RequestLog",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "peer.urls"
WSGI_APPLICATION = "peer.wsgi.application"
TEMPLATES = [
    {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_PATH,
        # Two gunicorn workers share the file.
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
        },
    }
}
# Test data only: fast hashing of the user's password and the client secret.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

OPEN = os.environ.get("APICONN_TEST_OPEN") == "1"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["shop.permissions.OpenOrAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        seconds=env_int("APICONN_TEST_ACCESS_SECONDS", 300)
    ),
    "UPDATE_LAST_LOGIN": False,
}

OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("APICONN_TEST_TOKEN_SECONDS", 36000),
    "SCOPES": {"read": "Read records", "write": "Write records"},
}

# Server errors on stderr (DEBUG is off, so Django would not print them).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
