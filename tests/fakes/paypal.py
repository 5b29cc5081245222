"""A fake PayPal REST API for an httpx client: OAuth, Vault v3, Orders v2, refunds, webhooks and their verification.

What it implements, as PayPal documents it: `POST /v1/oauth2/token` (client credentials,
tokens that expire), setup tokens approved by the payer on a hosted page and turned into
payment tokens, orders created with a vaulted `payment_source` (captured in the same call,
or created APPROVED and captured by `/capture` when `single_step` is off), refunds of
captures, `PayPal-Request-Id` (the same id answers what the first request answered),
webhooks delivered with PayPal's transmission headers and an RSA-SHA256 signature over
`<transmission id>|<time>|<webhook id>|<crc32 of the body>`, and
`POST /v1/notifications/verify-webhook-signature`. Control routes under `/_control` play the
payer and the bank: approve a setup token, make a token decline, settle or reverse a
capture, inject outages.

Run by itself: ``python -m tests.fakes.paypal --port 12112``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import copy
import datetime as dt
import functools
import html
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.fakes.server import Fake, RecordedRequest, drop_connection, fault_routes, json_response, read_json, run_cli

CERT_NAME = "CERT-360caa42-fca2a594-fake0001"
APP = web.RequestKey("app", object)
BODY = web.RequestKey("body", object)
DEFAULT_TOKEN_TTL = 32_400


def _paypal_id(length: int = 17) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _debug_id() -> str:
    return secrets.token_hex(7)


class PayPalError(Exception):
    def __init__(self, status: int, body: dict[str, Any], *, saved: bool = True) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.saved = saved


def unprocessable(issue: str, description: str) -> PayPalError:
    return PayPalError(
        422,
        {
            "name": "UNPROCESSABLE_ENTITY",
            "message": "The requested action could not be performed, semantically incorrect, or failed business "
            "validation.",
            "debug_id": _debug_id(),
            "details": [{"issue": issue, "description": description}],
        },
    )


def not_found(what: str) -> PayPalError:
    return PayPalError(
        404,
        {
            "name": "RESOURCE_NOT_FOUND",
            "message": "The specified resource does not exist.",
            "debug_id": _debug_id(),
            "details": [
                {
                    "issue": "INVALID_RESOURCE_ID",
                    "description": f"Specified resource ID ({what}) does not exist. Please check the resource ID "
                    "and try again.",
                }
            ],
        },
        saved=False,
    )


def invalid_request(field_: str, issue: str, description: str) -> PayPalError:
    return PayPalError(
        400,
        {
            "name": "INVALID_REQUEST",
            "message": "Request is not well-formed, syntactically incorrect, or violates schema.",
            "debug_id": _debug_id(),
            "details": [{"field": field_, "location": "body", "issue": issue, "description": description}],
        },
        saved=False,
    )


@dataclass
class TokenBehaviour:
    """What a vaulted payment token does when charged: capture, decline with an issue, or stay pending."""

    decline: str | None = None  # e.g. INSTRUMENT_DECLINED, PAYER_CANNOT_PAY
    pending: bool = False


@dataclass
class App:
    """One REST app (client id) and what it owns."""

    client_id: str
    secret: str
    setup_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    behaviour: dict[str, TokenBehaviour] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    request_ids: dict[str, tuple[str, int, Any]] = field(default_factory=dict)


class FakePayPal(Fake):
    name = "fake PayPal"

    def __init__(self, *, token_ttl: int = DEFAULT_TOKEN_TTL, single_step: bool = True) -> None:
        super().__init__()
        self.token_ttl = token_ttl
        self.single_step = single_step
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token → (client id, expires at)
        self.transmissions: dict[str, bytes] = {}  # transmission id → the body sent
        self._owner_setup: dict[str, App] = {}
        self._owner_token: dict[str, App] = {}
        self._owner_capture: dict[str, App] = {}
        self._key, self._cert = _signing_key()

    # -- the application --

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_routes(
            [
                web.post("/v1/oauth2/token", self.oauth_token),
                web.post("/v3/vault/setup-tokens", self.create_setup_token),
                web.get("/v3/vault/setup-tokens/{id}", self.retrieve_setup_token),
                web.post("/v3/vault/payment-tokens", self.create_payment_token),
                web.get("/v3/vault/payment-tokens", self.list_payment_tokens),
                web.get("/v3/vault/payment-tokens/{id}", self.retrieve_payment_token),
                web.delete("/v3/vault/payment-tokens/{id}", self.delete_payment_token),
                web.post("/v2/checkout/orders", self.create_order),
                web.get("/v2/checkout/orders/{id}", self.retrieve_order),
                web.post("/v2/checkout/orders/{id}/capture", self.capture_order),
                web.get("/v2/payments/captures/{id}", self.retrieve_capture),
                web.post("/v2/payments/captures/{id}/refund", self.refund_capture),
                web.get("/v2/payments/refunds/{id}", self.retrieve_refund),
                web.post("/v1/notifications/webhooks", self.create_webhook),
                web.get("/v1/notifications/webhooks", self.list_webhooks),
                web.post("/v1/notifications/verify-webhook-signature", self.verify_webhook_signature),
                web.get(f"/v1/notifications/certs/{CERT_NAME}", self.certificate),
                web.get("/agreements/approve", self.approval_page),
                web.post("/agreements/approve", self.approval_page_submit),
                web.post("/_control/setup-tokens/{id}/approve", self.control_approve),
                web.post("/_control/payment-tokens", self.control_vault),
                web.post("/_control/payment-tokens/{id}/behaviour", self.control_behaviour),
                web.post("/_control/captures/{id}/settle", self.control_settle),
                web.post("/_control/captures/{id}/reverse", self.control_reverse),
                web.post("/_control/tokens/expire", self.control_expire_tokens),
                web.post("/_control/events/{id}/resend", self.control_resend),
                web.get("/_control/deliveries", self.control_deliveries),
                web.get("/_control/events", self.control_events),
                web.post("/_control/drain", self.control_drain),
                *fault_routes(self.faults, self.requests),
            ]
        )
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(("/v1/", "/v2/", "/v3/")):
            return await handler(request)
        body = await request.read()
        request_key = request.headers.get("PayPal-Request-Id") if request.method == "POST" else None
        recorded = RecordedRequest(request.method, request.path, dict(request.query), None, request_key)
        self.requests.append(recorded)
        try:
            recorded.params = json.loads(body) if body and request.content_type == "application/json" else None
        except ValueError:
            recorded.status = 400
            return json_response(
                {"name": "MALFORMED_REQUEST_JSON", "message": "The request JSON is not well formed.", "debug_id": "x"},
                400,
            )
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            recorded.fault = fault.kind
            if fault.kind == "error":
                recorded.status = fault.status
                return json_response(
                    {
                        "name": "INTERNAL_SERVER_ERROR",
                        "message": "An internal server error occurred.",
                        "debug_id": _debug_id(),
                    },
                    fault.status,
                )
            if fault.kind == "drop":
                return drop_connection(request)
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
        if request.path == "/v1/oauth2/token" or request.path.startswith("/v1/notifications/certs/"):
            response = await handler(request)
            recorded.status = response.status
            return response
        app = self._authorize(request)
        if isinstance(app, web.Response):
            recorded.status = app.status
            return app
        recorded.account = app.client_id
        request[APP] = app
        request[BODY] = recorded.params or {}
        if request_key is not None and request_key in app.request_ids:
            path, status, answer = app.request_ids[request_key]
            if path == request.path:
                recorded.status = status
                recorded.replayed = True
                return json_response(answer, 200 if status == 201 else status)
        try:
            status, answer = await handler(request)
            saved = True
        except PayPalError as error:
            status, answer, saved = error.status, error.body, error.saved
        if request_key is not None and saved and status < 300:  # errors are not replayed: a retry tries again
            app.request_ids[request_key] = (request.path, status, answer)
        recorded.status = status
        if fault is not None and fault.kind == "drop_after":
            return drop_connection(request)
        if status == 204:
            return web.Response(status=204)
        return json_response(answer, status)

    def _authorize(self, request: web.Request) -> App | web.Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        found = self.tokens.get(token)
        if not header.startswith("Bearer ") or found is None:
            return json_response(
                {"error": "invalid_token", "error_description": "Token signature verification failed"}, 401
            )
        client_id, expires_at = found
        if expires_at <= time.time():
            return json_response(
                {"error": "invalid_token", "error_description": "Access Token not found in cache"}, 401
            )
        return self.apps[client_id]

    # -- OAuth --

    async def oauth_token(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            client_id, secret = base64.b64decode(header.removeprefix("Basic ")).decode().split(":", 1)
        except (ValueError, binascii.Error):
            client_id = secret = ""
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}, 400)
        if not client_id or not secret or (client_id in self.apps and self.apps[client_id].secret != secret):
            return json_response({"error": "invalid_client", "error_description": "Client Authentication failed"}, 401)
        self.apps.setdefault(client_id, App(client_id, secret))
        token = "A21AA" + secrets.token_urlsafe(48)
        self.tokens[token] = (client_id, time.time() + self.token_ttl)
        return json_response(
            {
                "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/vault",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_ttl,
                "nonce": f"{_now()}{secrets.token_hex(8)}",
            }
        )

    # -- vault --

    async def create_setup_token(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        data: dict[str, Any] = request[BODY]
        source = data.get("payment_source") or {}
        paypal = source.get("paypal")
        if not isinstance(paypal, dict):
            raise invalid_request("/payment_source", "MISSING_REQUIRED_PARAMETER", "This fake vaults PayPal wallets.")
        context = paypal.get("experience_context") or {}
        if not context.get("return_url"):
            raise invalid_request(
                "/payment_source/paypal/experience_context/return_url",
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing.",
            )
        customer = dict(data.get("customer") or {})
        customer.setdefault("id", f"customer_{secrets.randbelow(10**10):010d}")
        token_id = _paypal_id()
        token = {
            "id": token_id,
            "customer": customer,
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": {k: v for k, v in paypal.items() if k != "experience_context"}},
            "links": [
                {
                    "href": f"{self.base_url}/agreements/approve?approval_session_id={token_id}",
                    "rel": "approve",
                    "method": "GET",
                },
                {"href": f"{self.base_url}/v3/vault/setup-tokens/{token_id}", "rel": "self", "method": "GET"},
            ],
            "_return_url": context["return_url"],
            "_cancel_url": context.get("cancel_url"),
        }
        app.setup_tokens[token_id] = token
        self._owner_setup[token_id] = app
        return 200, _public(token)

    async def retrieve_setup_token(self, request: web.Request) -> tuple[int, Any]:
        token = request[APP].setup_tokens.get(request.match_info["id"])
        if token is None:
            raise not_found(request.match_info["id"])
        return 200, _public(token)

    async def create_payment_token(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        data: dict[str, Any] = request[BODY]
        reference = (data.get("payment_source") or {}).get("token") or {}
        if reference.get("type") != "SETUP_TOKEN" or not reference.get("id"):
            raise invalid_request(
                "/payment_source/token",
                "MISSING_REQUIRED_PARAMETER",
                "A setup token id of type SETUP_TOKEN is required.",
            )
        setup = app.setup_tokens.get(reference["id"])
        if setup is None:
            raise not_found(reference["id"])
        if setup["status"] != "APPROVED":
            raise unprocessable(
                "SETUP_TOKEN_NOT_APPROVED",
                f"The payer has not approved this setup token yet (status {setup['status']}).",
            )
        if setup.get("_payment_token"):
            return 200, _public(app.payment_tokens[setup["_payment_token"]])
        token = self._vault(app, setup["customer"], setup["_payer_email"], setup["_behaviour"])
        setup["_payment_token"] = token["id"]
        setup["status"] = "VAULTED"
        return 201, _public(token)

    def _vault(self, app: App, customer: dict[str, Any], email: str, behaviour: TokenBehaviour) -> dict[str, Any]:
        token_id = secrets.token_hex(4)
        token = {
            "id": token_id,
            "customer": customer,
            "payment_source": {
                "paypal": {
                    "email_address": email,
                    "payer_id": _paypal_id(13),
                    "name": {"given_name": "Test", "surname": "Payer"},
                    "usage_type": "MERCHANT",
                    "customer_type": "CONSUMER",
                }
            },
            "links": [{"href": f"{self.base_url}/v3/vault/payment-tokens/{token_id}", "rel": "self", "method": "GET"}],
        }
        app.payment_tokens[token_id] = token
        app.behaviour[token_id] = behaviour
        self._owner_token[token_id] = app
        self.emit(app, "VAULT.PAYMENT-TOKEN.CREATED", "payment_token", _public(token), "A payment token was created.")
        return token

    async def list_payment_tokens(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        customer_id = request.query.get("customer_id")
        if not customer_id:
            raise invalid_request("customer_id", "MISSING_REQUIRED_PARAMETER", "customer_id is required.")
        found = [_public(t) for t in app.payment_tokens.values() if t["customer"].get("id") == customer_id]
        return 200, {
            "customer": {"id": customer_id},
            "payment_tokens": found,
            "total_items": len(found),
            "total_pages": 1,
        }

    async def retrieve_payment_token(self, request: web.Request) -> tuple[int, Any]:
        token = request[APP].payment_tokens.get(request.match_info["id"])
        if token is None:
            raise not_found(request.match_info["id"])
        return 200, _public(token)

    async def delete_payment_token(self, request: web.Request) -> tuple[int, Any]:
        if request[APP].payment_tokens.pop(request.match_info["id"], None) is None:
            raise not_found(request.match_info["id"])
        return 204, None

    # -- orders and captures --

    async def create_order(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        data: dict[str, Any] = request[BODY]
        if data.get("intent") != "CAPTURE":
            raise invalid_request("/intent", "INVALID_PARAMETER_VALUE", "This fake takes intent CAPTURE.")
        units = data.get("purchase_units") or []
        if len(units) != 1:
            raise invalid_request("/purchase_units", "MISSING_REQUIRED_PARAMETER", "One purchase unit is required.")
        unit = units[0]
        amount = unit.get("amount") or {}
        value, currency = _amount(amount, "/purchase_units/@reference_id=='default'/amount")
        vault_id = ((data.get("payment_source") or {}).get("paypal") or {}).get("vault_id")
        if not vault_id:
            raise invalid_request(
                "/payment_source/paypal/vault_id", "MISSING_REQUIRED_PARAMETER", "This fake takes vaulted payments."
            )
        if not request.headers.get("PayPal-Request-Id"):
            raise invalid_request(
                "PayPal-Request-Id",
                "PAYPAL_REQUEST_ID_REQUIRED",
                "A PayPal-Request-Id is required if you are trying to process payment for an Order.",
            )
        token = app.payment_tokens.get(vault_id)
        if token is None:
            raise unprocessable("INVALID_RESOURCE_ID", f"The vault_id {vault_id} is not a payment token of this app.")
        order_id = _paypal_id()
        order = {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "APPROVED",
            "payment_source": {
                "paypal": {**token["payment_source"]["paypal"], "attributes": {"vault": {"id": vault_id}}}
            },
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id", "default"),
                    "amount": {"currency_code": currency, "value": value},
                    **{k: unit[k] for k in ("custom_id", "invoice_id", "description") if k in unit},
                }
            ],
            "create_time": _now(),
            "update_time": _now(),
            "links": [{"href": f"{self.base_url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"}],
            "_vault_id": vault_id,
        }
        app.orders[order_id] = order
        if not self.single_step:
            order["links"].append(
                {"href": f"{self.base_url}/v2/checkout/orders/{order_id}/capture", "rel": "capture", "method": "POST"}
            )
            return 201, _public(order)
        self._capture(app, order)
        return 201, _public(order)

    async def retrieve_order(self, request: web.Request) -> tuple[int, Any]:
        order = request[APP].orders.get(request.match_info["id"])
        if order is None:
            raise not_found(request.match_info["id"])
        return 200, _public(order)

    async def capture_order(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        order = app.orders.get(request.match_info["id"])
        if order is None:
            raise not_found(request.match_info["id"])
        if order["status"] == "COMPLETED":
            raise unprocessable(
                "ORDER_ALREADY_CAPTURED",
                "Order already captured. If 'intent=CAPTURE' only one capture per order is allowed.",
            )
        if order["status"] != "APPROVED":
            raise unprocessable("ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment.")
        self._capture(app, order)
        return 201, _public(order)

    def _capture(self, app: App, order: dict[str, Any]) -> None:
        behaviour = app.behaviour.get(order["_vault_id"], TokenBehaviour())
        if behaviour.decline:
            descriptions = {
                "INSTRUMENT_DECLINED": "The instrument presented was either declined by the processor or bank, or "
                "it can't be used for this payment.",
                "PAYER_CANNOT_PAY": "Combination of payer and payee settings mean that this buyer cannot pay "
                "this seller.",
                "PAYER_ACCOUNT_RESTRICTED": "PAYER_ACCOUNT_RESTRICTED",
                "TRANSACTION_REFUSED": "The request was refused.",
            }
            raise unprocessable(behaviour.decline, descriptions.get(behaviour.decline, behaviour.decline))
        unit = order["purchase_units"][0]
        capture_id = _paypal_id()
        capture = {
            "id": capture_id,
            "status": "PENDING" if behaviour.pending else "COMPLETED",
            "amount": dict(unit["amount"]),
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "create_time": _now(),
            "update_time": _now(),
            "supplementary_data": {"related_ids": {"order_id": order["id"]}},
            "links": [
                {"href": f"{self.base_url}/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"},
                {
                    "href": f"{self.base_url}/v2/payments/captures/{capture_id}/refund",
                    "rel": "refund",
                    "method": "POST",
                },
                {"href": f"{self.base_url}/v2/checkout/orders/{order['id']}", "rel": "up", "method": "GET"},
            ],
            **{k: unit[k] for k in ("custom_id", "invoice_id") if k in unit},
            "_refunded": 0,
        }
        if behaviour.pending:
            capture["status_details"] = {"reason": "ECHECK"}
        app.captures[capture_id] = capture
        self._owner_capture[capture_id] = app
        unit["payments"] = {"captures": [_public(capture)]}
        order["status"] = "COMPLETED"
        order["update_time"] = _now()
        if behaviour.pending:
            self.emit(app, "PAYMENT.CAPTURE.PENDING", "capture", _public(capture), "Payment pending.")
        else:
            self.emit(
                app, "PAYMENT.CAPTURE.COMPLETED", "capture", _public(capture), _summary("Payment completed", capture)
            )

    async def retrieve_capture(self, request: web.Request) -> tuple[int, Any]:
        capture = request[APP].captures.get(request.match_info["id"])
        if capture is None:
            raise not_found(request.match_info["id"])
        return 200, _public(capture)

    async def refund_capture(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        capture = app.captures.get(request.match_info["id"])
        if capture is None:
            raise not_found(request.match_info["id"])
        data: dict[str, Any] = request[BODY]
        currency = capture["amount"]["currency_code"]
        captured = Decimal(capture["amount"]["value"])
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
            raise unprocessable("CAPTURE_STATUS_NOT_VALID", f"The capture is {capture['status']}.")
        left = captured - capture["_refunded"]
        if left <= 0:
            raise unprocessable("CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded.")
        if data.get("amount"):
            value, refund_currency = _amount(data["amount"], "/amount")
            if refund_currency != currency:
                raise unprocessable(
                    "REFUND_CAPTURE_CURRENCY_MISMATCH", "Refund must be in the same currency as the capture."
                )
            amount = Decimal(value)
        else:
            amount = left
        if amount > left:
            raise unprocessable(
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has not yet been refunded.",
            )
        capture["_refunded"] += amount
        total = capture["_refunded"]
        capture["status"] = "REFUNDED" if total == captured else "PARTIALLY_REFUNDED"
        refund_id = _paypal_id()
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": {"currency_code": currency, "value": _format(amount, capture["amount"]["value"])},
            "note_to_payer": data.get("note_to_payer"),
            "seller_payable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": _format(amount, capture["amount"]["value"])},
                "total_refunded_amount": {
                    "currency_code": currency,
                    "value": _format(total, capture["amount"]["value"]),
                },
            },
            "create_time": _now(),
            "update_time": _now(),
            "links": [
                {"href": f"{self.base_url}/v2/payments/refunds/{refund_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.base_url}/v2/payments/captures/{capture['id']}", "rel": "up", "method": "GET"},
            ],
        }
        app.refunds[refund_id] = refund
        self.emit(app, "PAYMENT.CAPTURE.REFUNDED", "refund", refund, _summary("A capture was refunded", refund))
        return 201, refund

    async def retrieve_refund(self, request: web.Request) -> tuple[int, Any]:
        refund = request[APP].refunds.get(request.match_info["id"])
        if refund is None:
            raise not_found(request.match_info["id"])
        return 200, refund

    # -- webhooks --

    async def create_webhook(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        data: dict[str, Any] = request[BODY]
        if not data.get("url"):
            raise invalid_request("/url", "MISSING_REQUIRED_PARAMETER", "url is required.")
        types = [t.get("name") for t in data.get("event_types") or [] if isinstance(t, dict)]
        if not types:
            raise invalid_request("/event_types", "MISSING_REQUIRED_PARAMETER", "event_types is required.")
        webhook_id = _paypal_id()
        webhook = {"id": webhook_id, "url": data["url"], "event_types": [{"name": t} for t in types]}
        app.webhooks[webhook_id] = webhook
        return 201, webhook

    async def list_webhooks(self, request: web.Request) -> tuple[int, Any]:
        return 200, {"webhooks": list(request[APP].webhooks.values())}

    def emit(
        self, app: App, event_type: str, resource_type: str, resource: dict[str, Any], summary: str
    ) -> dict[str, Any]:
        event = {
            "id": f"WH-{_paypal_id()}-{_paypal_id()}",
            "event_version": "1.0",
            "create_time": _now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": copy.deepcopy(resource),
            "links": [],
        }
        app.events.append(event)
        for webhook in app.webhooks.values():
            names = {t["name"] for t in webhook["event_types"]}
            if "*" in names or event_type in names:
                self._send(webhook, event)
        return event

    def _send(self, webhook: dict[str, Any], event: dict[str, Any], *, transmitted_at: str | None = None) -> None:
        body = json.dumps(event, indent=2).encode()
        transmission_id = str(uuid.uuid4())
        when = transmitted_at or _now()
        self.transmissions[transmission_id] = body
        self.deliverer.send(
            url=webhook["url"],
            body=body,
            headers=self.transmission_headers(transmission_id, when, webhook["id"], body),
            event_id=event["id"],
            event_type=event["event_type"],
        )

    def transmission_headers(self, transmission_id: str, when: str, webhook_id: str, body: bytes) -> dict[str, str]:
        """PayPal's headers: RSA-SHA256 over `<transmission id>|<time>|<webhook id>|<crc32 of the body>`."""
        message = f"{transmission_id}|{when}|{webhook_id}|{binascii.crc32(body)}".encode()
        signature = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": f"{self.base_url}/v1/notifications/certs/{CERT_NAME}",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-TRANSMISSION-TIME": when,
        }

    async def verify_webhook_signature(self, request: web.Request) -> tuple[int, Any]:
        app: App = request[APP]
        data: dict[str, Any] = request[BODY]
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
        for name in (*required, "webhook_event"):
            if not data.get(name):
                raise invalid_request(f"/{name}", "MISSING_REQUIRED_PARAMETER", f"{name} is required.")
        return 200, {"verification_status": "SUCCESS" if self._verifies(app, data) else "FAILURE"}

    def _verifies(self, app: App, data: dict[str, Any]) -> bool:
        if data["webhook_id"] not in app.webhooks or data["auth_algo"] != "SHA256withRSA":
            return False
        sent = self.transmissions.get(data["transmission_id"])
        # The event arrives re-encoded: the body sent counts if the event is the same, else its own JSON.
        body = (
            sent
            if sent is not None and json.loads(sent) == data["webhook_event"]
            else json.dumps(data["webhook_event"]).encode()
        )
        message = f"{data['transmission_id']}|{data['transmission_time']}|{data['webhook_id']}|{binascii.crc32(body)}"
        try:
            signature = base64.b64decode(data["transmission_sig"], validate=True)
            self._key.public_key().verify(signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # a bad signature is a FAILURE answer, not an error of the fake
            return False
        return True

    async def certificate(self, request: web.Request) -> web.Response:
        return web.Response(body=self._cert, content_type="application/x-pem-file")

    # -- what the payer, the bank and the tests do --

    def approve(
        self,
        setup_token_id: str,
        *,
        email: str = "payer@example.test",
        decline: str | None = None,
        pending: bool = False,
    ) -> dict[str, Any]:
        """The payer approves a setup token on PayPal's page; its payment token may decline or stay pending."""
        app = self._owner_setup.get(setup_token_id)
        if app is None:
            raise web.HTTPNotFound(text=f"no setup token {setup_token_id}")
        token = app.setup_tokens[setup_token_id]
        if token["status"] != "PAYER_ACTION_REQUIRED":
            raise web.HTTPConflict(text=f"the setup token is {token['status']}")
        token.update(status="APPROVED", _payer_email=email, _behaviour=TokenBehaviour(decline, pending))
        return _public(token)

    def vault(
        self, client_id: str, *, email: str = "payer@example.test", decline: str | None = None, pending: bool = False
    ) -> str:
        """A payment token made directly (as if the payer had approved a setup), for tests that skip the setup."""
        app = self.apps.setdefault(client_id, App(client_id, secrets.token_hex(8)))
        customer = {"id": f"customer_{secrets.randbelow(10**10):010d}"}
        return self._vault(app, customer, email, TokenBehaviour(decline, pending))["id"]

    def set_behaviour(self, payment_token_id: str, *, decline: str | None = None, pending: bool = False) -> None:
        self._owner_token[payment_token_id].behaviour[payment_token_id] = TokenBehaviour(decline, pending)

    def settle(self, capture_id: str, outcome: str = "complete") -> dict[str, Any]:
        """A pending capture clears (COMPLETED) or is denied (DECLINED)."""
        app = self._owner_capture[capture_id]
        capture = app.captures[capture_id]
        if capture["status"] != "PENDING":
            raise web.HTTPConflict(text=f"the capture is {capture['status']}")
        capture.pop("status_details", None)
        if outcome == "complete":
            capture["status"] = "COMPLETED"
            self.emit(
                app, "PAYMENT.CAPTURE.COMPLETED", "capture", _public(capture), _summary("Payment completed", capture)
            )
        else:
            capture["status"] = "DECLINED"
            capture["status_details"] = {
                "reason": "DECLINED_BY_RISK_FRAUD_FILTERS" if outcome == "risk" else "DECLINED"
            }
            self.emit(app, "PAYMENT.CAPTURE.DENIED", "capture", _public(capture), "A payment capture was denied.")
        return _public(capture)

    def reverse(self, capture_id: str) -> dict[str, Any]:
        """The payer's funding source takes the money back (a reversal): PAYMENT.CAPTURE.REVERSED."""
        app = self._owner_capture[capture_id]
        capture = app.captures[capture_id]
        capture["status"] = "REVERSED"
        refund = {
            "id": _paypal_id(),
            "status": "COMPLETED",
            "amount": dict(capture["amount"]),
            "links": [{"href": f"{self.base_url}/v2/payments/captures/{capture_id}", "rel": "up", "method": "GET"}],
        }
        self.emit(app, "PAYMENT.CAPTURE.REVERSED", "refund", refund, _summary("A payment was reversed", refund))
        return _public(capture)

    def resend(self, event_id: str, *, transmitted_at: str | None = None) -> None:
        for app in self.apps.values():
            for event in app.events:
                if event["id"] == event_id:
                    for webhook in app.webhooks.values():
                        self._send(webhook, event, transmitted_at=transmitted_at)
                    return
        raise KeyError(event_id)

    def expire_tokens(self) -> None:
        self.tokens = {token: (client, 0.0) for token, (client, _) in self.tokens.items()}

    def captures_of(self, client_id: str) -> list[dict[str, Any]]:
        return [_public(c) for c in self.apps[client_id].captures.values()]

    async def approval_page(self, request: web.Request) -> web.Response:
        token_id = html.escape(request.query.get("approval_session_id", ""))
        page = (
            "<!doctype html><title>Fake PayPal</title><h1>Agree to pay later with PayPal</h1>"
            f'<form method="post"><input type="hidden" name="approval_session_id" value="{token_id}">'
            '<input name="email" value="payer@example.test"><button>Agree and continue</button></form>'
        )
        return web.Response(text=page, content_type="text/html")

    async def approval_page_submit(self, request: web.Request) -> web.Response:
        form = await request.post()
        token_id = str(form.get("approval_session_id", ""))
        token = self.approve(token_id, email=str(form.get("email") or "payer@example.test"))
        return_url = self._owner_setup[token_id].setup_tokens[token_id]["_return_url"]
        query = urlencode({"approval_token_id": token["id"], "approval_session_id": token["id"]})
        raise web.HTTPSeeOther(f"{return_url}{'&' if '?' in return_url else '?'}{query}")

    async def control_approve(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(
            self.approve(
                request.match_info["id"],
                email=data.get("email", "payer@example.test"),
                decline=data.get("decline"),
                pending=bool(data.get("pending")),
            )
        )

    async def control_vault(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        token = self.vault(data["client_id"], decline=data.get("decline"), pending=bool(data.get("pending")))
        return json_response({"id": token}, 201)

    async def control_behaviour(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        self.set_behaviour(request.match_info["id"], decline=data.get("decline"), pending=bool(data.get("pending")))
        return json_response({"id": request.match_info["id"]})

    async def control_settle(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(self.settle(request.match_info["id"], data.get("outcome", "complete")))

    async def control_reverse(self, request: web.Request) -> web.Response:
        return json_response(self.reverse(request.match_info["id"]))

    async def control_expire_tokens(self, request: web.Request) -> web.Response:
        self.expire_tokens()
        return json_response({"expired": True})

    async def control_resend(self, request: web.Request) -> web.Response:
        """Deliver an event again (PayPal resends until a 2xx): `timestamp_offset` seconds moves its transmission time."""
        data = await read_json(request)
        offset = int(data.get("timestamp_offset", 0))
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.resend(request.match_info["id"], transmitted_at=when if offset else None)
        except KeyError:
            raise web.HTTPNotFound(text=f"no event {request.match_info['id']}") from None
        return json_response({"resent": request.match_info["id"]})

    async def control_events(self, request: web.Request) -> web.Response:
        return json_response([event for app in self.apps.values() for event in app.events])

    async def control_deliveries(self, request: web.Request) -> web.Response:
        return json_response([d.__dict__ for d in self.deliverer.deliveries])

    async def control_drain(self, request: web.Request) -> web.Response:
        await self.drain()
        return json_response({"drained": True})


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _amount(amount: Any, path: str) -> tuple[str, str]:
    if not isinstance(amount, dict) or not amount.get("currency_code") or amount.get("value") is None:
        raise invalid_request(path, "MISSING_REQUIRED_PARAMETER", "amount needs currency_code and value.")
    value = str(amount["value"])
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise invalid_request(f"{path}/value", "INVALID_PARAMETER_SYNTAX", "The value is not a decimal.") from None
    if not number.is_finite() or number <= 0:
        raise invalid_request(f"{path}/value", "INVALID_PARAMETER_VALUE", "The value must be greater than zero.")
    return value, str(amount["currency_code"])


def _format(amount: Decimal, like: str) -> str:
    places = len(like.split(".")[1]) if "." in like else 0
    return f"{amount:.{places}f}"


def _summary(what: str, resource: dict[str, Any]) -> str:
    amount = resource.get("amount") or {}
    return f"{what} for {amount.get('value')} {amount.get('currency_code')}"


@functools.cache
def _signing_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    """One RSA key and certificate per process (making a 2048-bit key takes a good part of a second)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, _self_signed(key)


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.fake.paypal")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, help="seconds an access token lives")
    parser.add_argument("--two-step", action="store_true", help="create orders APPROVED and capture on /capture")
    run_cli("fake PayPal", lambda args: FakePayPal(token_ttl=args.token_ttl, single_step=not args.two_step), parser)


if __name__ == "__main__":
    main()
