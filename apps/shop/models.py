"""Define the shop's customers, products, stock and orders."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.shop.latency import InjectedLatencyManager


class Customer(models.Model):
    """A person who places orders."""

    name = models.CharField(max_length=120)
    email = models.EmailField(unique=True)
    # A default rather than auto_now_add, so sample data can set its own dates.
    created_at = models.DateTimeField(default=timezone.now)

    objects = models.Manager()
    # Lazy loads such as order.customer go through the base manager; this one
    # lets the demo slow them down inside inject_query_latency().
    lazy_loads = InjectedLatencyManager()

    class Meta:
        base_manager_name = "lazy_loads"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """Extra details about one customer."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="profile"
    )
    bio = models.TextField(blank=True)
    loyalty_points = models.PositiveIntegerField(default=0)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")

    def __str__(self) -> str:
        return f"Profile of {self.customer_id}"


class Product(models.Model):
    """Something the shop sells."""

    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=64, db_index=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Inventory(models.Model):
    """How many units of one product are in stock."""

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, related_name="inventory"
    )
    quantity = models.PositiveIntegerField(default=0)
    # Set explicitly on every write: auto_now would skip queryset.update().
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "inventories"

    def __str__(self) -> str:
        return f"{self.product_id}: {self.quantity}"


class Order(models.Model):
    """A customer's purchase of one or more products."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="orders"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Order {self.pk}"


class OrderItem(models.Model):
    """One product line of an order, priced when the order was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"
