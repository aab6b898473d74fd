"""Settings of the test project: SQLite at TCHU_TEST_DJANGO_DB (in memory by default), apps from the environment.

TCHU_TEST_DJANGO_APPS  comma-separated apps of the project (default ``django_project.shop``)
TCHU_TEST_DJANGO_DB    the SQLite file (default: in memory)
"""

import os

SECRET_KEY = "tchu-tests-only"  # noqa: S105 -- a test project
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

PROJECT_APPS = [app for app in os.environ.get("TCHU_TEST_DJANGO_APPS", "django_project.shop").split(",") if app]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", *PROJECT_APPS]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "django_project.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TCHU_TEST_DJANGO_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
