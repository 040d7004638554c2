"""Route the shop's JSON API; names match the keys of NOMINAL_LATENCY_S.

The async endpoints and the thread-pool one inject no latency.
"""

from __future__ import annotations

from django.urls import path

from apps.shop import async_views, views

app_name = "shop"

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("orders/", views.order_create, name="order-create"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/invoice/", views.order_invoice, name="order-invoice"),
    path("users/profile/", views.user_profile, name="user-profile"),
    path("inventory/update/", views.inventory_update, name="inventory-update"),
    path("analytics/dashboard/", views.analytics_dashboard, name="analytics-dashboard"),
    path("async/sleep/", async_views.async_sleep, name="async-sleep"),
    path(
        "async/orders/<int:pk>/",
        async_views.async_order_detail,
        name="async-order-detail",
    ),
    path(
        "async/customers/<int:pk>/", async_views.async_customer, name="async-customer"
    ),
    path(
        "products/parallel/",
        async_views.parallel_products,
        name="parallel-products",
    ),
]
