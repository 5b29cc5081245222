"""What the payment gateways are built from: the secret box for stored credentials and the providers' API bases."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.secrets import SecretBox


@dataclass(frozen=True)
class PaymentConfig:
    box: SecretBox
    stripe_api_base: str | None = None  # STRIPE_API_BASE: tests point the SDK at a local fake
    # PAYPAL_API_BASE: every PayPal call goes here (tests: the fake PayPal); unset: PayPal's sandbox for a
    # TEST configuration, api-m.paypal.com for a LIVE one. Anything but the live base counts as a sandbox.
    paypal_api_base: str | None = None
    public_url: str | None = None  # PUBLIC_URL: where customers come back after authenticating a payment
