"""`customerUsage` answered from a kept answer while nothing it follows from has changed (db/usage_answers.py).

The answer to "what does the customer's current period cost in usage so far" follows from the customer's
events, the customer, its subscriptions and their phases, the plans, charges and metrics they use, the
organization's time zone, and the moment asked about. The moment matters only through which period,
phase and status it falls in; everything else is covered by the versions `db.usage_answers` checks. So an
answer is kept for the stretch of time from its computation to the first moment at which any of the
customer's subscriptions changes period, phase or status, and reused within that stretch while the versions
are unchanged: exactly the answer `services.usage.rating.current_usage` would compute, in one statement.

An answer is kept with a digest of the code that computed it (`CODE_VERSION`): another release computes its own.
Only answers are kept, not refusals (no customer, no live subscription, usage that cannot be rated): those
are computed every time.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

import domain
import services
from db import usage_answers
from db.models import Plan
from db.repositories.catalog import PlanRepository
from db.repositories.organizations import OrganizationRepository
from services.usage import rating
from services.usage.rating import ChargeUsage, UsageReport

log = logging.getLogger("valueverse.usage_cache")


class KeptSubscription(NamedTuple):
    """What a kept answer says of its subscription (all an answer shows of it)."""

    external_id: str


class _Kept(msgspec.Struct, array_like=True):
    subscription_external_id: str
    from_datetime: datetime
    to_datetime: datetime
    currency: str
    amount: Decimal
    charges: tuple[ChargeUsage, ...]


def _code_version() -> bytes:
    """A digest of the code answers are computed by (services/, domain/): an answer kept by other code, e.g. before
    a release that changed how usage is rated, is never read back."""
    digest = hashlib.blake2b(digest_size=8)
    for package in (domain, services):
        for path in sorted(Path(package.__path__[0]).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.digest()


CODE_VERSION = _code_version()
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Kept).decode


def _report(kept: _Kept) -> UsageReport:
    return UsageReport(
        KeptSubscription(kept.subscription_external_id),  # type: ignore[arg-type]
        kept.from_datetime,
        kept.to_datetime,
        kept.currency,
        kept.amount,
        kept.charges,
    )


def _answer(report: UsageReport) -> bytes:
    return CODE_VERSION + _encode(_Kept(report.subscription.external_id, report.from_datetime, report.to_datetime,
                         report.currency, report.amount, report.charges))


class _Catalog:
    """An organization's plans and time zone as of one catalog version (`rating.KeptCatalog`), read once per API
    process. The catalog version covers the plans, their charges and metrics and the organization's time zone: while
    it is unchanged, so are they. The plans are ORM objects read by one request and then only read, never changed
    or added to another session (`SubscriptionRepository.of_customer_with_kept_plans`)."""

    def __init__(self, organization_id: uuid.UUID) -> None:
        self.organization_id = organization_id
        self._plans: dict[uuid.UUID, Plan] = {}
        self._timezone: tuple[str | None] | None = None

    async def plan(self, session: AsyncSession, plan_id: uuid.UUID) -> Plan:
        plan = self._plans.get(plan_id)
        if plan is None:
            plan = await PlanRepository(session, self.organization_id).by_id(plan_id)
            if plan is None:  # a guard: a phase's plan is never deleted (a foreign key)
                raise LookupError(f"plan {plan_id} of a subscription phase not found")
            self._plans[plan_id] = plan
        return plan

    async def organization_timezone(self, session: AsyncSession) -> str | None:
        if self._timezone is None:
            self._timezone = (await OrganizationRepository(session).timezone(self.organization_id),)
        return self._timezone[0]


_catalogs: dict[tuple[uuid.UUID, int], _Catalog] = {}
KEPT_CATALOGS = 1000  # organizations x versions kept at most; then all are dropped and read again


def _catalog(organization_id: uuid.UUID, version: int) -> _Catalog:
    key = (organization_id, version)
    catalog = _catalogs.get(key)
    if catalog is None:
        if len(_catalogs) >= KEPT_CATALOGS:
            _catalogs.clear()
        catalog = _catalogs[key] = _Catalog(organization_id)
    return catalog


async def look_up(
    conn: Any, organization_id: uuid.UUID, customer_external_id: str, subscription_external_id: str | None,
    at: datetime,
) -> usage_answers.Lookup:
    """What `answer` reads first, on an asyncpg connection (`Database.driver_read`): the moment asked about, the
    versions, and the kept answer it would read back now, as it is kept (None: it would compute one). `answer` takes
    it instead of reading it again."""
    return await usage_answers.lookup_on(conn, organization_id, customer_external_id, subscription_external_id, at,
                                         CODE_VERSION)


class Answer(NamedTuple):
    report: UsageReport
    kept: bytes | None  # the kept answer the report is (read back, or computed and kept now); None: not kept


async def current_usage(
    session: AsyncSession,
    organization_id: uuid.UUID,
    customer_external_id: str,
    subscription_external_id: str | None,
    at: datetime,
) -> UsageReport:
    """`rating.current_usage`, from the kept answer when it still holds (the same answer either way). A customer
    on a test clock is read at the clock's time, not at `at`."""
    return (await answer(session, organization_id, customer_external_id, subscription_external_id, at)).report


async def answer(
    session: AsyncSession,
    organization_id: uuid.UUID,
    customer_external_id: str,
    subscription_external_id: str | None,
    at: datetime,
    found: usage_answers.Lookup | None = None,
) -> Answer:
    """`current_usage`, and the kept answer it is. `found`: what `look_up` read for the same question moments ago
    (in this request), used instead of reading it again."""
    if found is None:
        found = await usage_answers.lookup(session, organization_id, customer_external_id, subscription_external_id,
                                           at, CODE_VERSION)
    at = found.at  # the customer's test clock's time if it lives on one (read in the same statement)
    if found.answer is not None:
        try:
            return Answer(_report(_decode(memoryview(found.answer)[len(CODE_VERSION):])), bytes(found.answer))
        except (msgspec.DecodeError, msgspec.ValidationError):  # a guard: CODE_VERSION covers what writes them
            log.warning("a kept usage answer could not be read back: computing it again")
    # Everything below is read after the versions were: see db/usage_answers.py for why that keeps it exact.
    report = await rating.current_usage(session, organization_id, customer_external_id, subscription_external_id, at,
                                        _catalog(organization_id, found.versions.catalog))
    valid_until = min([report.to_datetime, *found.moments])
    # (Without a kept answer the lookup gave the subscriptions' moments; after an unreadable one it did not.)
    if found.answer is None and at < valid_until:
        kept = _answer(report)
        await usage_answers.keep(session, organization_id, customer_external_id, subscription_external_id,
                                 found.versions, at, valid_until, kept)
        return Answer(report, kept)
    return Answer(report, None)
