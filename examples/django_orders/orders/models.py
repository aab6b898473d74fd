"""Companies, their members and their orders."""

from django.conf import settings
from django.db import models


class Company(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return str(self.name)


class UserCompany(models.Model):
    """A user's membership of a company: ``request.user.user_company`` in the API."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_company")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="members")

    def __str__(self) -> str:
        return f"{self.user} at {self.company}"


class Order(models.Model):
    PLACED = "placed"
    PAID = "paid"

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="orders")
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    items = models.JSONField(help_text="[{id, quantity}, ...]")
    total_amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    coupon = models.CharField(max_length=32, blank=True, default="")
    status = models.CharField(max_length=10, default=PLACED)

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"
