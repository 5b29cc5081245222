"""Configuration from the environment (documented in .env.example)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from integrations.payments.config import PaymentConfig
    from integrations.secrets import SecretBox
    from services.notifications import EmailConfig
    from services.webhooks import WebhookConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    session_ttl_seconds: int = Field(default=900, ge=1)
    # How long refreshSession keeps a staff session alive after its login; then the user signs in again.
    session_max_age_seconds: int = Field(default=43_200, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".valueverse")
    log_level: str = "INFO"
    log_format: str = "json"
    db_pool_size: int = 10
    frontend_dir: Path | None = None  # the frontend's static export; unset: frontend/out of this checkout
    # API processes of `serve`, sharing its port; unset: one per core this process may run on.
    web_concurrency: int | None = Field(default=None, ge=1, le=256)
    worker_cron: bool = True  # the worker's schedule (billing, drafts, thresholds, partitions); off: jobs only
    # Brakes (docs/api.md: "Rate limits", "Login protection"). A rate of 0 turns that limit off.
    rate_limit_per_second: int = 500  # per API key / per staff user
    rate_limit_burst: int = 1000
    rate_limit_ip_per_second: int = 1000
    rate_limit_ip_burst: int = 2000
    login_delay_after: int = 5  # failures of one email before logins slow down
    login_lock_after: int = 10
    login_ip_delay_after: int = 20  # failures from one IP address
    login_ip_lock_after: int = 50
    login_delay_seconds: float = 1.0  # the first delay; it doubles with each further failure
    login_lock_seconds: int = 900
    # How often a WebSocket's credentials are checked again (revocations also arrive at once over Redis).
    socket_recheck_seconds: float = 5.0

    # The origin users reach the API at (links that leave the system; https turns HSTS on).
    public_url: str | None = None
    # Browser origins allowed to call the API cross-origin, comma-separated, or "*" (then without credentials).
    cors_origins: str = ""
    # Outbound webhooks: never to loopback or private addresses unless true (tests and local receivers).
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)  # one attempt's bound, answer included

    # GET /metrics on the API port needs `Authorization: Bearer <token>`; unset: 404 there.
    metrics_token: str | None = None
    # host:port of a separate metrics listener (no token), e.g. 127.0.0.1:9100; unset: none.
    metrics_address: str | None = None
    # Secrets at rest (payment provider keys, webhook signing secrets): AES-256-GCM, 32 bytes in url-safe
    # base64; unset: derived from SECRET_KEY. Rotation: the new key here, the old ones in
    # SECRET_ENCRYPTION_OLD_KEYS (comma-separated).
    secret_encryption_key: str | None = None
    secret_encryption_old_keys: str | None = None
    # Where the Stripe SDK sends its requests (tests point it at a local fake); unset: api.stripe.com.
    stripe_api_base: str | None = None
    # Where PayPal calls go (tests point them at tests/fakes/paypal.py); unset: PayPal's sandbox for a TEST
    # configuration, api-m.paypal.com for a LIVE one. Any base but the live one is a sandbox.
    paypal_api_base: str | None = None
    # Customer emails (integrations/email.py): smtp://[user:password@]host:port or smtps://…; unset: logged, not sent.
    smtp_url: str | None = None
    email_from: str = "ValueVerse Billing <billing@localhost>"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PUBLIC_URL must be an http(s) URL such as https://billing.example.com, not {value!r}")
        return value.rstrip("/")

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        for origin in _split(value):
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query
            ):
                raise ValueError(f"CORS_ORIGINS holds origins such as https://app.example.com, not {origin!r}")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        if value:
            listen_address(value)
        return value or None

    @field_validator("secret_encryption_key", "secret_encryption_old_keys")
    @classmethod
    def _encryption_keys(cls, value: str | None) -> str | None:
        from integrations.secrets import parse_key

        for key in (value or "").split(","):
            if key.strip():
                parse_key(key)
        return value or None

    def payment_config(self) -> PaymentConfig:
        """What collection needs of the settings: the secret box and where the providers' APIs are."""
        from integrations.payments.config import PaymentConfig

        return PaymentConfig(
            box=self.secret_box(),
            stripe_api_base=self.stripe_api_base,
            paypal_api_base=self.paypal_api_base,
            public_url=self.public_url,
        )

    def email_config(self) -> EmailConfig:
        """What the worker's email jobs send through (no SMTP_URL: emails are logged, not sent)."""
        from integrations.email import Mailer
        from services.notifications import EmailConfig

        return EmailConfig(mailer=Mailer(self.smtp_url or None, self.email_from), public_url=self.public_url)

    def secret_box(self) -> SecretBox:
        """What seals secrets at rest (provider credentials, webhook signing secrets): one key, older ones kept."""
        from integrations.secrets import SecretBox

        return SecretBox.from_settings(
            self.secret_encryption_key, self.secret_encryption_old_keys, self.resolved_secret_key()
        )

    @property
    def hsts(self) -> bool:
        """Whether responses carry Strict-Transport-Security: only when users reach us over https."""
        return bool(self.public_url and self.public_url.startswith("https://"))

    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    def api_processes(self) -> int:
        """How many API processes `serve` runs: WEB_CONCURRENCY, else the number of usable cores."""
        if self.web_concurrency:
            return self.web_concurrency
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    def webhook_config(self) -> WebhookConfig:
        from services.webhooks import WebhookConfig

        return WebhookConfig(
            self.secret_box(),
            allow_private_targets=self.webhook_allow_private_targets,
            timeout_seconds=self.webhook_timeout_seconds,
        )

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data directory (local use)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def _split(value: str) -> list[str]:
    return [item.strip().rstrip("/") for item in value.replace(" ", ",").split(",") if item.strip()]


def listen_address(value: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9100` for IPv6) → (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"a listen address is host:port, such as 127.0.0.1:9100, not {value!r}")
    return host, int(port)
