"""Stripe through the official SDK: a `StripeClient` per organization's credentials, async calls over httpx.

Charges are off-session PaymentIntents confirmed at creation (`confirm=true`,
`off_session=true`) with the caller's idempotency key, so a retried job gets Stripe's saved
answer instead of a second charge. Cards settle at once; ACH Direct Debit
(`us_bank_account`) answers PROCESSING and settles by webhook. A card that needs 3-D Secure
is declined off-session with `authentication_required`; with a `return_url` the same
PaymentIntent is confirmed again on-session to get the page where the customer
authenticates (REQUIRES_ACTION + `action_url`). Webhooks are verified by the SDK
(`Stripe-Signature`, 300 s tolerance) before anything reads them.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import stripe

from domain.dunning import DeclineKind, classify_decline
from domain.payments import PaymentProvider
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

WEBHOOK_TOLERANCE_SECONDS = 300
DEFAULT_API_BASE = stripe.DEFAULT_API_BASE

# One HTTP client per event loop, shared by every organization's gateway in this process: a gateway is built
# per charge, and a client of its own cost each charge a new TLS context (the CA bundle read again) and a new
# connection. Kept per loop because an httpx pool belongs to the loop it was first used in.
_SHARED_HTTP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, stripe.HTTPXClient] = weakref.WeakKeyDictionary()


def shared_http_client(timeout: float) -> stripe.HTTPXClient:
    """This event loop's Stripe HTTP client (made on first use with `timeout`); gateways given it never close it."""
    loop = asyncio.get_running_loop()
    client = _SHARED_HTTP.get(loop)
    if client is None:
        client = _SHARED_HTTP[loop] = stripe.HTTPXClient(timeout=timeout)
    return client


def is_test_key(secret_key: str) -> bool:
    """Whether a Stripe secret (or restricted) key is a test-mode key."""
    return secret_key.startswith(("sk_test_", "rk_test_"))


def is_secret_key(secret_key: str) -> bool:
    return secret_key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_"))


