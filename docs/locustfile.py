"""Load the demo shop's JSON API with Locust; see docs/load-testing.md.

Run it only against a deployment you own, for example:

    locust -f docs/locustfile.py --headless --users 20 --spawn-rate 5 \
        --run-time 2m --host https://staging.example.com --csv shop

Each request is named after the route perfprobe files it under, so Locust's
table and perfprobe's endpoint table list the same rows.
"""

from __future__ import annotations

import os

from locust import HttpUser, between, task

# Ids that exist in the demo's sample data; set them for your own data.
CUSTOMER_ID = int(os.environ.get("LOAD_CUSTOMER_ID", "1"))
PRODUCT_ID = int(os.environ.get("LOAD_PRODUCT_ID", "1"))


class ShopUser(HttpUser):
    """A visitor who mostly browses and now and then places an order."""

    # Think time between two requests of one simulated user, in seconds.
    wait_time = between(0.5, 2.0)

    @task(4)
    def browse_products(self) -> None:
        self.client.get("/api/products/?category=kitchen", name="GET /api/products/")

    @task(2)
    def view_profile(self) -> None:
        self.client.get(
            f"/api/users/profile/?customer_id={CUSTOMER_ID}",
            name="GET /api/users/profile/",
        )

    @task(1)
    def place_order(self) -> None:
        self.client.post(
            "/api/orders/",
            json={
                "customer_id": CUSTOMER_ID,
                "items": [{"product_id": PRODUCT_ID, "quantity": 1}],
            },
            name="POST /api/orders/",
        )

    @task(1)
    def restock(self) -> None:
        # Puts back what the orders take, so a long run does not sell out.
        self.client.put(
            "/api/inventory/update/",
            json={"product_id": PRODUCT_ID, "quantity": 500},
            name="PUT /api/inventory/update/",
        )

    @task(1)
    def dashboard(self) -> None:
        self.client.get(
            "/api/analytics/dashboard/", name="GET /api/analytics/dashboard/"
        )
