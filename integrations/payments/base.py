"""One interface for every payment provider: customers, payment methods, setup, charges, refunds, webhooks.

Amounts cross this interface as integers in the currency's minor units, currencies as
upper-case ISO 4217 codes. A decline or an unreachable provider is an answer of `charge`
and `refund`, not an exception: collection records it as an attempt either way. Other
calls raise `ProviderError` (`retryable` tells an outage from a refusal).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from domain.payments import PaymentProvider


class ProviderError(Exception):
    """A provider call that did not do what was asked; `code` is stable, `message` readable."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, retryable={self.retryable}, message={self.message!r})"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side: the same call may be retried."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__("PROVIDER_UNAVAILABLE", message, retryable=True, status=status)


class ProviderConfigurationError(ProviderError):
    """The credentials or settings cannot work (a live key where test mode was asked, a bad key)."""

    def __init__(self, message: str, *, code: str = "PROVIDER_CONFIGURATION") -> None:
        super().__init__(code, message)


class WebhookRejected(ProviderError):
    """A provider webhook that is not proven to come from the provider (forged, stale, malformed)."""

    def __init__(self, message: str, *, code: str = "WEBHOOK_REJECTED") -> None:
        super().__init__(code, message)


class ChargeStatus(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PROCESSING = "PROCESSING"  # accepted; the outcome arrives later by webhook (ACH debit)
    REQUIRES_ACTION = "REQUIRES_ACTION"  # the customer must authenticate (3-D Secure) at `action_url`
    FAILED = "FAILED"


@dataclass(frozen=True)
class ProviderCustomer:
    id: str


@dataclass(frozen=True)
class PaymentMethodDetails:
    """A saved payment method as the provider describes it (never card data beyond brand and last 4)."""

    id: str
    kind: str  # "card", "us_bank_account", "paypal"
    brand: str | None = None  # "visa", "mastercard", bank name for bank accounts
    last4: str | None = None
    expires_at: str | None = None  # "YYYY-MM" for cards
    customer_id: str | None = None
    email: str | None = None  # PayPal wallets


@dataclass(frozen=True)
class SetupSession:
    """A provider-hosted page where the customer saves a payment method (no card field is ours)."""

    id: str
    url: str


@dataclass(frozen=True)
class ChargeRequest:
    customer_id: str
    payment_method_id: str
    amount: int  # minor units
    currency: str
    idempotency_key: str  # one per invoice attempt: a retried job sends the same key
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    return_url: str | None = None  # where the customer comes back after authenticating


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    amount: int
    currency: str
    payment_id: str | None = None  # PaymentIntent id (Stripe), order id (PayPal)
    charge_id: str | None = None  # what refunds refer to: charge id (Stripe), capture id (PayPal)
    decline_code: str | None = None
    hard_decline: bool = False
    message: str | None = None
    action_url: str | None = None  # REQUIRES_ACTION: where the customer authenticates
    retryable: bool = False  # FAILED because the provider was unreachable (not a decline)
    error_code: str | None = None  # FAILED without a decline: PROVIDER_UNAVAILABLE, IDEMPOTENCY_CONFLICT, …

    @property
    def declined(self) -> bool:
        return self.status is ChargeStatus.FAILED and self.decline_code is not None


class RefundStatus(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PENDING = "PENDING"
    FAILED = "FAILED"


@dataclass(frozen=True)
class RefundRequest:
    charge_id: str  # ChargeResult.charge_id
    amount: int  # minor units, at most what is left to refund
    currency: str
    idempotency_key: str
    reason: str | None = None
    payment_id: str | None = None  # ChargeResult.payment_id, where the provider wants it


@dataclass(frozen=True)
class RefundResult:
    status: RefundStatus
    amount: int
    refund_id: str | None = None
    message: str | None = None
    code: str | None = None
    retryable: bool = False


class ProviderEventType(enum.StrEnum):
    PAYMENT_SUCCEEDED = "PAYMENT_SUCCEEDED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_PROCESSING = "PAYMENT_PROCESSING"
    PAYMENT_ACTION_REQUIRED = "PAYMENT_ACTION_REQUIRED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    PAYMENT_RETURNED = "PAYMENT_RETURNED"  # settled, then taken back (ACH return, dispute, reversal)
    PAYMENT_REINSTATED = "PAYMENT_REINSTATED"  # taken back, then given back (a dispute won)
    SETUP_COMPLETED = "SETUP_COMPLETED"  # a setup session ended with a saved payment method
    OTHER = "OTHER"  # verified, but nothing collection acts on


@dataclass(frozen=True)
class ProviderEvent:
    """A verified provider webhook in the provider's neutral terms."""

    id: str  # the provider's event id: handle each once
    type: ProviderEventType
    provider_type: str  # the provider's own event name, e.g. "payment_intent.succeeded"
    created_at: datetime
    payment_id: str | None = None
    charge_id: str | None = None
    amount: int | None = None  # minor units: the payment, the refunded total, or the returned amount
    currency: str | None = None
    decline_code: str | None = None
    hard_decline: bool = False
    message: str | None = None
    customer_id: str | None = None
    payment_method_id: str | None = None
    setup_reference: str | None = None  # SETUP_COMPLETED: what `finish_setup` takes
    metadata: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class PaymentGateway(Protocol):
    """What collection needs of a payment provider, for one organization's credentials."""

    provider: PaymentProvider

    async def create_customer(
        self, *, email: str | None, name: str | None, idempotency_key: str, metadata: Mapping[str, str] = ...
    ) -> ProviderCustomer: ...

    async def attach_payment_method(
        self, *, customer_id: str, payment_method_id: str, make_default: bool = True
    ) -> PaymentMethodDetails: ...

    async def set_default_payment_method(self, *, customer_id: str, payment_method_id: str) -> None: ...

    async def get_payment_method(self, payment_method_id: str) -> PaymentMethodDetails: ...

    async def create_setup_session(
        self, *, customer_id: str, return_url: str, cancel_url: str | None, idempotency_key: str
    ) -> SetupSession: ...

    async def finish_setup(self, *, customer_id: str, setup_reference: str) -> PaymentMethodDetails: ...

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """The verified event, or WebhookRejected: nothing may act on a webhook before this."""
        ...

    async def aclose(self) -> None: ...
