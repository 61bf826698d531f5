"""A shop on loopback that answers as Shopify, WooCommerce and a company API document it.

A real aiohttp server (the line's client meets real sockets, headers and timing), holding
its data in plain dicts a test may change mid-call, checking each request's credentials as
the real systems would, and counting every request it gets. `trouble` makes the next
requests fail the ways real systems do: a status (404, 429 with Retry-After, 500), a slow
answer, or a body that is not JSON. `refused_url()` is an address where nobody listens.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SHOPIFY_TOKEN = "shpat_test_token"
WOO_KEY, WOO_SECRET = "ck_test", "cs_test"
API_TOKEN = "acme-api-token"
HMAC_SECRET = "acme-hmac-secret"


@dataclass
class Trouble:
    """How one answer goes wrong: a status (with headers), a delay first, or a broken body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None
    """Sent as it is (malformed JSON) instead of the real answer; None: the real answer."""


def shopify_order(
    number: int, phone: str, status: str | None, *, shipment: str | None = None, cancel: str | None = None
) -> dict[str, Any]:
    """An order as Shopify's Admin REST API returns it (the fields the preset reads, and some it does not)."""
    fulfillments = []
    if status is not None:
        fulfillments.append(
            {
                "id": 255858046,
                "order_id": 450789469 + number,
                "status": "success",
                "created_at": "2026-11-21T10:01:02-05:00",
                "tracking_company": "UPS",
                "tracking_number": "1Z2345",
                "tracking_numbers": ["1Z2345"],
                "shipment_status": shipment,
            }
        )
    return {
        "id": 450789469 + number,
        "name": f"#{number}",
        "order_number": number,
        "email": "jane@example.com",
        "phone": phone,
        "created_at": "2026-11-20T09:00:00-05:00",
        "cancelled_at": "2026-11-21T00:00:00-05:00" if cancel else None,
        "cancel_reason": cancel,
        "financial_status": "paid",
        "fulfillment_status": status,
        "customer": {"id": 207119551, "first_name": "Jane", "last_name": "Doe", "phone": phone},
        "shipping_address": {"name": "Jane Doe", "zip": "94107", "phone": phone, "country_code": "US"},
        "fulfillments": fulfillments,
    }


def woo_order(number: int, phone: str, status: str, tracking: str = "") -> dict[str, Any]:
    """An order as WooCommerce's REST API v3 returns it (`GET /wp-json/wc/v3/orders/<id>`)."""
    meta: list[dict[str, Any]] = [{"id": 1, "key": "_customer_note", "value": ""}]
    if tracking:
        meta.append(
            {
                "id": 2,
                "key": "_wc_shipment_tracking_items",
                "value": [
                    {"tracking_provider": "DHL", "tracking_number": tracking, "date_shipped": "1763942400"}
                ],
            }
        )
    return {
        "id": number,
        "number": str(number),
        "status": status,
        "currency": "USD",
        "date_created": "2026-11-20T09:00:00",
        "billing": {"first_name": "Jane", "last_name": "Doe", "postcode": "94107", "phone": phone},
        "shipping": {"first_name": "Jane", "last_name": "Doe", "postcode": "94107", "phone": ""},
        "meta_data": meta,
        "line_items": [{"id": 315, "name": "Espresso machine", "quantity": 1}],
    }


