"""A Django service publishing and consuming tchu events: see README.md's "Django" section.

The Celery app is imported here, as in every Django project that uses Celery, so the web process publishes
through it.
"""

from examples.django_orders.celery import app as celery_app

__all__ = ["celery_app"]
