"""Serve a class-based ``ListView`` and a view returning a ``TemplateResponse``.

Used through ``override_settings(ROOT_URLCONF=...)`` with ``TEMPLATES`` from
``template_urls.TEMPLATES_SETTING``: each page shows the customer of the
first ``ORDERS`` orders inside ``{% for %}`` in the template, which Django
renders after the view has returned. The orders are sorted by customer, so
a customer with several orders is loaded again for each: the same query
with the same parameters, which is part of the N+1.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.views.generic import ListView

from apps.shop.models import Order

from .template_urls import ORDERS


def orders() -> Any:
    """Return orders by customer: a customer with two is loaded twice.

    From the fourth on, so that in the sample shop more than one customer
    shows more than once (a repeated parameter set each).
    """
    return Order.objects.order_by("customer_id", "pk")[3 : 3 + ORDERS]


class OrderListView(ListView):  # type: ignore[type-arg]
    """List the first orders; the template reads each order's customer."""

    template_name = "orders.html"
    context_object_name = "orders"

    def get_queryset(self) -> Any:  # GET_QUERYSET
        return orders()


def order_response(request: HttpRequest) -> TemplateResponse:
    """Return a TemplateResponse, which Django renders after the view returns."""
    return TemplateResponse(request, "orders.html", {"orders": orders()})  # RESPONSE


urlpatterns = [
    path("orders/cbv/", OrderListView.as_view()),
    path("orders/response/", order_response),
]
