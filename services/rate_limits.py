"""Brakes: token buckets per credential and per IP address, and the slowing and locking of logins.

The counters live in Redis (a `LimitStore`, see integrations/rate_limit.py), shared by every API
process. When the store cannot be reached the brakes fail open: the request goes ahead and a log
line says so (at most one line per `FAIL_OPEN_LOG_INTERVAL_S`, however many requests pass); for
`RETRY_STORE_AFTER_S` after a failure the store is not even asked, so that a Redis that does not
answer costs requests nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from db.repositories.organizations import OrganizationRepository
from db.session import Database, UnitOfWork
from services import audit, catalog_changes
from services.actors import Actor
from services.errors import CommonCode, Invalid, NotFound, OrganizationCode

log = logging.getLogger("valueverse.rate_limits")
FAIL_OPEN_LOG_INTERVAL_S = 10.0
RETRY_STORE_AFTER_S = 1.0
# An organization's override is read at most this often per API process.
OVERRIDE_CACHE_S = 5.0
MAX_PER_SECOND = 100_000


@dataclass(frozen=True)
class Limit:
    """A token bucket: `burst` requests at once, refilled at `per_second`. 0 per second: no limit."""

    per_second: float
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0


@dataclass(frozen=True)
class RateLimitConfig:
    """The server's limits (settings RATE_LIMIT_*): per credential, and per IP address."""

    per_credential: Limit
    per_ip: Limit


class RateLimited(Exception):
    """A bucket is empty: answer 429 with Retry-After."""

    def __init__(self, limit: str, retry_after: float, rule: Limit) -> None:
        self.limit = limit  # "ip" or "credential"
        self.retry_after = retry_after
        self.rule = rule
        self.retry_after_seconds = max(1, math.ceil(retry_after))
        what = "this IP address" if limit == "ip" else "this API key or user"
        super().__init__(
            f"rate limit of {what} reached ({rule.per_second:g} requests per second, bursts of {rule.burst}): "
            f"retry in {self.retry_after_seconds} s"
        )


class LimitStore(Protocol):
    async def take(self, buckets: list[tuple[str, float, int]]) -> tuple[int, float]:
        """One token from each (key, per second, burst) or from none: (-1, 0) when taken, else (the index of the
        first empty bucket, seconds until it has one)."""
        ...

    async def login_attempt(self, account: str, ip: str, policy: LoginPolicy) -> tuple[bool, int, int]:
        """(True, account failures, IP failures) counting this attempt, or (False, ms to wait, 1 if locked)."""
        ...

    async def login_succeeded(self, account: str, ip: str, policy: LoginPolicy) -> None: ...