class FakeShop:
    def __init__(self) -> None:
        self.shopify: dict[int, dict[str, Any]] = {}
        self.woo: dict[int, dict[str, Any]] = {}
        self.repairs: dict[str, dict[str, Any]] = {}
        self.warranties: dict[str, dict[str, Any]] = {}
        self.trouble: deque[Trouble] = deque()
        """Consumed one per request, before it is answered; `always` applies when empty."""
        self.always: Trouble | None = None
        self.requests: list[str] = []
        """`METHOD path?query` of every request, in order."""
        self.arrived = asyncio.Event()
        """Set by every request (a test clears it to wait for the next)."""
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.next_origin = ""
        """Where `Link` headers send the next page: this shop (its own URL) unless a test says."""

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/admin/api/2024-10/orders.json", self._shopify_orders)
        app.router.add_get("/admin/api/2024-10/customers/search.json", self._shopify_customers)
        app.router.add_get("/admin/api/2024-10/customers/{id}/orders.json", self._shopify_customer_orders)
        app.router.add_get("/wp-json/wc/v3/orders/{id}", self._woo_order)
        app.router.add_get("/wp-json/wc/v3/orders", self._woo_orders)
        app.router.add_get("/api/repairs/{ticket}", self._api_repair)
        app.router.add_get("/api/warranties/{serial}", self._api_warranty)
        app.router.add_get("/api/customers/{phone}/orders", self._api_customer_orders)
        app.router.add_get("/api/customers/{phone}/repairs", self._api_customer_repairs)
        app.router.add_post("/api/lookup", self._api_post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.next_origin = self.next_origin or self.url
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        self.arrived.set()
        trouble = self.trouble.popleft() if self.trouble else self.always
        if trouble is not None:
            if trouble.delay:
                await asyncio.sleep(trouble.delay)
            if trouble.body is not None:
                return web.Response(text=trouble.body, content_type="application/json")
            if trouble.status != 200:
                return web.json_response(
                    {"errors": "trouble"}, status=trouble.status, headers=trouble.headers
                )
        if not self._authorised(request, await request.read()):
            return web.json_response({"errors": "[API] Invalid API key or access token"}, status=401)
        return await handler(request)

    @staticmethod
    def _authorised(request: web.Request, body: bytes) -> bool:
        path = request.path
        if path.startswith("/admin/"):
            return request.headers.get("X-Shopify-Access-Token") == SHOPIFY_TOKEN
        if path.startswith("/wp-json/"):
            expected = base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
            return request.headers.get("Authorization") == f"Basic {expected}"
        if request.headers.get("Authorization") == f"Bearer {API_TOKEN}":
            return True
        return verify_hmac(request.headers.get("X-Signature", ""), request.method, request.path_qs, body)

    # --- Shopify ----------------------------------------------------------------------------

    async def _shopify_orders(self, request: web.Request) -> web.Response:
        name = request.query.get("name", "").lstrip("#")
        found = [o for n, o in self.shopify.items() if str(n) == name]
        return web.json_response({"orders": found[:1]})

    async def _shopify_customers(self, request: web.Request) -> web.Response:
        phone = request.query.get("query", "").removeprefix("phone:")
        found = [o["customer"] for o in self.shopify.values() if o["customer"]["phone"] == phone]
        return web.json_response({"customers": found[:1]})

    async def _shopify_customer_orders(self, request: web.Request) -> web.Response:
        """Newest first, `limit` a page; a further page is named by a `Link` header's opaque
        `page_info` (cursor-based, as Shopify's REST API pages)."""
        customer = int(request.match_info["id"])
        found = [o for o in self.shopify.values() if o["customer"]["id"] == customer]
        found.sort(key=lambda o: (o["created_at"], o["order_number"]), reverse=True)
        limit = int(request.query.get("limit", "50"))
        start = int(request.query.get("page_info", "0"))
        headers = {}
        if start + limit < len(found):
            following = request.url.with_query({"limit": str(limit), "page_info": str(start + limit)})
            headers["Link"] = f'<{self.next_origin or ""}{following.path_qs}>; rel="next"'
        return web.json_response({"orders": found[start : start + limit]}, headers=headers)

    # --- WooCommerce ------------------------------------------------------------------------

    async def _woo_order(self, request: web.Request) -> web.Response:
        order = self.woo.get(int(request.match_info["id"]))
        if order is None:  # the documented answer for an unknown id
            body = {
                "code": "woocommerce_rest_shop_order_invalid_id",
                "message": "Invalid ID.",
                "data": {"status": 404},
            }
            return web.json_response(body, status=404)
        return web.json_response(order)

    async def _woo_orders(self, request: web.Request) -> web.Response:
        """`per_page` a page, `page` from 1; totals in X-WP-Total(Pages), the next page in `Link`."""
        search = request.query.get("search", "")
        found = [o for o in self.woo.values() if search and search in json.dumps(o["billing"])]
        per_page, page = int(request.query.get("per_page", "10")), int(request.query.get("page", "1"))
        pages = max(1, -(-len(found) // per_page))
        headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)}
        if page < pages:
            following = request.url.update_query({"page": str(page + 1)})
            headers["Link"] = f'<{self.next_origin or ""}{following.path_qs}>; rel="next"'
        return web.json_response(found[(page - 1) * per_page : page * per_page], headers=headers)

    # --- the company's own API (sources/generic.yaml) -----------------------------------------

    async def _api_repair(self, request: web.Request) -> web.Response:
        repair = self.repairs.get(request.match_info["ticket"])
        if repair is None:
            raise web.HTTPNotFound()
        return web.json_response({"repair": repair})

    async def _api_warranty(self, request: web.Request) -> web.Response:
        warranty = self.warranties.get(request.match_info["serial"])
        if warranty is None:
            raise web.HTTPNotFound()
        return web.json_response({"warranty": warranty})

    async def _api_customer_orders(self, request: web.Request) -> web.Response:
        return web.json_response({"orders": []})

    async def _api_customer_repairs(self, request: web.Request) -> web.Response:
        phone = request.match_info["phone"]
        return web.json_response(
            {"repairs": [r for r in self.repairs.values() if r["customer"]["phone"] == phone]}
        )

    async def _api_post(self, request: web.Request) -> web.Response:
        asked = await request.json()
        repair = self.repairs.get(str(asked.get("ticket")))
        if repair is None:
            raise web.HTTPNotFound()
        return web.json_response({"repair": repair})


def verify_hmac(header: str, method: str, target: str, body: bytes, secret: str = HMAC_SECRET) -> bool:
    """The receiving side of `t=…,v1=…` (docs/sources.md): what a company's service checks."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts:
        return False
    signed = f"{parts['t']}.{method}.{target}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def refused_url() -> str:
    """An address on loopback where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
