"""PayPal REST over httpx: OAuth client credentials (token cached until it expires), Vault v3, Orders v2, refunds.

A customer saves PayPal on PayPal's page: a setup token with a `return_url`, approved by
the payer, then turned into a payment token (`finish_setup`, with the setup token id that
PayPal puts in the return URL as `approval_token_id`). A charge is an order with the
vaulted token as `payment_source` and the caller's idempotency key as `PayPal-Request-Id`
(PayPal answers a repeated id with the first answer); PayPal may capture it in the same
call or leave it APPROVED, then it is captured under a derived request id. Webhooks are
believed only after PayPal's `verify-webhook-signature` says SUCCESS.

PayPal has no customer object of its own to create: `create_customer` gives a merchant
customer id that travels as `merchant_customer_id`; PayPal's vault customer id comes back
with the payment token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from domain.dunning import DeclineKind, classify_decline
from domain.errors import DomainError
from domain.money import currency_exponent, from_minor_units
from domain.payments import PaymentProvider
from integrations.clock import SYSTEM_CLOCK, Clock
from integrations.payments.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    PaymentMethodDetails,
    ProviderConfigurationError,
    ProviderCustomer,
    ProviderError,
    ProviderEvent,
    ProviderEventType,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    RefundStatus,
    SetupSession,
    WebhookRejected,
)

SANDBOX_API_BASE = "https://api-m.sandbox.paypal.com"
LIVE_API_BASE = "https://api-m.paypal.com"
WEBHOOK_TOLERANCE_SECONDS = 300
_TOKEN_MARGIN_SECONDS = 60
_TRANSMISSION_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


# The currencies PayPal takes payments in (developer.paypal.com/api/rest/reference/currency-codes/).
CURRENCIES = frozenset(
    "AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP SGD SEK CHF THB USD".split()
)


def is_sandbox(api_base: str) -> bool:
    """Whether an API base is PayPal's sandbox (or anything that is not PayPal's live API)."""
    return api_base.rstrip("/") != LIVE_API_BASE


class PayPalGateway:
    """The payment interface for one PayPal REST app (an organization's client id and secret)."""

    provider = PaymentProvider.PAYPAL

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        webhook_id: str | None,
        *,
        api_base: str = SANDBOX_API_BASE,
        test_mode: bool | None = None,
        timeout: float = 30.0,
        webhook_tolerance: float | None = WEBHOOK_TOLERANCE_SECONDS,
        http: httpx.AsyncClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock  # what a webhook's transmission time is compared with
        if not client_id or not client_secret:
            raise ProviderConfigurationError("PayPal needs a client id and a client secret", code="INVALID_KEY")
        if test_mode is True and not is_sandbox(api_base):
            raise ProviderConfigurationError("test mode takes PayPal's sandbox", code="LIVE_KEY_IN_TEST_MODE")
        self.test_mode = is_sandbox(api_base)
        self.webhook_id = webhook_id
        self.webhook_tolerance = webhook_tolerance
        self._credentials = (client_id, client_secret)
        self._base = api_base.rstrip("/")
        # One HTTP client can serve every organization's gateway (one pool, one TLS context).
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- OAuth --

    async def _access_token(self, *, renew: bool = False) -> str:
        async with self._token_lock:
            if not renew and self._token and time.monotonic() < self._token_expires:
                return self._token
            try:
                answer = await self._http.post(
                    f"{self._base}/v1/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=self._credentials,
                    timeout=self._timeout,
                )
            except httpx.HTTPError as error:
                raise ProviderUnavailable(f"PayPal could not be reached: {error!r}") from None
            if answer.status_code in (400, 401, 403):
                raise ProviderConfigurationError(
                    f"PayPal refused the client credentials ({_oauth_error(answer)})", code="PROVIDER_AUTHENTICATION"
                )
            if answer.status_code >= 300:
                raise ProviderUnavailable(
                    f"PayPal answered {answer.status_code} to the token request", status=answer.status_code
                )
            data = answer.json()
            self._token = str(data["access_token"])
            self._token_expires = time.monotonic() + max(int(data.get("expires_in", 0)) - _TOKEN_MARGIN_SECONDS, 0)
            return self._token

    async def _request(
        self, method: str, path: str, *, json_body: Any = None, request_id: str | None = None, params: Any = None
    ) -> httpx.Response:
        """A call with a valid bearer token (renewed once if PayPal says it expired); network failures raise."""
        for attempt in (0, 1):
            token = await self._access_token(renew=attempt == 1)
            headers = {"Authorization": f"Bearer {token}", "Prefer": "return=representation"}
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            try:
                answer = await self._http.request(
                    method, f"{self._base}{path}", json=json_body, headers=headers, params=params, timeout=self._timeout
                )
            except httpx.HTTPError as error:
                raise ProviderUnavailable(f"PayPal could not be reached: {error!r}") from None
            if answer.status_code != 401 or attempt == 1:
                return answer
        raise AssertionError("unreachable")

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = await self._request(method, path, **kwargs)
        if answer.status_code >= 300:
            raise _error_of(answer)
        return answer.json() if answer.content else {}

    async def check_credentials(self) -> None:
        """A fresh OAuth token with these credentials at this API base: ProviderConfigurationError if refused."""
        await self._access_token(renew=True)

    # -- customers and payment methods --

    async def create_customer(
        self,
        *,
        email: str | None,
        name: str | None,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ProviderCustomer:
        return ProviderCustomer("vv_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20])

    async def attach_payment_method(
        self, *, customer_id: str, payment_method_id: str, make_default: bool = True
    ) -> PaymentMethodDetails:
        """A payment token is bound to its payer when vaulted: attaching reads it and checks it exists."""
        return await self.get_payment_method(payment_method_id)

    async def set_default_payment_method(self, *, customer_id: str, payment_method_id: str) -> None:
        await self.get_payment_method(payment_method_id)  # PayPal keeps no default; the project does

    async def get_payment_method(self, payment_method_id: str) -> PaymentMethodDetails:
        return _payment_token(await self._json("GET", f"/v3/vault/payment-tokens/{payment_method_id}"))

    async def create_setup_session(
        self, *, customer_id: str, return_url: str, cancel_url: str | None, idempotency_key: str
    ) -> SetupSession:
        body = {
            "customer": {"merchant_customer_id": customer_id},
            "payment_source": {
                "paypal": {
                    "usage_type": "MERCHANT",
                    "customer_type": "CONSUMER",
                    "permit_multiple_payment_tokens": True,
                    "experience_context": {
                        "return_url": return_url,
                        "cancel_url": cancel_url or return_url,
                        "shipping_preference": "NO_SHIPPING",
                        "vault_instruction": "ON_CREATE_PAYMENT_TOKENS",
                    },
                }
            },
        }
        token = await self._json("POST", "/v3/vault/setup-tokens", json_body=body, request_id=idempotency_key)
        approve = next((link["href"] for link in token.get("links", []) if link.get("rel") == "approve"), None)
        if not approve:
            raise ProviderError("SETUP_WITHOUT_APPROVAL_LINK", "PayPal gave no page for the payer to approve")
        return SetupSession(str(token["id"]), approve)

    async def setup_token_customer(self, setup_token_id: str) -> str | None:
        """The `merchant_customer_id` a setup token was made for (None if PayPal does not say)."""
        token = await self._json("GET", f"/v3/vault/setup-tokens/{setup_token_id}")
        found = (token.get("customer") or {}).get("merchant_customer_id")
        return str(found) if found else None

    async def finish_setup(self, *, customer_id: str, setup_reference: str) -> PaymentMethodDetails:
        """The payment token of an approved setup token (`setup_reference`: PayPal's `approval_token_id`)."""
        body = {"payment_source": {"token": {"id": setup_reference, "type": "SETUP_TOKEN"}}}
        token = await self._json(
            "POST", "/v3/vault/payment-tokens", json_body=body, request_id=f"payment-token:{setup_reference}"
        )
        return _payment_token(token)

    # -- charges and refunds --

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        currency = request.currency.upper()
        if currency not in CURRENCIES:  # PayPal would answer 422 CURRENCY_NOT_SUPPORTED: nothing is sent
            return ChargeResult(
                ChargeStatus.FAILED,
                request.amount,
                currency,
                message=f"PayPal does not take payments in {currency}",
                error_code="CURRENCY_NOT_SUPPORTED",
            )
        unit: dict[str, Any] = {
            "reference_id": "default",
            "amount": {"currency_code": currency, "value": _value(request.amount, currency)},
        }
        custom = json.dumps(dict(request.metadata), separators=(",", ":"))
        if request.metadata and len(custom) <= 127:
            unit["custom_id"] = custom
        if request.description:
            unit["description"] = request.description[:127]
        body = {
            "intent": "CAPTURE",
            "purchase_units": [unit],
            "payment_source": {"paypal": {"vault_id": request.payment_method_id}},
        }
        try:
            answer = await self._request(
                "POST", "/v2/checkout/orders", json_body=body, request_id=request.idempotency_key
            )
            if answer.status_code < 300 and answer.json().get("status") == "APPROVED":
                order_id = answer.json()["id"]
                answer = await self._request(
                    "POST", f"/v2/checkout/orders/{order_id}/capture", request_id=f"{request.idempotency_key}:capture"
                )
        except ProviderError as error:
            return _not_charged(error, request)
        if answer.status_code >= 300:
            return _not_charged(_error_of(answer), request)
        return _from_order(answer.json(), request)

    async def refund(self, request: RefundRequest) -> RefundResult:
        currency = request.currency.upper()
        body: dict[str, Any] = {"amount": {"currency_code": currency, "value": _value(request.amount, currency)}}
        if request.reason:
            body["note_to_payer"] = request.reason[:255]
        try:
            refund = await self._json(
                "POST",
                f"/v2/payments/captures/{request.charge_id}/refund",
                json_body=body,
                request_id=request.idempotency_key,
            )
        except ProviderError as error:
            return RefundResult(
                RefundStatus.FAILED, request.amount, message=error.message, code=error.code, retryable=error.retryable
            )
        status = {"COMPLETED": RefundStatus.SUCCEEDED, "PENDING": RefundStatus.PENDING}.get(
            str(refund.get("status")), RefundStatus.FAILED
        )
        return RefundResult(status, request.amount, refund_id=refund.get("id"))

    # -- webhooks --

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        if not self.webhook_id:
            raise WebhookRejected("no PayPal webhook id is configured", code="WEBHOOK_SECRET_MISSING")
        lower = {k.lower(): v for k, v in headers.items()}
        fields = {name: lower.get(header) for name, header in _TRANSMISSION_HEADERS.items()}
        if not all(fields.values()):
            raise WebhookRejected("the PayPal transmission headers are missing")
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("the webhook body is not JSON", code="WEBHOOK_MALFORMED") from None
        if not isinstance(event, dict) or not event.get("id") or not event.get("event_type"):
            raise WebhookRejected("the webhook body is not a PayPal event", code="WEBHOOK_MALFORMED")
        if self.webhook_tolerance is not None:
            sent_at = _parse_time(str(fields["transmission_time"]))
            if sent_at is None or abs(self.clock.now().timestamp() - sent_at.timestamp()) > self.webhook_tolerance:
                raise WebhookRejected("the PayPal transmission time is too far from now", code="WEBHOOK_STALE")
        verification = await self._json(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            json_body={**fields, "webhook_id": self.webhook_id, "webhook_event": event},
        )
        if verification.get("verification_status") != "SUCCESS":
            raise WebhookRejected("PayPal did not verify the webhook signature")
        return event_from_paypal(event)


def event_from_paypal(event: Mapping[str, Any]) -> ProviderEvent:
    """A verified PayPal event in neutral terms."""
    kind = str(event.get("event_type", ""))
    resource: Mapping[str, Any] = event.get("resource") or {}
    created = _parse_time(str(event.get("create_time", ""))) or datetime.fromtimestamp(0, UTC)
    common: dict[str, Any] = {"id": str(event.get("id")), "provider_type": kind, "created_at": created}
    amount, currency = _minor(resource.get("amount"))
    if kind.startswith("PAYMENT.CAPTURE."):
        order_id = ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
        metadata = _metadata(resource.get("custom_id"))
        reason = (resource.get("status_details") or {}).get("reason")
        if kind in ("PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.PENDING"):
            neutral = (
                ProviderEventType.PAYMENT_SUCCEEDED
                if kind.endswith("COMPLETED")
                else ProviderEventType.PAYMENT_PROCESSING
            )
            return ProviderEvent(
                type=neutral,
                payment_id=order_id,
                charge_id=resource.get("id"),
                amount=amount,
                currency=currency,
                metadata=metadata,
                **common,
            )
        if kind in ("PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"):
            code = str(reason or "DECLINED")
            return ProviderEvent(
                type=ProviderEventType.PAYMENT_FAILED,
                payment_id=order_id,
                charge_id=resource.get("id"),
                amount=amount,
                currency=currency,
                decline_code=code,
                hard_decline=classify_decline(PaymentProvider.PAYPAL, code) is DeclineKind.HARD,
                message=str(event.get("summary") or "the capture was denied"),
                metadata=metadata,
                **common,
            )
        if kind in ("PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"):
            capture_id = next(
                (str(link["href"]).rsplit("/", 1)[-1] for link in resource.get("links", []) if link.get("rel") == "up"),
                None,
            )
            total, _ = _minor((resource.get("seller_payable_breakdown") or {}).get("total_refunded_amount"))
            return ProviderEvent(
                type=ProviderEventType.PAYMENT_REFUNDED
                if kind.endswith("REFUNDED")
                else ProviderEventType.PAYMENT_RETURNED,
                charge_id=capture_id,
                amount=total if total is not None else amount,
                currency=currency,
                message=str(event.get("summary") or ""),
                **common,
            )
    return ProviderEvent(type=ProviderEventType.OTHER, **common)


def _from_order(order: Mapping[str, Any], request: ChargeRequest) -> ChargeResult:
    base: dict[str, Any] = {
        "amount": request.amount,
        "currency": request.currency.upper(),
        "payment_id": order.get("id"),
    }
    status = order.get("status")
    if status == "PAYER_ACTION_REQUIRED":
        link = next((x["href"] for x in order.get("links", []) if x.get("rel") == "payer-action"), None)
        return ChargeResult(
            ChargeStatus.REQUIRES_ACTION, action_url=link, message="The payer must act on PayPal's page.", **base
        )
    captures = [c for unit in order.get("purchase_units", []) for c in (unit.get("payments") or {}).get("captures", [])]
    capture = captures[0] if captures else {}
    capture_status = capture.get("status")
    base["charge_id"] = capture.get("id")
    if capture_status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
        return ChargeResult(ChargeStatus.SUCCEEDED, **base)
    if capture_status == "PENDING":
        return ChargeResult(ChargeStatus.PROCESSING, **base)
    code = str((capture.get("status_details") or {}).get("reason") or capture_status or status or "DECLINED")
    return ChargeResult(
        ChargeStatus.FAILED,
        decline_code=code,
        hard_decline=classify_decline(PaymentProvider.PAYPAL, code) is DeclineKind.HARD,
        message=f"the capture is {capture_status or status}",
        **base,
    )


def _not_charged(error: ProviderError, request: ChargeRequest) -> ChargeResult:
    base: dict[str, Any] = {"amount": request.amount, "currency": request.currency.upper(), "message": error.message}
    if error.retryable:
        return ChargeResult(ChargeStatus.FAILED, retryable=True, error_code=error.code, **base)
    if error.status == 422:  # a business refusal: the payer's funding was declined
        hard = classify_decline(PaymentProvider.PAYPAL, error.code) is DeclineKind.HARD
        return ChargeResult(ChargeStatus.FAILED, decline_code=error.code, hard_decline=hard, **base)
    return ChargeResult(ChargeStatus.FAILED, error_code=error.code, **base)


def _error_of(answer: httpx.Response) -> ProviderError:
    status = answer.status_code
    try:
        body = answer.json()
    except ValueError:
        body = {}
    details = body.get("details") or [] if isinstance(body, dict) else []
    issue = details[0].get("issue") if details and isinstance(details[0], dict) else None
    description = details[0].get("description") if details and isinstance(details[0], dict) else None
    name = body.get("name") if isinstance(body, dict) else None
    message = description or (body.get("message") if isinstance(body, dict) else None) or f"PayPal answered {status}"
    if status >= 500 or status == 429:
        return ProviderUnavailable(message, status=status)
    if status in (401, 403):
        return ProviderConfigurationError(message, code="PROVIDER_AUTHENTICATION")
    return ProviderError(str(issue or name or "INVALID_REQUEST"), message, status=status)


def _oauth_error(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error_description") or answer.status_code)
    except ValueError:
        return str(answer.status_code)


def _payment_token(token: Mapping[str, Any]) -> PaymentMethodDetails:
    source = token.get("payment_source") or {}
    customer_id = (token.get("customer") or {}).get("id")
    if "card" in source:
        card = source["card"]
        return PaymentMethodDetails(
            id=str(token["id"]),
            kind="card",
            brand=str(card.get("brand", "")).lower() or None,
            last4=card.get("last_digits"),
            expires_at=card.get("expiry"),
            customer_id=customer_id,
        )
    wallet = source.get("paypal") or {}
    return PaymentMethodDetails(
        id=str(token["id"]), kind="paypal", brand="paypal", email=wallet.get("email_address"), customer_id=customer_id
    )


def _value(amount: int, currency: str) -> str:
    return str(from_minor_units(amount, currency))


def _minor(amount: Any) -> tuple[int | None, str | None]:
    if not isinstance(amount, Mapping) or amount.get("value") is None:
        return None, None
    currency = str(amount.get("currency_code", "")).upper() or None
    try:
        value = Decimal(str(amount["value"]))
        exponent = currency_exponent(currency) if currency else 2
    except (InvalidOperation, DomainError):
        return None, currency
    return int(value.scaleb(exponent)), currency


def _metadata(custom_id: Any) -> dict[str, str]:
    if not isinstance(custom_id, str):
        return {}
    try:
        found = json.loads(custom_id)
    except ValueError:
        return {"custom_id": custom_id}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {"custom_id": custom_id}


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
