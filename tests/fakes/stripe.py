"""A fake Stripe API for the official `stripe` SDK pointed at it (`base_addresses={"api": url}`).

It behaves as Stripe documents its test mode, for what collection uses: customers, payment
methods (Stripe's test ids such as `pm_card_visa`), off-session PaymentIntents, ACH Direct
Debit that settles later, refunds, Checkout Sessions in setup mode, idempotency keys, error
bodies, and webhooks signed with `Stripe-Signature`. Control routes under `/_control` drive
what a person or a bank would do (settle an ACH debit, authenticate, complete a checkout,
return a payment) and inject outages.

Run by itself: ``python -m tests.fakes.stripe --port 12111 --webhook-url http://127.0.0.1:8000/webhooks/stripe/<org>``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
import hmac
import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from tests.fakes.server import (
    Fake,
    RecordedRequest,
    drop_connection,
    fault_routes,
    json_response,
    new_id,
    read_json,
    run_cli,
)

API_VERSION = "2026-10-28.endive"


# --- test payment methods ------------------------------------------------------------


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    exp_month: int = 12
    exp_year: int = 2034
    funding: str = "credit"
    decline: tuple[str, str, str] | None = None  # (code, decline_code, message)
    authentication: bool = False  # every payment needs 3-D Secure (off-session: declined)
    dispute: bool = False  # the payment succeeds, then the cardholder disputes it


@dataclass(frozen=True)
class TestBankAccount:
    last4: str
    outcome: str = "succeed"  # what settling does: succeed, fail, dispute, processing (stays)
    failure_code: str | None = None
    failure_message: str | None = None


_DECLINED = ("card_declined", "generic_decline", "Your card was declined.")
_INSUFFICIENT = ("card_declined", "insufficient_funds", "Your card has insufficient funds.")
_LOST = ("card_declined", "lost_card", "Your card was declined.")
_STOLEN = ("card_declined", "stolen_card", "Your card was declined.")

TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeDeclined": TestCard("visa", "0002", decline=_DECLINED),
    "pm_card_visa_chargeDeclined": TestCard("visa", "0002", decline=_DECLINED),
    "pm_card_chargeCustomerFail": TestCard("visa", "0341", decline=_DECLINED),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard("visa", "9995", decline=_INSUFFICIENT),
    "pm_card_visa_chargeDeclinedInsufficientFunds": TestCard("visa", "9995", decline=_INSUFFICIENT),
    "pm_card_chargeDeclinedLostCard": TestCard("visa", "9987", decline=_LOST),
    "pm_card_visa_chargeDeclinedLostCard": TestCard("visa", "9987", decline=_LOST),
    "pm_card_chargeDeclinedStolenCard": TestCard("visa", "9979", decline=_STOLEN),
    "pm_card_visa_chargeDeclinedStolenCard": TestCard("visa", "9979", decline=_STOLEN),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", decline=("expired_card", "expired_card", "Your card has expired.")
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa", "0127", decline=("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        decline=(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
    "pm_card_visa_chargeDeclinedVelocityLimitExceeded": TestCard(
        "visa", "6975", decline=("card_declined", "card_velocity_exceeded", "Your card was declined.")
    ),
    "pm_card_authenticationRequired": TestCard("visa", "3184", authentication=True),
    "pm_card_threeDSecure2Required": TestCard("visa", "3220", authentication=True),
    "pm_card_authenticationRequiredOnSetup": TestCard("visa", "3155"),
    "pm_card_createDispute": TestCard("visa", "0259", dispute=True),
}

TEST_BANK_ACCOUNTS: dict[str, TestBankAccount] = {
    "pm_usBankAccount": TestBankAccount("6789"),
    "pm_usBankAccount_success": TestBankAccount("6789"),
    "pm_usBankAccount_accountClosed": TestBankAccount(
        "1113", "fail", "account_closed", "The customer's bank account has been closed."
    ),
    "pm_usBankAccount_noAccount": TestBankAccount(
        "1116", "fail", "no_account", "The customer's bank account could not be located."
    ),
    "pm_usBankAccount_insufficientFunds": TestBankAccount(
        "2227", "fail", "insufficient_funds", "The customer's account has insufficient funds to cover this payment."
    ),
    "pm_usBankAccount_debitNotAuthorized": TestBankAccount(
        "3335",
        "fail",
        "debit_not_authorized",
        "The customer has notified their bank that this payment was unauthorized.",
    ),
    "pm_usBankAccount_invalidCurrency": TestBankAccount(
        "4440", "fail", "invalid_currency", "The bank was unable to process this payment because of its currency."
    ),
    "pm_usBankAccount_dispute": TestBankAccount("5559", "dispute"),
    "pm_usBankAccount_processing": TestBankAccount("0009", "processing"),
}

# ACH return reason codes (NACHA) → the reason Stripe gives the dispute it opens for them.
ACH_RETURN_REASONS = {
    "R01": "insufficient_funds",
    "R02": "bank_cannot_process",
    "R03": "bank_cannot_process",
    "R04": "bank_cannot_process",
    "R05": "debit_not_authorized",
    "R07": "debit_not_authorized",
    "R08": "debit_not_authorized",
    "R10": "debit_not_authorized",
    "R29": "debit_not_authorized",
}


# --- errors and requests -------------------------------------------------------------


class StripeError(Exception):
    """An error answer; `saved` says whether the idempotency layer keeps it (it began executing)."""

    def __init__(self, status: int, error: dict[str, Any], *, saved: bool = True) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error
        self.saved = saved


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, saved: bool = False
) -> StripeError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return StripeError(400, error, saved=saved)


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": param,
            "message": f"No such {kind}: '{object_id}'",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        },
        saved=False,
    )


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`metadata[k]=v`, `items[0][price]=p`) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise invalid_request(f"Invalid parameter: {key}", param=key)
        last = parts[-1]
        if last == "" and isinstance(node, dict):  # `expand[]=x`
            last = str(len(node))
        node[last] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


def _int(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise invalid_request(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_request(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer") from None


def _list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _listing(items: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": False, "url": url}


@dataclass
class StoredResponse:
    method: str
    path: str
    params: Any
    status: int
    body: Any
    request_id: str


@dataclass
class Account:
    """One secret key's test-mode account."""

    key: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    behaviour: dict[str, TestCard | TestBankAccount] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, StoredResponse] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)

    def get(self, object_id: str, kind: str, label: str, param: str = "id") -> dict[str, Any]:
        found = self.objects.get(object_id)
        if found is None or found.get("object") != kind:
            raise missing(label, object_id, param)
        return found


