"""Serve views whose N+1 loops are in a template or in the view, for the rules.

Used through ``override_settings(ROOT_URLCONF=...)`` with ``TEMPLATES`` from
``TEMPLATES_SETTING``: each orders page shows the customer of the first
``ORDERS`` orders, loading ``Order.customer`` once per order, either inside
``{% for %}`` in a template or in a loop in the view.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path

from apps.shop.models import Order

ORDERS = 6
ORDERS_TEMPLATE = (
    "{% for order in orders %}{{ order.pk }}: {{ order.customer.name }}\n{% endfor %}"
)
TEMPLATES_SETTING = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {"orders.html": ORDERS_TEMPLATE},
                )
            ]
        },
    }
]


def _orders() -> object:
    return Order.objects.order_by("pk")[:ORDERS]


def template_loop(request: HttpRequest) -> HttpResponse:
    """Render the orders in a template that reads each order's customer."""
    orders = _orders()
    return render(request, "orders.html", {"orders": orders})  # RENDER_LINE


def template_string_loop(request: HttpRequest) -> HttpResponse:
    """Render the template to a string first, as ``render_to_string()`` does."""
    body = render_to_string("orders.html", {"orders": _orders()})  # STRING_LINE
    return HttpResponse(body)


def template_response_loop(request: HttpRequest) -> TemplateResponse:
    """Return a TemplateResponse, which Django renders after the view returns."""
    return TemplateResponse(request, "orders.html", {"orders": _orders()})


def view_loop(request: HttpRequest) -> HttpResponse:
    """Read each order's customer in a loop in the view itself."""
    lines = []
    for order in _orders():
        lines.append(f"{order.pk}: {order.customer.name}")  # VIEW_LINE
    return HttpResponse("\n".join(lines))


urlpatterns = [
    path("orders/template/", template_loop),
    path("orders/string/", template_string_loop),
    path("orders/response/", template_response_loop),
    path("orders/view/", view_loop),
]