class FailOpen:
    """What the brakes do when the store fails: let requests through, skip the store for a moment,
    and log one warning per interval, not one per request."""

    def __init__(self) -> None:
        self._last = -FAIL_OPEN_LOG_INTERVAL_S
        self._failed_at = -RETRY_STORE_AFTER_S
        self._suppressed = 0

    def skipping(self) -> bool:
        """The store failed a moment ago: do not wait for it again yet."""
        if time.monotonic() - self._failed_at < RETRY_STORE_AFTER_S:
            self._suppressed += 1
            return True
        return False

    def __call__(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        self._failed_at = now
        if now - self._last < FAIL_OPEN_LOG_INTERVAL_S:
            self._suppressed += 1
            return
        log.warning(
            "rate limiter unavailable: failing open",
            extra={"check": what, "error": f"{type(exc).__name__}: {exc}"[:200],
                   "suppressed_since_last": self._suppressed},
        )
        self._last, self._suppressed = now, 0


class RateLimiter:
    def __init__(self, store: LimitStore, db: Database, config: RateLimitConfig) -> None:
        self.store = store
        self.db = db
        self.config = config
        self.fail_open = FailOpen()
        self._overrides: dict[uuid.UUID, tuple[float, Limit]] = {}
        catalog_changes.register(self)

    async def check_ip(self, ip: str | None) -> None:
        await self._take([("ip", f"ip:{ip}", self.config.per_ip)] if ip else [])

    async def check_credential(self, actor: Actor) -> None:
        """Per API key, or per staff user across their sessions, with the organization's override."""
        rule = await self.limit_of(actor.organization_id)
        await self._take([("credential", actor.bucket, rule)])

    async def check_ip_and_credential(self, ip: str | None, actor: Actor) -> None:
        """Both checks in one round trip to the store: a token from each bucket, or (RateLimited) from neither."""
        rule = await self.limit_of(actor.organization_id)
        await self._take([*([("ip", f"ip:{ip}", self.config.per_ip)] if ip else []),
                          ("credential", actor.bucket, rule)])

    async def _take(self, buckets: list[tuple[str, str, Limit]]) -> None:
        buckets = [bucket for bucket in buckets if not bucket[2].unlimited]
        if not buckets or self.fail_open.skipping():
            return
        try:
            empty, wait = await self.store.take([(key, rule.per_second, rule.burst) for _, key, rule in buckets])
        except Exception as exc:  # any failure of the store: fail open, never closed
            self.fail_open("+".join(limit for limit, _, _ in buckets), exc)
            return
        if empty >= 0:
            limit, _, rule = buckets[empty]
            raise RateLimited(limit, wait, rule)

    async def limit_of(self, organization_id: uuid.UUID) -> Limit:
        cached = self._overrides.get(organization_id)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        async with self.db.read() as session:
            override = await OrganizationRepository(session).rate_limit_override(organization_id)
        rule = effective_limit(self.config.per_credential, *(override or (None, None)))
        if len(self._overrides) > 10_000:
            self._overrides.clear()
        self._overrides[organization_id] = (time.monotonic() + OVERRIDE_CACHE_S, rule)
        return rule

    def forget(self, organization_id: uuid.UUID) -> None:
        """The override changed (in any API process, see services.catalog_changes): read it again at the next
        request."""
        self._overrides.pop(organization_id, None)

    def forget_all(self) -> None:
        self._overrides.clear()


def effective_limit(default: Limit, per_second: int | None, burst: int | None) -> Limit:
    if per_second is None and burst is None:
        return default
    rate = per_second if per_second is not None else default.per_second
    return Limit(rate, burst if burst is not None else max(1, int(2 * rate)))


async def update_rate_limits(
    uow: UnitOfWork, actor: Actor, config: RateLimitConfig, *, per_second: int | None, burst: int | None
) -> tuple[int | None, int | None]:
    """The organization's own limit per credential: only tighter than the server's default; None, None: default."""
    repo = OrganizationRepository(uow.session)
    org = await repo.get(actor.organization_id)
    if org is None:
        raise NotFound("organization not found")
    default = config.per_credential
    if burst is not None and per_second is None:
        raise Invalid("give requestsPerSecond with burst", field=("requestsPerSecond",), code=CommonCode.REQUIRED)
    if per_second is not None:
        top = MAX_PER_SECOND if default.unlimited else default.per_second
        if not 1 <= per_second <= top:
            raise Invalid(
                f"between 1 and {top:g} requests per second (the server's limit; ask the operator for more)",
                field=("requestsPerSecond",),
                code=OrganizationCode.INVALID_RATE_LIMIT,
            )
    if burst is not None:
        top_burst = MAX_PER_SECOND * 2 if default.unlimited else default.burst
        if not 1 <= burst <= top_burst:
            raise Invalid(
                f"a burst between 1 and {top_burst} requests (the server's limit)",
                field=("burst",),
                code=OrganizationCode.INVALID_RATE_LIMIT,
            )
    before = {"requestsPerSecond": org.rate_limit_per_second, "burst": org.rate_limit_burst}
    org.rate_limit_per_second, org.rate_limit_burst = per_second, burst
    after = {"requestsPerSecond": per_second, "burst": burst}
    if before != after:
        await audit.record(
            uow, actor, "organization.rate_limits_updated", "organization", org.id, before=before, after=after
        )
        await catalog_changes.catalog_changed(uow, org.id)  # every API process reads the override again
    return per_second, burst


# --- logins -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginPolicy:
    """After `delay_after` failures the next attempt waits `first_delay_seconds`, doubling per further
    failure (never longer than the lock); after `lock_after` failures, `lock_seconds`. Failures are
    forgotten `memory_seconds` after the last one; an account's also at its next successful login."""

    account_delay_after: int  # the settings LOGIN_* (valueverse/settings.py) hold the defaults
    account_lock_after: int
    ip_delay_after: int
    ip_lock_after: int
    first_delay_seconds: float
    lock_seconds: int
    memory_seconds: int = 3600


@dataclass(frozen=True)
class LoginVerdict:
    allowed: bool
    retry_after: float = 0.0  # when not allowed
    locked: bool = False  # not allowed because of a lock (rather than a delay)
    account_failures: int | None = None  # when allowed: failures counted so far, this attempt included
    ip_failures: int | None = None


class LoginGuard:
    """Counts every attempt as a failure until it succeeds, so parallel guesses cannot slip past a delay.

    Counted per email address (known or not, so the answer never tells whether an account exists)
    and per IP address."""

    def __init__(self, store: LimitStore, policy: LoginPolicy, fail_open: FailOpen | None = None) -> None:
        self.store = store
        self.policy = policy
        self.fail_open = fail_open or FailOpen()

    @staticmethod
    def _account(email: str) -> str:
        return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]

    async def attempt(self, email: str, ip: str | None) -> LoginVerdict:
        if self.fail_open.skipping():
            return LoginVerdict(allowed=True)
        try:
            allowed, a, b = await self.store.login_attempt(self._account(email), ip or "unknown", self.policy)
        except Exception as exc:
            self.fail_open("login", exc)
            return LoginVerdict(allowed=True)
        if allowed:
            return LoginVerdict(allowed=True, account_failures=a, ip_failures=b)
        return LoginVerdict(allowed=False, retry_after=a / 1000, locked=bool(b))

    async def succeeded(self, email: str, ip: str | None) -> None:
        if self.fail_open.skipping():
            return
        try:
            await self.store.login_succeeded(self._account(email), ip or "unknown", self.policy)
        except Exception as exc:
            self.fail_open("login", exc)

    def locks_now(self, verdict: LoginVerdict) -> bool:
        """This (failed) attempt is the one that locked the account."""
        return verdict.account_failures == self.policy.account_lock_after
