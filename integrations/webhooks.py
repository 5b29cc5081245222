"""Outbound webhooks: Standard Webhooks signatures and delivery that never reaches a private network by accident.

Signing follows the Standard Webhooks convention through the `standardwebhooks` library:
`webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64
HMAC-SHA256 of "<id>.<timestamp>.<body>">`, with secrets `whsec_<base64>`. A receiver
verifies with any Standard Webhooks library (`Webhook(secret).verify(body, headers)`).

Delivery posts the body with a total timeout and reads at most `excerpt_bytes` of the
answer. Redirects are not followed. Unless `allow_private_targets`, a target whose address
is not globally routable (loopback, private, link-local, carrier-grade NAT, multicast,
reserved, unspecified; IPv4 inside IPv6 too) is refused before anything is sent. The check
runs on the addresses the connection is then made to (the resolver that vets them is the
one the client connects with, and nothing is cached), so a name that resolves to a public
address when checked and to a private one when connecting (DNS rebinding) cannot slip by.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_EXCERPT_BYTES = 1024


def generate_secret() -> str:
    """A new endpoint secret: `whsec_` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(secret: str, *, message_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent as message `message_id` at `timestamp`."""
    if timestamp.tzinfo is None:
        raise ValueError("the timestamp must carry a time zone")
    at = timestamp.astimezone(UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (and not multicast): the only kind delivered to by default."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


class TargetRefused(OSError):
    """The target resolves to an address outside the public internet."""


class GuardedResolver(AbstractResolver):
    """Resolves with `inner` and refuses the name if any of its addresses is not public."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self.inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self.inner is None:
            self.inner = ThreadedResolver()
        found = await self.inner.resolve(host, port, family)
        refused = [r["host"] for r in found if not is_public_address(r["host"])]
        if refused:
            raise TargetRefused(f"{host} resolves to {', '.join(refused)}, which is not a public address")
        return found

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None  # None: no HTTP answer (refused, unreachable, timed out)
    response_excerpt: str  # the start of the answer's body, at most `excerpt_bytes`
    duration_ms: int
    error: str | None = None
    refused: bool = False  # the SSRF guard (or a bad URL) stopped it before anything was sent

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410: the receiver asks never to be sent to again (the endpoint is disabled)."""
        return self.status_code == 410


def check_target(url: str, *, allow_private_targets: bool) -> str | None:
    """Why `url` cannot be a webhook target before any lookup (a bad scheme, no host, a private IP), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"not a URL: {error}"
    if parts.scheme not in ("http", "https"):
        return "the URL must start with https:// or http://"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    if port == 0:
        return "port 0 is not a port"
    if allow_private_targets:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
            return "localhost is not a public address"
        return None
    if not is_public_address(str(address)):
        return f"{host} is not a public address"
    return None


class WebhookSender:
    """Delivers signed webhook bodies; one per process (it keeps a connection pool)."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        allow_private_targets: bool = False,
        excerpt_bytes: int = DEFAULT_EXCERPT_BYTES,
        user_agent: str = "ValueVerse-Webhooks/1.0",
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.timeout = timeout
        self.allow_private_targets = allow_private_targets
        self.excerpt_bytes = excerpt_bytes
        self.user_agent = user_agent
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            inner = self._resolver
            resolver = inner if self.allow_private_targets and inner is not None else None
            if not self.allow_private_targets:
                resolver = GuardedResolver(inner)
            connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=100)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def deliver(
        self, url: str, *, secret: str, message_id: str, timestamp: datetime, body: bytes
    ) -> DeliveryResult:
        """POST `body` signed for `message_id`; every outcome is a result, nothing raises."""
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        problem = check_target(url, allow_private_targets=self.allow_private_targets)
        if problem is not None:
            return DeliveryResult(None, "", elapsed(), error=problem, refused=True)
        headers = {
            **signed_headers(secret, message_id=message_id, timestamp=timestamp, body=body),
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
        }
        try:
            async with self._client().post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                excerpt = await response.content.read(self.excerpt_bytes)
                return DeliveryResult(response.status, _text(excerpt), elapsed())
        except aiohttp.ClientConnectorError as error:
            cause = _refusal(error)
            if cause is not None:
                return DeliveryResult(None, "", elapsed(), error=str(cause), refused=True)
            return DeliveryResult(None, "", elapsed(), error=f"could not connect: {error.os_error or error}")
        except TimeoutError:
            return DeliveryResult(None, "", elapsed(), error=f"no answer within {self.timeout:g} s")
        except aiohttp.ClientError as error:
            return DeliveryResult(None, "", elapsed(), error=f"{type(error).__name__}: {error}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _refusal(error: BaseException) -> TargetRefused | None:
    seen: set[int] = set()
    current: Any = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TargetRefused):
            return current
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return None


def _text(excerpt: bytes) -> str:
    return excerpt.decode("utf-8", "replace").replace("\x00", "")
