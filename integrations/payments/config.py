"""What the payment gateways are built from: the secret box for stored credentials and the providers' API bases."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.secrets import SecretBox


@dataclass(frozen=True)
class PaymentConfig:
    box: SecretBox
    stripe_api_base: str | None = None  # STRIPE_API_BASE: tests point the SDK at a local fake
    public_url: str | None = None  # PUBLIC_URL: where customers come back after authenticating a payment
