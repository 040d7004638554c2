"""URLs for test_findinglog: a view with an N+1 and the same view fixed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from apps.shop.models import Customer, Order


def lazy_customers(request: HttpRequest) -> HttpResponse:
    """List each order's customer, loading each customer on its own (an N+1)."""
    orders = Order.objects.all()  # rows-queryset
    names = [order.customer.name for order in orders]  # n-plus-one-loop
    return HttpResponse(",".join(names))


def joined_customers(request: HttpRequest) -> HttpResponse:
    """List each order's customer, loaded in the orders' query."""
    orders = Order.objects.select_related("customer")
    names = [order.customer.name for order in orders]
    return HttpResponse(",".join(names))


def customers_by_email(request: HttpRequest) -> HttpResponse:
    """Look each order's customer up by email, one query per order (an N+1)."""
    emails = request.GET.getlist("email")
    found = [Customer.objects.filter(email=email).exists() for email in emails]
    return HttpResponse(str(sum(found)))


urlpatterns = [
    path("orders/lazy/", lazy_customers),
    path("orders/joined/", joined_customers),
    path("customers/", customers_by_email),
]