@dataclass
class Context:
    """The API request an operation runs for (events name it)."""

    request_id: str
    idempotency_key: str | None


Handler = Callable[[Account, dict[str, Any], dict[str, str], Context], Any]


# --- the fake ------------------------------------------------------------------------


class FakeStripe(Fake):
    name = "fake Stripe"

    def __init__(self, *, webhook_url: str | None = None, webhook_secret: str | None = None) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self._owner: dict[str, Account] = {}  # object id → account, for the control routes
        self.default_endpoint: dict[str, Any] | None = None
        self._return_urls: dict[str, str | None] = {}
        if webhook_url:
            self.default_endpoint = {
                "id": "we_default",
                "url": webhook_url,
                "secret": webhook_secret or "whsec_fake_default",
                "enabled_events": ["*"],
            }

    # -- the application --

    def build_app(self) -> web.Application:
        app = web.Application()
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "/v1/customers", self.create_customer),
            ("GET", "/v1/customers/{id}", self.retrieve_customer),
            ("POST", "/v1/customers/{id}", self.update_customer),
            ("GET", "/v1/customers/{id}/payment_methods", self.list_customer_payment_methods),
            ("GET", "/v1/payment_methods", self.list_payment_methods),
            ("GET", "/v1/payment_methods/{id}", self.retrieve_payment_method),
            ("POST", "/v1/payment_methods/{id}/attach", self.attach_payment_method),
            ("POST", "/v1/payment_methods/{id}/detach", self.detach_payment_method),
            ("POST", "/v1/payment_intents", self.create_payment_intent),
            ("GET", "/v1/payment_intents/{id}", self.retrieve_payment_intent),
            ("POST", "/v1/payment_intents/{id}/confirm", self.confirm_payment_intent),
            ("POST", "/v1/payment_intents/{id}/cancel", self.cancel_payment_intent),
            ("GET", "/v1/charges/{id}", self.retrieve_charge),
            ("POST", "/v1/refunds", self.create_refund),
            ("GET", "/v1/refunds/{id}", self.retrieve_refund),
            ("POST", "/v1/checkout/sessions", self.create_checkout_session),
            ("GET", "/v1/checkout/sessions/{id}", self.retrieve_checkout_session),
            ("GET", "/v1/setup_intents/{id}", self.retrieve_setup_intent),
            ("POST", "/v1/webhook_endpoints", self.create_webhook_endpoint),
            ("GET", "/v1/webhook_endpoints", self.list_webhook_endpoints),
            ("DELETE", "/v1/webhook_endpoints/{id}", self.delete_webhook_endpoint),
            ("GET", "/v1/events", self.list_events),
            ("GET", "/v1/events/{id}", self.retrieve_event),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._api(handler))
        app.router.add_routes(
            [
                web.get("/checkout/{id}", self.checkout_page),
                web.post("/checkout/{id}", self.checkout_page_submit),
                web.get("/3ds/{id}", self.authentication_page),
                web.post("/3ds/{id}", self.authentication_page_submit),
                web.post("/_control/payment_intents/{id}/settle", self.control_settle),
                web.post("/_control/payment_intents/{id}/authenticate", self.control_authenticate),
                web.post("/_control/payment_intents/{id}/return", self.control_return),
                web.post("/_control/payment_intents/{id}/close_dispute", self.control_close_dispute),
                web.post("/_control/checkout/sessions/{id}/complete", self.control_complete_checkout),
                web.post("/_control/events/{id}/resend", self.control_resend),
                web.get("/_control/deliveries", self.control_deliveries),
                web.post("/_control/drain", self.control_drain),
                *fault_routes(self.faults, self.requests),
            ]
        )
        return app

    def _api(self, handler: Handler) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True) if body else []
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            recorded = RecordedRequest(request.method, request.path, dict(request.query), None, key)
            self.requests.append(recorded)
            request_id = new_id("req", 14)
            headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("Stripe-Version", API_VERSION)}
            try:
                params = decode_form(pairs) if request.method == "POST" else decode_form(list(request.query.items()))
                recorded.params = params
                account = self._authenticate(request)
                recorded.account = account.key[-4:]
            except StripeError as error:
                recorded.status = error.status
                return json_response({"error": error.error}, error.status, headers)

            fault = self.faults.take(request.method, request.path)
            if fault is not None:
                recorded.fault = fault.kind
                if fault.kind == "error":
                    recorded.status = fault.status
                    body_ = {"error": {"type": "api_error", "message": "An unknown error occurred (injected)."}}
                    return json_response(body_, fault.status, headers)
                if fault.kind == "drop":
                    return drop_connection(request)

            if key is not None:
                stored = account.idempotency.get(key)
                if stored is not None:
                    if (stored.method, stored.path) != (request.method, request.path):
                        error = invalid_request(
                            f"Keys for idempotent requests can only be used for the same endpoint they were first "
                            f"used for ('{stored.method} {stored.path}' vs '{request.method} {request.path}'). "
                            f"Try using a key other than '{key}' if you meant to execute a different request."
                        )
                        error.error["type"] = "idempotency_error"
                        recorded.status = 400
                        return json_response({"error": error.error}, 400, headers)
                    if stored.params != params:
                        error = invalid_request(
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request."
                        )
                        error.error["type"] = "idempotency_error"
                        recorded.status = 400
                        return json_response({"error": error.error}, 400, headers)
                    recorded.status = stored.status
                    recorded.replayed = True
                    headers.update({"Idempotent-Replayed": "true", "Original-Request": stored.request_id})
                    return json_response(stored.body, stored.status, headers)
                if key in account.in_flight:
                    recorded.status = 409
                    message = (
                        "There is currently another in-progress request using this Idempotent Key (that probably "
                        f"means you submitted twice, and the other request is still going through): {key}. "
                        "Please try again later."
                    )
                    error_body = {"type": "invalid_request_error", "code": "idempotency_key_in_use", "message": message}
                    return json_response({"error": error_body}, 409, headers)
                account.in_flight.add(key)
            try:
                if fault is not None and fault.kind == "delay":  # a slow execution: the key is in flight meanwhile
                    await asyncio.sleep(fault.seconds)
                context = Context(request_id, key)
                try:
                    status, answer, saved = 200, handler(account, params, dict(request.match_info), context), True
                except StripeError as error:
                    status, answer, saved = error.status, {"error": error.error}, error.saved
                if key is not None and saved:
                    account.idempotency[key] = StoredResponse(
                        request.method, request.path, params, status, answer, request_id
                    )
            finally:
                if key is not None:
                    account.in_flight.discard(key)
            recorded.status = status
            if fault is not None and fault.kind == "drop_after":
                return drop_connection(request)
            if fault is not None and fault.kind == "late_answer":
                await asyncio.sleep(fault.seconds)
            return json_response(answer, status, headers)

        return serve

    def _authenticate(self, request: web.Request) -> Account:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):  # curl -u sk_test_…: (the key as user name, no password)
            try:
                key = base64.b64decode(header.removeprefix("Basic ")).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        else:
            key = header.removeprefix("Bearer ").strip()
        if not key:
            raise StripeError(
                401,
                {
                    "type": "invalid_request_error",
                    "message": "You did not provide an API key. You need to provide your API key in the "
                    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                },
                saved=False,
            )
        if not key.startswith(("sk_test_", "rk_test_")):
            raise StripeError(
                401,
                {"type": "invalid_request_error", "message": f"Invalid API Key provided: {key[:8]}****{key[-4:]}"},
                saved=False,
            )
        return self.account(key)

    def account(self, key: str) -> Account:
        if key not in self.accounts:
            self.accounts[key] = Account(key)
        return self.accounts[key]

    def _store(self, account: Account, obj: dict[str, Any]) -> dict[str, Any]:
        account.objects[obj["id"]] = obj
        self._owner[obj["id"]] = account
        return obj

    def owner(self, object_id: str) -> Account:
        if object_id not in self._owner:
            raise web.HTTPNotFound(text=f"no object {object_id}")
        return self._owner[object_id]

    # -- events and webhooks --

    def emit(self, account: Account, event_type: str, obj: dict[str, Any], context: Context | None) -> dict[str, Any]:
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 0,
            "request": {
                "id": context.request_id if context else None,
                "idempotency_key": context.idempotency_key if context else None,
            },
            "type": event_type,
        }
        endpoints = self._endpoints_for(account, event_type)
        event["pending_webhooks"] = len(endpoints)
        account.events.append(event)
        self._owner[event["id"]] = account
        for endpoint in endpoints:
            self._send(event, endpoint)
        return event

    def _endpoints_for(self, account: Account, event_type: str) -> list[dict[str, Any]]:
        found = [e for e in account.endpoints.values() if e["status"] == "enabled"]
        if self.default_endpoint is not None:
            found.append(self.default_endpoint)
        return [e for e in found if "*" in e["enabled_events"] or event_type in e["enabled_events"]]

    def _send(self, event: dict[str, Any], endpoint: dict[str, Any], *, timestamp: int | None = None) -> None:
        body = json.dumps(event, indent=2).encode()
        self.deliverer.send(
            url=endpoint["url"],
            body=body,
            headers={"Stripe-Signature": sign_payload(body, endpoint["secret"], timestamp)},
            event_id=event["id"],
            event_type=event["type"],
        )

    # -- customers --

    def create_customer(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        customer = {
            "id": new_id("cus", 14),
            "object": "customer",
            "created": int(time.time()),
            "email": params.get("email") or None,
            "name": params.get("name") or None,
            "description": params.get("description") or None,
            "metadata": dict(params.get("metadata") or {}),
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
        }
        self._store(account, customer)
        if params.get("payment_method"):
            pm = self._payment_method(account, params["payment_method"], "payment_method")
            self._attach(account, pm, customer, ctx)
        default = (params.get("invoice_settings") or {}).get("default_payment_method")
        if default:
            self._set_default(account, customer, default)
        self.emit(account, "customer.created", customer, ctx)
        return customer

    def retrieve_customer(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        return account.get(path["id"], "customer", "customer")

    def update_customer(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        customer = account.get(path["id"], "customer", "customer")
        for name in ("email", "name", "description"):
            if name in params:
                customer[name] = params[name] or None
        if isinstance(params.get("metadata"), dict):
            for k, v in params["metadata"].items():
                if v == "":
                    customer["metadata"].pop(k, None)
                else:
                    customer["metadata"][k] = v
        default = (params.get("invoice_settings") or {}).get("default_payment_method")
        if default is not None:
            self._set_default(account, customer, default)
        self.emit(account, "customer.updated", customer, ctx)
        return customer

    def _set_default(self, account: Account, customer: dict[str, Any], pm_id: str) -> None:
        if pm_id == "":
            customer["invoice_settings"]["default_payment_method"] = None
            return
        pm = account.objects.get(pm_id)
        if pm is None or pm.get("object") != "payment_method":
            raise missing("PaymentMethod", pm_id, "invoice_settings[default_payment_method]")
        if pm.get("customer") != customer["id"]:
            raise invalid_request(
                f"The customer does not have a payment method with the ID {pm_id}. The payment method must be "
                "attached to the customer.",
                param="invoice_settings[default_payment_method]",
                code="resource_missing",
                saved=True,
            )
        customer["invoice_settings"]["default_payment_method"] = pm_id

    # -- payment methods --

    def _payment_method(self, account: Account, reference: str, param: str) -> dict[str, Any]:
        """A stored payment method, or a new one made from a test id (as Stripe does for `pm_card_visa`)."""
        if reference in TEST_CARDS or reference in TEST_BANK_ACCOUNTS:
            return self._from_test_id(account, reference)
        return account.get(reference, "payment_method", "PaymentMethod", param)

    def _from_test_id(self, account: Account, reference: str) -> dict[str, Any]:
        pm: dict[str, Any] = {
            "id": new_id("pm"),
            "object": "payment_method",
            "created": int(time.time()),
            "customer": None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "livemode": False,
            "metadata": {},
        }
        behaviour: TestCard | TestBankAccount
        if reference in TEST_CARDS:
            card = behaviour = TEST_CARDS[reference]
            pm["type"] = "card"
            pm["card"] = {
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "funding": card.funding,
                "country": "US",
                "fingerprint": hashlib.sha256(reference.encode()).hexdigest()[:16],
            }
        else:
            bank = behaviour = TEST_BANK_ACCOUNTS[reference]
            pm["type"] = "us_bank_account"
            pm["us_bank_account"] = {
                "account_holder_type": "individual",
                "account_type": "checking",
                "bank_name": "STRIPE TEST BANK",
                "last4": bank.last4,
                "routing_number": "110000000",
                "fingerprint": hashlib.sha256(reference.encode()).hexdigest()[:16],
            }
        account.behaviour[pm["id"]] = behaviour
        return self._store(account, pm)

    def retrieve_payment_method(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        return self._payment_method(account, path["id"], "payment_method")

    def list_payment_methods(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        customer_id = params.get("customer")
        if customer_id:
            account.get(customer_id, "customer", "customer", "customer")
        kind = params.get("type")
        items = [
            o
            for o in account.objects.values()
            if o["object"] == "payment_method"
            and (not customer_id or o["customer"] == customer_id)
            and (not kind or o["type"] == kind)
        ]
        return _listing(items, "/v1/payment_methods")

    def list_customer_payment_methods(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        return self.list_payment_methods(account, {**params, "customer": path["id"]}, path, ctx)

    def attach_payment_method(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        if not params.get("customer"):
            raise invalid_request("Missing required param: customer.", param="customer", code="parameter_missing")
        customer = account.get(params["customer"], "customer", "customer", "customer")
        pm = self._payment_method(account, path["id"], "payment_method")
        return self._attach(account, pm, customer, ctx)

    def _attach(self, account: Account, pm: dict[str, Any], customer: dict[str, Any], ctx: Context) -> dict[str, Any]:
        if pm["customer"] not in (None, customer["id"]):
            raise invalid_request(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
                saved=True,
            )
        if pm["customer"] is None:
            pm["customer"] = customer["id"]
            self.emit(account, "payment_method.attached", pm, ctx)
        return pm

    def detach_payment_method(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        pm = account.get(path["id"], "payment_method", "PaymentMethod")
        if pm["customer"] is None:
            raise invalid_request(
                "The payment method you provided is not attached to a customer so detachment is impossible.", saved=True
            )
        customer = account.objects.get(pm["customer"])
        if customer and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
            customer["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        self.emit(account, "payment_method.detached", pm, ctx)
        return pm

    # -- payment intents --

    def create_payment_intent(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        amount = _int(params, "amount", required=True)
        assert amount is not None
        if amount < 1:
            raise invalid_request(
                "This value must be greater than or equal to 1.", param="amount", code="amount_too_small"
            )
        currency = str(params.get("currency") or "").lower()
        if len(currency) != 3 or not currency.isalpha():
            raise invalid_request("Missing required param: currency.", param="currency", code="parameter_missing")
        confirm = _bool(params.get("confirm"))
        off_session = _bool(params.get("off_session"))
        if off_session and not confirm:
            raise invalid_request("off_session can only be used when confirm=true.", param="off_session")
        customer = None
        if params.get("customer"):
            customer = account.get(params["customer"], "customer", "customer", "customer")
        pm = None
        if params.get("payment_method"):
            pm = self._payment_method(account, params["payment_method"], "payment_method")
            if customer is not None and pm["customer"] not in (None, customer["id"]):
                raise invalid_request(
                    "The provided PaymentMethod belongs to another Customer.", param="payment_method", saved=True
                )
        if confirm and pm is None:
            raise invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                param="payment_method",
                code="payment_intent_unexpected_state",
            )
        given_types = _list(params.get("payment_method_types"))
        automatic = params.get("automatic_payment_methods") or {}
        if confirm and not given_types and not params.get("return_url") and automatic.get("allow_redirects") != "never":
            raise invalid_request(
                "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some "
                "of these payment methods might redirect your customer off of your page, you must provide a "
                "`return_url`. If you don't want to accept redirect-based payment methods, set "
                "`automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to "
                "`never` when creating Setup Intents and Payment Intents.",
                param="return_url",
            )
        types = given_types or ["card", "us_bank_account"]  # the methods "enabled in the Dashboard" of the fake
        if pm is not None and pm["type"] not in types:
            raise invalid_request(
                f"The PaymentMethod provided ({pm['type']}) is not allowed for this PaymentIntent.",
                param="payment_method",
            )
        pi = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "capture_method": "automatic",
            "client_secret": "",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": customer["id"] if customer else None,
            "description": params.get("description") or None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "next_action": None,
            "payment_method": pm["id"] if pm else None,
            "payment_method_types": types,
            "status": "requires_confirmation" if pm else "requires_payment_method",
        }
        pi["client_secret"] = f"{pi['id']}_secret_{new_id('x', 20)[2:]}"
        self._store(account, pi)
        self.emit(account, "payment_intent.created", pi, ctx)
        if confirm:
            self._confirm(account, pi, off_session=off_session, return_url=params.get("return_url"), ctx=ctx)
        return pi

    def retrieve_payment_intent(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        return account.get(path["id"], "payment_intent", "payment_intent")

    def confirm_payment_intent(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        pi = account.get(path["id"], "payment_intent", "payment_intent")
        if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
            raise invalid_request(
                f"This PaymentIntent's status is {pi['status']}, so it cannot be confirmed.",
                code="payment_intent_unexpected_state",
                saved=True,
            )
        if params.get("payment_method"):
            pm = self._payment_method(account, params["payment_method"], "payment_method")
            pi["payment_method"] = pm["id"]
        if not pi["payment_method"]:
            raise invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        self._confirm(
            account, pi, off_session=_bool(params.get("off_session")), return_url=params.get("return_url"), ctx=ctx
        )
        return pi

    def cancel_payment_intent(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        pi = account.get(path["id"], "payment_intent", "payment_intent")
        if pi["status"] in ("succeeded", "canceled"):
            raise invalid_request(
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                code="payment_intent_unexpected_state",
                saved=True,
            )
        pi["status"] = "canceled"
        pi["next_action"] = None
        self.emit(account, "payment_intent.canceled", pi, ctx)
        return pi

    def _confirm(
        self, account: Account, pi: dict[str, Any], *, off_session: bool, return_url: str | None, ctx: Context | None
    ) -> None:
        pm = account.objects[pi["payment_method"]]
        behaviour = account.behaviour.get(pm["id"], TestCard("visa", pm.get("card", {}).get("last4", "0000")))
        pi["next_action"] = None
        if pm["type"] == "us_bank_account":
            if pi["currency"] != "usd":
                raise invalid_request(
                    f"The currency provided ({pi['currency']}) is invalid. Payments with us_bank_account support "
                    "the following currencies: usd.",
                    param="currency",
                    saved=True,
                )
            charge = self._charge(account, pi, pm, "pending")
            pi["status"] = "processing"
            pi["last_payment_error"] = None
            self.emit(account, "charge.pending", charge, ctx)
            self.emit(account, "payment_intent.processing", pi, ctx)
            return
        assert isinstance(behaviour, TestCard)
        if behaviour.decline is not None:
            self._decline(account, pi, pm, *behaviour.decline, ctx=ctx)
        if behaviour.authentication:
            if off_session:
                self._decline(
                    account,
                    pi,
                    pm,
                    "authentication_required",
                    "authentication_required",
                    "Your card was declined. This transaction requires authentication.",
                    ctx=ctx,
                    with_charge=False,
                )
            pi["status"] = "requires_action"
            url = f"{self.base_url}/3ds/{pi['id']}"
            pi["next_action"] = (
                {"type": "redirect_to_url", "redirect_to_url": {"url": url, "return_url": return_url}}
                if return_url
                else {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url}}
            )
            self._return_urls[pi["id"]] = return_url
            self.emit(account, "payment_intent.requires_action", pi, ctx)
            return
        self._succeed(account, pi, pm, ctx)

    def _charge(self, account: Account, pi: dict[str, Any], pm: dict[str, Any], status: str) -> dict[str, Any]:
        details: dict[str, Any] = {"type": pm["type"]}
        if pm["type"] == "card":
            details["card"] = {k: pm["card"][k] for k in ("brand", "last4", "exp_month", "exp_year", "funding")}
        else:
            details["us_bank_account"] = {k: pm["us_bank_account"][k] for k in ("bank_name", "last4", "routing_number")}
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "captured": False,
            "created": int(time.time()),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "outcome": None,
            "paid": False,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": details,
            "refunded": False,
            "status": status,
        }
        pi["latest_charge"] = charge["id"]
        return self._store(account, charge)

    def _succeed(self, account: Account, pi: dict[str, Any], pm: dict[str, Any], ctx: Context | None) -> None:
        charge = account.objects.get(pi["latest_charge"] or "")
        if charge is None or charge["status"] != "pending":
            charge = self._charge(account, pi, pm, "pending")
        charge.update(
            status="succeeded",
            paid=True,
            captured=True,
            amount_captured=pi["amount"],
            outcome={
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
        )
        pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None, next_action=None)
        self.emit(account, "charge.succeeded", charge, ctx)
        self.emit(account, "payment_intent.succeeded", pi, ctx)
        behaviour = account.behaviour.get(pm["id"])
        if isinstance(behaviour, TestCard) and behaviour.dispute:
            self._dispute(account, charge, "fraudulent", "needs_response", ctx)

    def _decline(
        self,
        account: Account,
        pi: dict[str, Any],
        pm: dict[str, Any],
        code: str,
        decline_code: str,
        message: str,
        *,
        ctx: Context | None,
        with_charge: bool = True,
    ) -> None:
        error: dict[str, Any] = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "message": message,
            "payment_method": copy.deepcopy(pm),
        }
        if with_charge:
            charge = self._charge(account, pi, pm, "failed")
            charge.update(
                failure_code=code,
                failure_message=message,
                outcome={
                    "network_status": "declined_by_network",
                    "reason": decline_code,
                    "risk_level": "normal",
                    "seller_message": "The bank did not return any further details with this decline.",
                    "type": "issuer_declined",
                },
            )
            error["charge"] = charge["id"]
            self.emit(account, "charge.failed", charge, ctx)
        pi.update(status="requires_payment_method", last_payment_error=copy.deepcopy(error), next_action=None)
        self.emit(account, "payment_intent.payment_failed", pi, ctx)
        raise StripeError(402, {**error, "payment_intent": copy.deepcopy(pi)})

    def _dispute(
        self, account: Account, charge: dict[str, Any], reason: str, status: str, ctx: Context | None
    ) -> dict[str, Any]:
        dispute = self._store(
            account,
            {
                "id": new_id("dp"),
                "object": "dispute",
                "amount": charge["amount"] - charge["amount_refunded"],
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "payment_method_details": {"type": charge["payment_method_details"]["type"]},
                "reason": reason,
                "status": status,
            },
        )
        charge["disputed"] = True
        self.emit(account, "charge.dispute.created", dispute, ctx)
        if status == "lost":
            self.emit(account, "charge.dispute.closed", dispute, ctx)
        return dispute

    def retrieve_charge(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        return account.get(path["id"], "charge", "charge")

    # -- refunds --

    def create_refund(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        if params.get("charge"):
            charge = account.get(params["charge"], "charge", "charge", "charge")
        elif params.get("payment_intent"):
            pi = account.get(params["payment_intent"], "payment_intent", "payment_intent", "payment_intent")
            if not pi["latest_charge"]:
                raise invalid_request(
                    f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                    param="payment_intent",
                    saved=True,
                )
            charge = account.objects[pi["latest_charge"]]
        else:
            raise invalid_request(
                "One of the following params should be provided for this request: payment_intent or charge."
            )
        if charge["status"] != "succeeded":
            raise invalid_request(
                f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                code="charge_not_refundable",
                saved=True,
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid_request(
                f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded", saved=True
            )
        amount = _int(params, "amount")
        amount = remaining if amount is None else amount
        if amount <= 0:
            raise invalid_request("Invalid positive integer", param="amount", code="parameter_invalid_integer")
        if amount > remaining:
            raise invalid_request(
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount on charge "
                f"({_money(remaining, charge['currency'])})",
                param="amount",
                code="amount_too_large",
                saved=True,
            )
        refund = self._store(
            account,
            {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "metadata": dict(params.get("metadata") or {}),
                "payment_intent": charge["payment_intent"],
                "reason": params.get("reason") or None,
                "status": "succeeded",
            },
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.emit(account, "refund.created", refund, ctx)
        self.emit(account, "charge.refunded", charge, ctx)
        return refund

    def retrieve_refund(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        return account.get(path["id"], "refund", "refund")

    # -- checkout (setup mode) --

    def create_checkout_session(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        mode = params.get("mode")
        if mode != "setup":
            raise invalid_request(
                "This fake implements Checkout Sessions in mode=setup only.",
                param="mode",
                code="parameter_invalid_empty",
            )
        if not params.get("success_url"):
            raise invalid_request("Missing required param: success_url.", param="success_url", code="parameter_missing")
        customer = None
        if params.get("customer"):
            customer = account.get(params["customer"], "customer", "customer", "customer")
        session_id = new_id("cs_test", 58)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "cancel_url": params.get("cancel_url") or None,
            "created": int(time.time()),
            "currency": params.get("currency") or None,
            "customer": customer["id"] if customer else None,
            "expires_at": int(time.time()) + 86_400,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "mode": "setup",
            "payment_method_types": _list(params.get("payment_method_types")) or ["card"],
            "setup_intent": None,
            "status": "open",
            "success_url": params["success_url"],
            "url": f"{self.base_url}/checkout/{session_id}",
        }
        return self._store(account, session)

    def retrieve_checkout_session(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        return account.get(path["id"], "checkout.session", "checkout.session")

    def retrieve_setup_intent(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        return account.get(path["id"], "setup_intent", "setup_intent")

    def complete_checkout(self, session_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """What the customer does on the hosted page: save `payment_method` (a test id)."""
        account = self.owner(session_id)
        session = account.get(session_id, "checkout.session", "checkout.session")
        if session["status"] != "open":
            raise web.HTTPConflict(text=f"the session is {session['status']}")
        if payment_method not in TEST_CARDS and payment_method not in TEST_BANK_ACCOUNTS:
            raise web.HTTPBadRequest(text=f"{payment_method} is not a test payment method id")
        pm = self._from_test_id(account, payment_method)
        if pm["type"] not in session["payment_method_types"]:
            raise web.HTTPBadRequest(text=f"the session does not take {pm['type']}")
        if session["customer"]:
            self._attach(account, pm, account.objects[session["customer"]], None)
        setup_intent = self._store(
            account,
            {
                "id": new_id("seti"),
                "object": "setup_intent",
                "created": int(time.time()),
                "customer": session["customer"],
                "livemode": False,
                "metadata": {},
                "payment_method": pm["id"],
                "payment_method_types": session["payment_method_types"],
                "status": "succeeded",
                "usage": "off_session",
            },
        )
        session.update(status="complete", setup_intent=setup_intent["id"])
        self.emit(account, "setup_intent.succeeded", setup_intent, None)
        self.emit(account, "checkout.session.completed", session, None)
        return session

    # -- webhook endpoints and events --

    def create_webhook_endpoint(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        if not params.get("url"):
            raise invalid_request("Missing required param: url.", param="url", code="parameter_missing")
        events = _list(params.get("enabled_events"))
        if not events:
            raise invalid_request(
                "Missing required param: enabled_events.", param="enabled_events", code="parameter_missing"
            )
        endpoint = {
            "id": new_id("we"),
            "object": "webhook_endpoint",
            "api_version": params.get("api_version") or None,
            "created": int(time.time()),
            "enabled_events": events,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "secret": "whsec_" + new_id("x", 32)[2:],
            "status": "enabled",
            "url": params["url"],
        }
        account.endpoints[endpoint["id"]] = endpoint
        return endpoint

    def list_webhook_endpoints(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        return _listing(
            [{k: v for k, v in e.items() if k != "secret"} for e in account.endpoints.values()], "/v1/webhook_endpoints"
        )

    def delete_webhook_endpoint(
        self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context
    ) -> Any:
        if account.endpoints.pop(path["id"], None) is None:
            raise missing("webhook_endpoint", path["id"])
        return {"id": path["id"], "object": "webhook_endpoint", "deleted": True}

    def list_events(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        kind = params.get("type")
        items = [e for e in reversed(account.events) if not kind or e["type"] == kind]
        return _listing(items[: _int(params, "limit") or 100], "/v1/events")

    def retrieve_event(self, account: Account, params: dict[str, Any], path: dict[str, str], ctx: Context) -> Any:
        for event in account.events:
            if event["id"] == path["id"]:
                return event
        raise missing("event", path["id"])

    # -- what the customer, the bank and the tests do --

    def settle(
        self, payment_intent_id: str, outcome: str | None = None, failure_code: str | None = None
    ) -> dict[str, Any]:
        """The bank's answer to an ACH debit: as the test account says, or `outcome` (succeed / fail)."""
        account = self.owner(payment_intent_id)
        pi = account.get(payment_intent_id, "payment_intent", "payment_intent")
        if pi["status"] != "processing":
            raise web.HTTPConflict(text=f"the PaymentIntent is {pi['status']}, not processing")
        pm = account.objects[pi["payment_method"]]
        bank = account.behaviour.get(pm["id"])
        assert isinstance(bank, TestBankAccount)
        outcome = outcome or {"fail": "fail", "processing": "processing"}.get(bank.outcome, "succeed")
        if outcome == "processing":
            return pi
        charge = account.objects[pi["latest_charge"]]
        if outcome == "succeed":
            self._succeed(account, pi, pm, None)
            if bank.outcome == "dispute":
                self._dispute(account, charge, "debit_not_authorized", "lost", None)
            return pi
        code = failure_code or bank.failure_code or "insufficient_funds"
        message = bank.failure_message if bank.failure_code == code else f"The payment failed ({code})."
        charge.update(status="failed", failure_code=code, failure_message=message)
        pi.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "invalid_request_error",
                "code": code,
                "decline_code": None,
                "message": message,
                "payment_method": copy.deepcopy(pm),
            },
        )
        self.emit(account, "charge.failed", charge, None)
        self.emit(account, "payment_intent.payment_failed", pi, None)
        return pi

    def return_payment(self, payment_intent_id: str, code: str = "R01") -> dict[str, Any]:
        """The customer's bank sends a settled ACH debit back days later: Stripe opens a dispute (final, lost)."""
        account = self.owner(payment_intent_id)
        pi = account.get(payment_intent_id, "payment_intent", "payment_intent")
        charge = account.objects.get(pi["latest_charge"] or "")
        if pi["status"] != "succeeded" or charge is None:
            raise web.HTTPConflict(text="only a succeeded payment can be returned")
        reason = ACH_RETURN_REASONS.get(code.upper(), "general")
        status = "lost" if charge["payment_method_details"]["type"] == "us_bank_account" else "needs_response"
        return self._dispute(account, charge, reason, status, None)

    def close_dispute(self, payment_intent_id: str, status: str) -> dict[str, Any]:
        """The card network decides the open dispute of a payment: `won` (the funds come back) or `lost`."""
        if status not in ("won", "lost"):
            raise web.HTTPBadRequest(text="a dispute closes as won or lost")
        account = self.owner(payment_intent_id)
        open_ = [o for o in account.objects.values() if o.get("object") == "dispute"
                 and o.get("payment_intent") == payment_intent_id and o.get("status") not in ("won", "lost")]
        if not open_:
            raise web.HTTPConflict(text="the payment has no open dispute")
        dispute = open_[-1]
        dispute["status"] = status
        self.emit(account, "charge.dispute.closed", dispute, None)
        return dispute

    def authenticate(self, payment_intent_id: str, outcome: str = "succeed") -> dict[str, Any]:
        """The customer completes (or fails) 3-D Secure on the page of `next_action`."""
        account = self.owner(payment_intent_id)
        pi = account.get(payment_intent_id, "payment_intent", "payment_intent")
        if pi["status"] != "requires_action":
            raise web.HTTPConflict(text=f"the PaymentIntent is {pi['status']}, not requires_action")
        pm = account.objects[pi["payment_method"]]
        if outcome == "succeed":
            self._succeed(account, pi, pm, None)
        else:
            pi.update(
                status="requires_payment_method",
                next_action=None,
                last_payment_error={
                    "type": "invalid_request_error",
                    "code": "payment_intent_authentication_failure",
                    "message": "The provided PaymentMethod has failed authentication. You can provide "
                    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
                    "payment_method": copy.deepcopy(pm),
                },
            )
            self.emit(account, "payment_intent.payment_failed", pi, None)
        return pi

    def resend(self, event_id: str, *, timestamp_offset: int = 0, secret: str | None = None) -> None:
        """Deliver an event again (a replay), signed `timestamp_offset` seconds off, or with another secret."""
        account = self.owner(event_id)
        event = next(e for e in account.events if e["id"] == event_id)
        for endpoint in self._endpoints_for(account, event["type"]):
            target = {**endpoint, "secret": secret or endpoint["secret"]}
            self._send(event, target, timestamp=int(time.time()) + timestamp_offset)

    def charges_of(self, account_key: str) -> list[dict[str, Any]]:
        """Every charge of an account, to check that nothing was charged twice."""
        return [o for o in self.account(account_key).objects.values() if o["object"] == "charge"]

    # -- control routes and hosted pages --

    async def control_settle(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(self.settle(request.match_info["id"], data.get("outcome"), data.get("failure_code")))

    async def control_authenticate(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(self.authenticate(request.match_info["id"], data.get("outcome", "succeed")))

    async def control_return(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(self.return_payment(request.match_info["id"], data.get("code", "R01")))

    async def control_close_dispute(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(self.close_dispute(request.match_info["id"], str(data.get("status", "won"))))

    async def control_complete_checkout(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        return json_response(
            self.complete_checkout(request.match_info["id"], data.get("payment_method", "pm_card_visa"))
        )

    async def control_resend(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        self.resend(
            request.match_info["id"], timestamp_offset=int(data.get("timestamp_offset", 0)), secret=data.get("secret")
        )
        return json_response({"resent": request.match_info["id"]})

    async def control_deliveries(self, request: web.Request) -> web.Response:
        return json_response([d.__dict__ for d in self.deliverer.deliveries])

    async def control_drain(self, request: web.Request) -> web.Response:
        await self.drain()
        return json_response({"drained": True})

    async def checkout_page(self, request: web.Request) -> web.Response:
        session_id = request.match_info["id"]
        session = self.owner(session_id).get(session_id, "checkout.session", "checkout.session")
        options = "".join(
            f'<option value="{html.escape(pm)}">{html.escape(pm)}</option>'
            for pm in [*TEST_CARDS, *TEST_BANK_ACCOUNTS]
            if ("card" if pm in TEST_CARDS else "us_bank_account") in session["payment_method_types"]
        )
        page = (
            "<!doctype html><title>Fake Stripe Checkout</title><h1>Save a payment method</h1>"
            f"<p>Session {html.escape(session_id)} ({html.escape(session['status'])})</p>"
            f'<form method="post"><select name="payment_method">{options}</select> '
            '<button type="submit">Save</button></form>'
        )
        return web.Response(text=page, content_type="text/html")

    async def checkout_page_submit(self, request: web.Request) -> web.Response:
        form = await request.post()
        session = self.complete_checkout(request.match_info["id"], str(form.get("payment_method", "pm_card_visa")))
        raise web.HTTPSeeOther(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]))

    async def authentication_page(self, request: web.Request) -> web.Response:
        pi_id = html.escape(request.match_info["id"])
        page = (
            "<!doctype html><title>Fake 3-D Secure</title><h1>Authenticate this payment</h1>"
            f'<form method="post"><input type="hidden" name="outcome" value="succeed"><button>Complete</button></form>'
            f'<form method="post"><input type="hidden" name="outcome" value="fail"><button>Fail</button></form>'
            f"<p>{pi_id}</p>"
        )
        return web.Response(text=page, content_type="text/html")

    async def authentication_page_submit(self, request: web.Request) -> web.Response:
        form = await request.post()
        pi_id = request.match_info["id"]
        return_url = self._return_urls.get(pi_id)
        pi = self.authenticate(pi_id, str(form.get("outcome", "succeed")))
        if not return_url:
            return json_response(pi)
        query = urlencode(
            {
                "payment_intent": pi["id"],
                "payment_intent_client_secret": pi["client_secret"],
                "redirect_status": "succeeded" if pi["status"] == "succeeded" else "failed",
            }
        )
        raise web.HTTPSeeOther(f"{return_url}{'&' if '?' in return_url else '?'}{query}")


def _money(amount: int, currency: str) -> str:
    return f"{amount // 100}.{amount % 100:02d} {currency.upper()}"


def sign_payload(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature` as Stripe computes it: t=<unix time>,v1=hex(HMAC-SHA256(secret, "<t>." + body))."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhook-url", help="deliver every event of every account here")
    parser.add_argument("--webhook-secret", default="whsec_fake_default", help="signing secret for --webhook-url")
    run_cli(
        "fake Stripe",
        lambda args: FakeStripe(webhook_url=args.webhook_url, webhook_secret=args.webhook_secret),
        parser,
    )


if __name__ == "__main__":
    main()
