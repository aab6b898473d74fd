from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "django_project.shop"
    label = "shop"

    def ready(self):
        from django_project.shop import signals  # noqa: F401, PLC0415 -- connects the post_save receiver
