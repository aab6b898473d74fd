"""Settings of the orders service: SQLite (``DJANGO_ORDERS_DB``), the local RabbitMQ and Redis by default."""

import os
import tempfile
from pathlib import Path

from examples.settings import BROKER_URL, RESULT_BACKEND

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "orders-example-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "examples.django_orders.orders",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "examples.django_orders.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_ORDERS_DB", str(Path(tempfile.gettempdir()) / "tchu-django-orders.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.BasicAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

# Celery reads the CELERY_ settings (app.config_from_object in celery.py)
CELERY_BROKER_URL = BROKER_URL
CELERY_RESULT_BACKEND = RESULT_BACKEND
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
