"""What every resolver can reach: the caller, the request id, and the app's services."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.models import Role
from db.session import Database
from graph.dataloaders import Loaders
from integrations.clock import Clock
from integrations.live import LiveHub
from integrations.payments.config import PaymentConfig
from integrations.secrets import SecretBox
from services.actors import Actor
from services.auth import Authenticator, SessionConfig
from services.rate_limits import LoginGuard, RateLimiter
from services.usage.ingestion import UsageIngestor
from services.webhooks import WebhookConfig


@dataclass
class AppServices:
    db: Database
    authenticator: Authenticator
    session_config: SessionConfig
    broadcast: LiveHub  # live messages: `async with broadcast.subscribe(channel) as subscriber` (integrations/live.py)
    ingestor: UsageIngestor
    limiter: RateLimiter
    login_guard: LoginGuard
    recheck_seconds: float = 5.0  # how often a WebSocket's credentials are checked again
    payments: PaymentConfig | None = None  # sealed provider credentials and API bases (services/payments.py)
    webhooks: WebhookConfig | None = None  # outbound webhooks: the secrets' box, the private-target setting
    secret_box: SecretBox | None = None  # seals staff users' second-factor secrets (services/second_factor.py)


class Context:
    """One per HTTP request or per WebSocket connection."""

    def __init__(
        self,
        services: AppServices,
        actor: Actor | None,
        request_id: str | None,
        request: Any = None,
        response: Any = None,
    ) -> None:
        self.services = services
        self.db = services.db
        self.clock: Clock = services.db.clock  # what resolvers take the time from (tests move it)
        self.request_id = request_id
        self.actor = actor.with_request(request_id) if actor else None
        self.request = request
        self.response = response
        self.connection_params: dict[str, Any] | None = None
        self.authorization: str | None = None  # a WebSocket's credentials, checked again while it lives
        # The role each running subscription of a WebSocket needs, by its operation's task.
        self.live_roles: dict[asyncio.Task, Role] = {}
        self._loaders: Loaders | None = None
        # The first moment at which time alone could change this request's answer (graph/kept_responses.py).
        self.kept_until: datetime | None = None
        # customerUsage's kept answers by (customer, subscription) external ids (graph/kept_responses.py): what was
        # read with the request's versions before it ran, and the kept answers its fields answered from (None: two
        # fields about the same customer answered from different ones).
        self.usage_lookups: dict[tuple[str, str | None], Any] = {}
        self.usage_answered: dict[tuple[str, str | None], bytes | None] = {}

    @functools.cached_property
    def base_url(self) -> str:
        """The origin this request came to, without a trailing slash ("" without a request): read once per request
        (Starlette builds it anew on each read)."""
        return str(self.request.base_url).rstrip("/") if self.request is not None else ""

    def answered_from(self, key: tuple[str, str | None], kept: bytes | None) -> None:
        """Say that a customerUsage field answered from this kept usage answer (None: from none kept)."""
        if key in self.usage_answered and self.usage_answered[key] != kept:
            kept = None
        self.usage_answered[key] = kept

    def not_after(self, moment: datetime) -> None:
        """Say that what this request answers may change at `moment` without any write: a kept answer then expires."""
        if self.kept_until is None or moment < self.kept_until:
            self.kept_until = moment

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            assert self.actor is not None, "loaders serve authenticated requests only"
            self._loaders = Loaders(self.db, self.actor.organization_id)
        return self._loaders