class StripeGateway:
    """The payment interface for one Stripe account (an organization's secret key)."""

    provider = PaymentProvider.STRIPE

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str | None,
        *,
        api_base: str | None = None,
        test_mode: bool | None = None,
        timeout: float = 30.0,
        max_network_retries: int = 2,
        http_client: stripe.HTTPClient | None = None,
        setup_methods: tuple[str, ...] = ("card",),
    ) -> None:
        if not is_secret_key(secret_key):
            raise ProviderConfigurationError("a Stripe secret key starts with sk_test_ or sk_live_", code="INVALID_KEY")
        if test_mode is True and not is_test_key(secret_key):
            raise ProviderConfigurationError("test mode takes a test key (sk_test_…)", code="LIVE_KEY_IN_TEST_MODE")
        if test_mode is False and is_test_key(secret_key):
            raise ProviderConfigurationError("live mode takes a live key (sk_live_…)", code="TEST_KEY_IN_LIVE_MODE")
        self.test_mode = is_test_key(secret_key)
        self.webhook_secret = webhook_secret
        self.setup_methods = setup_methods  # what a setup session offers: "card", "us_bank_account"
        # One HTTP client can serve every organization's gateway (one pool, one TLS context).
        self._owns_http = http_client is None
        self._http = http_client or stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": (api_base or DEFAULT_API_BASE).rstrip("/")},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.close_async()

    # -- customers and payment methods --

    async def create_customer(
        self,
        *,
        email: str | None,
        name: str | None,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ProviderCustomer:
        params: dict[str, Any] = {"metadata": dict(metadata or {})}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = await self._call(
            self.client.v1.customers.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return ProviderCustomer(customer["id"])

    async def attach_payment_method(
        self, *, customer_id: str, payment_method_id: str, make_default: bool = True
    ) -> PaymentMethodDetails:
        method = await self._call(
            self.client.v1.payment_methods.attach_async(payment_method_id, {"customer": customer_id})
        )
        if make_default:
            await self.set_default_payment_method(customer_id=customer_id, payment_method_id=method["id"])
        return _payment_method(method)

    async def set_default_payment_method(self, *, customer_id: str, payment_method_id: str) -> None:
        await self._call(
            self.client.v1.customers.update_async(
                customer_id, {"invoice_settings": {"default_payment_method": payment_method_id}}
            )
        )

    async def get_payment_method(self, payment_method_id: str) -> PaymentMethodDetails:
        return _payment_method(await self._call(self.client.v1.payment_methods.retrieve_async(payment_method_id)))

    async def create_setup_session(
        self, *, customer_id: str, return_url: str, cancel_url: str | None, idempotency_key: str
    ) -> SetupSession:
        params: dict[str, Any] = {
            "mode": "setup",
            "customer": customer_id,
            "payment_method_types": list(self.setup_methods),
            "success_url": return_url,
            "cancel_url": cancel_url or return_url,
        }
        if "us_bank_account" in self.setup_methods:
            params["currency"] = "usd"  # ACH Direct Debit is in US dollars only
        session = await self._call(
            self.client.v1.checkout.sessions.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return SetupSession(session["id"], session.get("url") or "")

    async def finish_setup(self, *, customer_id: str, setup_reference: str) -> PaymentMethodDetails:
        """The payment method a completed setup session saved (`setup_reference` is the session id)."""
        session = await self._call(self.client.v1.checkout.sessions.retrieve_async(setup_reference))
        if _id(session.get("customer")) != customer_id:
            raise ProviderError("SETUP_OF_ANOTHER_CUSTOMER", "the setup session belongs to another customer")
        setup_intent_id = _id(session.get("setup_intent"))
        if session.get("status") != "complete" or not setup_intent_id:
            raise ProviderError("SETUP_NOT_COMPLETE", f"the setup session is {session.get('status')}")
        setup_intent = await self._call(self.client.v1.setup_intents.retrieve_async(setup_intent_id))
        method_id = _id(setup_intent.get("payment_method"))
        if not method_id:
            raise ProviderError("SETUP_NOT_COMPLETE", "the setup saved no payment method")
        return await self.get_payment_method(method_id)

    # -- charges and refunds --

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        currency = request.currency.upper()
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": currency.lower(),
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "confirm": True,
            "off_session": True,
            # Nobody is there to follow a redirect: only methods that need none (cards, ACH debit).
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": dict(request.metadata),
        }
        if request.description:
            params["description"] = request.description
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as error:
            return await self._declined(error, request)
        except stripe.StripeError as error:
            return _unreachable_or_refused(error, request)
        return await self._from_intent(intent.to_dict(), request)

    async def _from_intent(self, intent: dict[str, Any], request: ChargeRequest) -> ChargeResult:
        base = {"amount": request.amount, "currency": request.currency.upper(), "payment_id": intent["id"]}
        charge_id = _id(intent.get("latest_charge"))
        status = intent.get("status")
        if status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=charge_id, **base)
        if status == "processing":
            return ChargeResult(ChargeStatus.PROCESSING, charge_id=charge_id, **base)
        if status == "requires_action":
            return ChargeResult(
                ChargeStatus.REQUIRES_ACTION,
                charge_id=charge_id,
                decline_code="authentication_required",
                hard_decline=True,
                message="The customer must authenticate this payment.",
                action_url=_action_url(intent),
                **base,
            )
        error = intent.get("last_payment_error")
        code = _decline_code(error)
        return ChargeResult(
            ChargeStatus.FAILED,
            charge_id=charge_id,
            decline_code=code,
            hard_decline=classify_decline(PaymentProvider.STRIPE, code) is DeclineKind.HARD,
            message=(error or {}).get("message") or f"the payment is {status}",
            **base,
        )

    async def _declined(self, error: stripe.CardError, request: ChargeRequest) -> ChargeResult:
        body = (error.json_body or {}).get("error", {})
        intent = body.get("payment_intent") or {}
        code = body.get("decline_code") or error.code
        base = {
            "amount": request.amount,
            "currency": request.currency.upper(),
            "payment_id": intent.get("id"),
            "charge_id": body.get("charge"),
            "decline_code": code,
            "hard_decline": classify_decline(PaymentProvider.STRIPE, code) is DeclineKind.HARD,
            "message": body.get("message") or error.user_message,
        }
        if code == "authentication_required" and request.return_url and intent.get("id"):
            # Off-session the bank asked for 3-D Secure: confirm the same intent on-session to get
            # the page where the customer authenticates (Stripe keeps the answer under this key).
            try:
                confirmed = await self.client.v1.payment_intents.confirm_async(
                    intent["id"],
                    {"payment_method": request.payment_method_id, "return_url": request.return_url},
                    {"idempotency_key": f"{request.idempotency_key}:authenticate"},
                )
            except stripe.StripeError:
                confirmed = None
            if confirmed is not None and confirmed["status"] == "requires_action":
                return ChargeResult(ChargeStatus.REQUIRES_ACTION, action_url=_action_url(confirmed.to_dict()), **base)
        if code == "authentication_required":
            return ChargeResult(ChargeStatus.REQUIRES_ACTION, **base)
        return ChargeResult(ChargeStatus.FAILED, **base)

    async def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {"charge": request.charge_id, "amount": request.amount}
        if request.reason in ("duplicate", "fraudulent", "requested_by_customer"):
            params["reason"] = request.reason
        elif request.reason:
            params["metadata"] = {"reason": request.reason[:500]}
        try:
            refund = await self.client.v1.refunds.create_async(params, {"idempotency_key": request.idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as error:
            unavailable = _is_unavailable(error)
            return RefundResult(
                RefundStatus.FAILED,
                request.amount,
                message=error.user_message or str(error),
                code=error.code or ("PROVIDER_UNAVAILABLE" if unavailable else "REFUND_REFUSED"),
                retryable=unavailable,
            )
        status = {"succeeded": RefundStatus.SUCCEEDED, "pending": RefundStatus.PENDING}.get(
            refund["status"] or "", RefundStatus.FAILED
        )
        return RefundResult(status, refund["amount"], refund_id=refund["id"])

    # -- webhooks --

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        if not self.webhook_secret:
            raise WebhookRejected("no webhook secret is configured for Stripe", code="WEBHOOK_SECRET_MISSING")
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        try:
            self.client.construct_event(body, signature, self.webhook_secret, WEBHOOK_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"Stripe-Signature does not verify: {error.user_message or error}") from None
        except ValueError:
            raise WebhookRejected("the webhook body is not a Stripe event", code="WEBHOOK_MALFORMED") from None
        event = event_from_stripe(json.loads(body))
        if event.type in _ABOUT_A_PAYMENT and event.payment_id and "invoice_id" not in event.metadata:
            # A dispute or refund carries its own metadata, not the PaymentIntent's: read whose payment it is (it
            # may come before the charge's answer, when the payment is not recorded yet).
            intent = await self._call(self.client.v1.payment_intents.retrieve_async(event.payment_id))
            metadata = {str(k): str(v) for k, v in (intent.get("metadata") or {}).items()}
            event = replace(event, metadata={**metadata, **event.metadata})
        return event

    # -- helpers --

    async def _call(self, awaitable: Any) -> dict[str, Any]:
        """The SDK's answer as a plain dict, or its error as a ProviderError."""
        try:
            found = await awaitable
        except stripe.StripeError as error:
            raise _provider_error(error) from None
        return found.to_dict()


_ABOUT_A_PAYMENT = frozenset(
    {ProviderEventType.PAYMENT_RETURNED, ProviderEventType.PAYMENT_REINSTATED, ProviderEventType.PAYMENT_REFUNDED}
)


def event_from_stripe(event: Mapping[str, Any]) -> ProviderEvent:
    """A verified Stripe event in neutral terms."""
    kind = str(event.get("type", ""))
    obj: Mapping[str, Any] = (event.get("data") or {}).get("object") or {}
    created = datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC)
    common: dict[str, Any] = {"id": str(event.get("id")), "provider_type": kind, "created_at": created}
    currency = str(obj.get("currency") or "").upper() or None
    metadata = {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}
    if kind.startswith("payment_intent."):
        neutral = {
            "payment_intent.succeeded": ProviderEventType.PAYMENT_SUCCEEDED,
            "payment_intent.processing": ProviderEventType.PAYMENT_PROCESSING,
            "payment_intent.payment_failed": ProviderEventType.PAYMENT_FAILED,
            "payment_intent.requires_action": ProviderEventType.PAYMENT_ACTION_REQUIRED,
        }.get(kind, ProviderEventType.OTHER)
        error = obj.get("last_payment_error")
        code = _decline_code(error) if neutral is ProviderEventType.PAYMENT_FAILED else None
        return ProviderEvent(
            type=neutral,
            payment_id=obj.get("id"),
            charge_id=_id(obj.get("latest_charge")),
            amount=obj.get("amount_received") if neutral is ProviderEventType.PAYMENT_SUCCEEDED else obj.get("amount"),
            currency=currency,
            decline_code=code,
            hard_decline=code is not None and classify_decline(PaymentProvider.STRIPE, code) is DeclineKind.HARD,
            message=(error or {}).get("message") if code else None,
            customer_id=_id(obj.get("customer")),
            payment_method_id=_id(obj.get("payment_method")),
            metadata=metadata,
            **common,
        )
    if kind == "charge.refunded":
        return ProviderEvent(
            type=ProviderEventType.PAYMENT_REFUNDED,
            payment_id=_id(obj.get("payment_intent")),
            charge_id=obj.get("id"),
            amount=obj.get("amount_refunded"),
            currency=currency,
            customer_id=_id(obj.get("customer")),
            metadata=metadata,
            **common,
        )
    if kind == "charge.dispute.created":
        return ProviderEvent(
            type=ProviderEventType.PAYMENT_RETURNED,
            payment_id=_id(obj.get("payment_intent")),
            charge_id=_id(obj.get("charge")),
            amount=obj.get("amount"),
            currency=currency,
            decline_code=obj.get("reason"),
            message=f"dispute {obj.get('id')} ({obj.get('reason')}, {obj.get('status')})",
            metadata=metadata,
            **common,
        )
    if kind == "charge.dispute.closed" and obj.get("status") == "won":  # lost: the dispute's creation said so
        return ProviderEvent(
            type=ProviderEventType.PAYMENT_REINSTATED,
            payment_id=_id(obj.get("payment_intent")),
            charge_id=_id(obj.get("charge")),
            amount=obj.get("amount"),
            currency=currency,
            message=f"dispute {obj.get('id')} won",
            metadata=metadata,
            **common,
        )
    if kind == "checkout.session.completed" and obj.get("mode") == "setup":
        return ProviderEvent(
            type=ProviderEventType.SETUP_COMPLETED,
            customer_id=_id(obj.get("customer")),
            setup_reference=obj.get("id"),
            metadata=metadata,
            **common,
        )
    return ProviderEvent(type=ProviderEventType.OTHER, **common)


def _payment_method(method: Mapping[str, Any]) -> PaymentMethodDetails:
    kind = str(method.get("type"))
    customer_id = _id(method.get("customer"))
    if kind == "card":
        card = method.get("card") or {}
        expires = f"{int(card['exp_year']):04d}-{int(card['exp_month']):02d}" if card.get("exp_year") else None
        return PaymentMethodDetails(
            id=method["id"],
            kind=kind,
            brand=card.get("brand"),
            last4=card.get("last4"),
            expires_at=expires,
            customer_id=customer_id,
        )
    if kind == "us_bank_account":
        bank = method.get("us_bank_account") or {}
        return PaymentMethodDetails(
            id=method["id"], kind=kind, brand=bank.get("bank_name"), last4=bank.get("last4"), customer_id=customer_id
        )
    return PaymentMethodDetails(id=method["id"], kind=kind, customer_id=customer_id)


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return value.get("id")
    return getattr(value, "id", None)


def _decline_code(error: Any) -> str | None:
    if not error:
        return None
    return error.get("decline_code") or error.get("code")


def _action_url(intent: Any) -> str | None:
    action = intent.get("next_action") or {}
    if action.get("type") == "redirect_to_url":
        return (action.get("redirect_to_url") or {}).get("url")
    return None


def _is_unavailable(error: stripe.StripeError) -> bool:
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    return error.http_status is None or error.http_status >= 500 or error.http_status == 409


def _unreachable_or_refused(error: stripe.StripeError, request: ChargeRequest) -> ChargeResult:
    """A charge that got no decline: the provider was unreachable (retry) or refused the request."""
    unavailable = _is_unavailable(error)
    return ChargeResult(
        ChargeStatus.FAILED,
        request.amount,
        request.currency.upper(),
        message=error.user_message or str(error),
        retryable=unavailable,
        error_code=_provider_error(error).code,
    )


def _provider_error(error: stripe.StripeError) -> ProviderError:
    message = error.user_message or str(error)
    if _is_unavailable(error):
        return ProviderUnavailable(message, status=error.http_status)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderConfigurationError(message, code="PROVIDER_AUTHENTICATION")
    if isinstance(error, stripe.IdempotencyError):
        return ProviderError("IDEMPOTENCY_CONFLICT", message, status=error.http_status)
    return ProviderError((error.code or "invalid_request").upper(), message, status=error.http_status)
