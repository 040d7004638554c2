"""Route the shop's JSON API; names match the keys of NOMINAL_LATENCY_S."""

from __future__ import annotations

from django.urls import path

from apps.shop import views

app_name = "shop"

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("orders/", views.order_create, name="order-create"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/invoice/", views.order_invoice, name="order-invoice"),
    path("users/profile/", views.user_profile, name="user-profile"),
    path("inventory/update/", views.inventory_update, name="inventory-update"),
    path("analytics/dashboard/", views.analytics_dashboard, name="analytics-dashboard"),
]
