"""Test clocks: a TEST organization moves time for the customers created on a clock.

A customer on a clock reads the clock's frozen time wherever a use case asks for "now" for that customer
(`customer_clock`); every other customer reads the real time of the unit of work's clock.

`advance_test_clock` moves a clock forward and runs, in order, everything that falls due for its customers
between the old and the new time, with the same service code the worker's schedules run, each moment in a
unit of work whose clock stands at that moment. What falls due comes from `DUE_SOURCES`, a list of
`DueSource`s: each says when it next has something to do for the clock's customers and does it. Collection,
dunning retries, emails and webhook retries join the advance by adding a source to that list.

The advance runs in the request (not as a worker job): the caller gets the invoices of the period ends it
asked for as soon as the answer comes, an outside test needs no polling, and each moment is its own
transaction, so a long advance holds no lock for long. The clock says ADVANCING (and where to) from the
first step, and its frozen time follows the moments as they are done: an advance that was interrupted is
resumed by asking for the same time again, and everything it runs again is idempotent (billing keys make
invoices unique per billing date, interim invoices per threshold, finalization per draft).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from db.models import OrganizationMode, TestClock, TestClockStatus
from db.repositories.alerts import UsageAlertRepository
from db.repositories.billing import InvoiceRepository
from db.repositories.customers import CustomerRepository
from db.repositories.dunning import DunningRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.test_clocks import TestClockRepository
from db.session import Database, UnitOfWork
from integrations.clock import TestClockTime
from integrations.payments.config import PaymentConfig
from integrations.webhooks import WebhookSender
from services import audit, dunning, payments, usage_alerts, webhooks
from services.actors import Actor
from services.billing import drafts, progressive, runs
from services.billing.due import _due
from services.errors import CommonCode, Invalid, NotFound, found
from services.webhooks import WebhookConfig


class TestClockCode:
    LIVE_ORGANIZATION = "TEST_CLOCK_IN_LIVE_ORGANIZATION"
    NOT_FORWARD = "TEST_CLOCK_NOT_FORWARD"
    ADVANCING = "TEST_CLOCK_ADVANCING"
    FIXED = "TEST_CLOCK_FIXED"
    OUT_OF_RANGE = "TEST_CLOCK_TIME_OUT_OF_RANGE"
    TOO_FAR = "TEST_CLOCK_ADVANCE_TOO_FAR"


def _not_found() -> NotFound:
    return NotFound("no test clock with this id", field=("testClockId",))


def parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("not a valid id", field=("testClockId",), code=CommonCode.INVALID_ID) from None


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # a clock's time is in [EARLIEST, LATEST)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_ADVANCE = timedelta(days=5 * 366)  # one advance runs at most five years of billing


def _aware(at: datetime, field: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise Invalid(f"{field} needs a UTC offset", field=(field,), code=CommonCode.NAIVE_DATETIME)
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        at = EARLIEST - timedelta(days=1)
    if not EARLIEST <= at < LATEST:
        raise Invalid(
            f"{field} is between {EARLIEST.year} and {LATEST.year}", field=(field,), code=TestClockCode.OUT_OF_RANGE
        )
    return at


def clock_view(clock: TestClock) -> dict[str, object]:
    return {"name": clock.name, "frozenTime": clock.frozen_time, "status": clock.status}


# ---- the time of a customer: services/clocks.py (customer_clock, customer_now, on_customer_time) ---------

async def test_clock_for_new_customer(uow: UnitOfWork, organization_id: uuid.UUID, value: str) -> uuid.UUID:
    """The clock a new customer is created on (createCustomer's testClockId): one of this TEST organization's."""
    clock_id = parse_id(value)
    return found(await TestClockRepository(uow.session, organization_id).get(clock_id), _not_found()).id


# ---- create, delete --------------------------------------------------------------------------------------


async def create_test_clock(uow: UnitOfWork, actor: Actor, name: str, frozen_time: datetime) -> TestClock:
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    if org.mode != OrganizationMode.TEST:
        raise Invalid(
            "test clocks are for TEST organizations (valueverse create-org NAME --test)",
            field=(),
            code=TestClockCode.LIVE_ORGANIZATION,
        )
    if not name.strip():
        raise Invalid("a name is required", field=("name",), code=CommonCode.REQUIRED)
    if len(name.strip()) > 200:
        raise Invalid("a name is at most 200 characters", field=("name",), code=CommonCode.INVALID)
    clock = await TestClockRepository(uow.session, org.id).add(
        TestClock(
            organization_id=org.id,
            name=name.strip(),
            frozen_time=_aware(frozen_time, "frozenTime"),
            status=TestClockStatus.READY.value,
        )
    )
    await audit.record(uow, actor, "test_clock.created", "test_clock", clock.id, after=clock_view(clock))
    return clock


async def delete_test_clock(uow: UnitOfWork, actor: Actor, clock_id: uuid.UUID) -> TestClock:
    """The clock and every row of its customers (their subscriptions, usage, invoices, credits)."""
    repo = TestClockRepository(uow.session, actor.organization_id)
    clock = found(await repo.get(clock_id, for_update=True), _not_found())
    customers = await repo.delete_customers_data(clock.id)
    before = clock_view(clock)
    await repo.delete(clock)
    await audit.record(
        uow, actor, "test_clock.deleted", "test_clock", clock.id, before=before, after={"customersDeleted": customers}
    )
    return clock


# ---- what falls due ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockScope:
    """The clock being advanced and its customers (all of them, deleted ones too)."""

    clock_id: uuid.UUID
    organization_id: uuid.UUID
    customer_ids: Sequence[uuid.UUID]
    since: datetime  # the clock's time when this advance (or its resumption) began
    payments: PaymentConfig | None = None  # collection's gateways (None: nothing is charged)
    webhooks: WebhookConfig | None = None  # outbound webhooks (None: not configured, none are sent)
    sender: WebhookSender | None = None


class DueSource(Protocol):
    """Something that falls due for a clock's customers at moments of their time."""

    name: str

    async def next_after(self, db: Database, scope: ClockScope, after: datetime, until: datetime) -> datetime | None:
        """The first moment in (after, until] at which it has something to do, if any."""
        ...

    async def run(self, db: Database, actor: Actor, scope: ClockScope, moment: datetime) -> None:
        """Do what is due at `moment` (idempotent: a moment may be run again)."""
        ...


SCAN_MINUTES = 5  # workers/settings.py runs scan_usage_thresholds every 5 minutes
MAX_EVENT_AGE = timedelta(days=35)  # domain/usage_events.py: the oldest event accepted


def _next_hour(after: datetime) -> datetime:
    """The worker's next hourly run (billing, drafts) after `after`."""
    return after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _next_scan(at: datetime) -> datetime:
    """The first scan of the worker's schedule at or after `at` (on the minute, every SCAN_MINUTES)."""
    slot = at.replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % SCAN_MINUTES)
    return slot if slot == at else slot + timedelta(minutes=SCAN_MINUTES)


class UsageThresholds:
    """Progressive billing: the threshold check (interim invoices, pay-in-advance charges, then usage alerts) the
    worker's scan runs every `SCAN_MINUTES`: at the first scan after a usage event of the clock's customers."""

    name = "usage thresholds"

    async def next_after(self, db: Database, scope: ClockScope, after: datetime, until: datetime) -> datetime | None:
        # Events stored while the clock stood still (up to the accepted age) are checked at the first scan of
        # the advance, as the worker's next scan would check them; later ones at the first scan after them.
        since = after - MAX_EVENT_AGE if after == scope.since else after
        async with db.read() as session:
            event = await TestClockRepository(session, scope.organization_id).first_event_after(
                list(scope.customer_ids), since, until
            )
        if event is None:
            return None
        scan = _next_scan(max(event, after + timedelta(microseconds=1)))
        return scan if scan <= until else None

    async def run(self, db: Database, actor: Actor, scope: ClockScope, moment: datetime) -> None:
        async with db.read() as session:
            interim: set[uuid.UUID] = set(
                await SubscriptionRepository(session, scope.organization_id).customers_with_interim_billing(
                    moment, test_clock_id=scope.clock_id
                )
            )
            alerted = set(
                await UsageAlertRepository(session, scope.organization_id).customers_with_alerts(scope.clock_id)
            )
        for customer_id in scope.customer_ids:
            if customer_id in interim:
                async with db.unit_of_work(clock=TestClockTime(moment, scope.clock_id)) as uow:
                    await progressive.check_usage_thresholds(uow, actor, customer_id, moment)
            if customer_id in alerted:
                async with db.unit_of_work(clock=TestClockTime(moment, scope.clock_id)) as uow:
                    await usage_alerts.check_usage_alerts(uow, actor, customer_id, moment)


class BillingDates:
    """The billing run the worker's hourly schedule makes: every billing date up to the moment."""

    name = "billing dates"

    async def next_after(self, db: Database, scope: ClockScope, after: datetime, until: datetime) -> datetime | None:
        async with db.read() as session:
            org = await OrganizationRepository(session).existing(scope.organization_id)
            subscribed = await SubscriptionRepository(session, org.id).customers_with_subscriptions(scope.clock_id)
            ids = [c for c, _ in subscribed]
            customers = await CustomerRepository(session, org.id).by_ids(ids)
            subscriptions = await SubscriptionRepository(session, org.id).of_customers(ids)
            moments = [
                # a date not billed yet at the clock's time (a subscription started then) waits for the next hourly run
                moment if moment > after else _next_hour(after)
                for customer_id, customer in customers.items()
                # the dates only: what they bill (usage rated, fees priced) is for `run`
                for moment in await _due(None, org, customer, subscriptions.get(customer_id, []), until)
            ]
        due = min(moments, default=None)
        return due if due is not None and due <= until else None

    async def run(self, db: Database, actor: Actor, scope: ClockScope, moment: datetime) -> None:
        async with db.read() as session:
            customers = await SubscriptionRepository(session, scope.organization_id).customers_with_subscriptions(
                scope.clock_id
            )
        if not customers:
            return
        async with db.unit_of_work(clock=TestClockTime(moment, scope.clock_id)) as uow:
            invoices = await runs.bill_customers(uow, actor, [c for c, _ in customers], moment)
        if invoices:
            await runs.record_run(db, actor, moment, len(customers), runs.RunResult(invoices=invoices))


class DraftGracePeriods:
    """Drafts finalized when the organization's grace period ends (the worker's hourly finalize_drafts)."""

    name = "draft grace periods"

    async def next_after(self, db: Database, scope: ClockScope, after: datetime, until: datetime) -> datetime | None:
        async with db.read() as session:
            org = await OrganizationRepository(session).existing(scope.organization_id)
            if org.invoice_grace_period_days <= 0:
                return None
            grace = timedelta(days=org.invoice_grace_period_days)
            created = await TestClockRepository(session, org.id).earliest_draft(list(scope.customer_ids))
        if created is None:
            return None
        end = created + grace
        end = end if end > after else _next_hour(after)  # past its end already: the next hourly run
        return end if end <= until else None

    async def run(self, db: Database, actor: Actor, scope: ClockScope, moment: datetime) -> None:
        async with db.unit_of_work(clock=TestClockTime(moment, scope.clock_id)) as uow:
            await drafts.finalize_expired_drafts(uow, actor, moment, test_clock_id=scope.clock_id)


COLLECTION_LOOKBACK = timedelta(days=1)  # invoices finalized this long before an advance are charged at its start


async def invoice_on_test_clock(db: Database, organization_id: uuid.UUID, invoice_id: uuid.UUID) -> bool:
    """Whether the invoice's customer lives on a test clock (its collection then follows the clock's advances)."""
    async with db.read() as session:
        invoice = await InvoiceRepository(session, organization_id).get(invoice_id)
    return invoice is not None and invoice.customer.test_clock_id is not None


class Collection:
    """Collection and dunning (services/payments.py, services/dunning.py): the first charge of a finalized invoice
    (the worker's collect_invoice job, which leaves clock customers to the advance), the retries planned at
    `nextPaymentAttemptAt` and the final action at the end of a hard decline's window, each at its moment."""

    name = "collection"

    async def next_after(self, db: Database, scope: ClockScope, after: datetime, until: datetime) -> datetime | None:
        if scope.payments is None:
            return None
        # At the start of an advance, what fell due while the clock stood still runs at once; later, what falls due.
        since = after - COLLECTION_LOOKBACK if after == scope.since else after
        async with db.read() as session:
            due = await DunningRepository(session, scope.organization_id).next_collection(
                list(scope.customer_ids), since, until
            )
        if due is None:
            return None
        due = due if due > after else after + timedelta(microseconds=1)
        return due if due <= until else None

    async def run(self, db: Database, actor: Actor, scope: ClockScope, moment: datetime) -> None:
        if scope.payments is None:
            return
        async with db.read() as session:
            due = await DunningRepository(session, scope.organization_id).due_for_collection(
                list(scope.customer_ids), scope.since - COLLECTION_LOOKBACK, moment
            )
        at = TestClockTime(moment, scope.clock_id)
        for invoice_id, what, attempt in due:
            if what == "FINAL":
                async with db.unit_of_work(clock=at) as uow:
                    await dunning.apply_final_action(uow, actor, invoice_id)
            elif what == "RETRY":
                assert attempt is not None
                if await dunning.retry_is_due(db, actor, invoice_id, attempt, clock=at):
                    await payments.collect(db, scope.payments, actor, invoice_id, attempt=attempt, clock=at)
            else:
                await payments.collect(db, scope.payments, actor, invoice_id, attempt=1, clock=at)


class WebhookDeliveries:
    """Outbound webhooks raised during the clock's advances: the first attempt at the moment of its event, the
    retries of a failing endpoint on the schedule, by the clock's time (the worker's sweep leaves them alone)."""

    name = "webhook deliveries"

    async def next_after(self, db: Database, scope: ClockScope, after: datetime, until: datetime) -> datetime | None:
        if scope.webhooks is None:
            return None
        async with db.read() as session:
            return await TestClockRepository(session, scope.organization_id).next_webhook_attempt(
                scope.clock_id, after, until
            )

    async def run(self, db: Database, actor: Actor, scope: ClockScope, moment: datetime) -> None:
        if scope.webhooks is None or scope.sender is None:
            return
        at = TestClockTime(moment, scope.clock_id)
        while True:  # more than one batch may be due; a batch of only skipped attempts (a disabled endpoint) too
            swept = await webhooks.deliver_due(db, scope.sender, scope.webhooks, test_clock=at)
            if not (swept.sent or swept.skipped):
                break


# In the order they run at one moment, as the worker would: usage checked, periods billed, drafts finalized,
# then what is due for collection (a period's invoice charged at the moment it is finalized), and what all of
# those raised told to the organization's webhook endpoints.
DUE_SOURCES: list[DueSource] = [
    UsageThresholds(),
    BillingDates(),
    DraftGracePeriods(),
    Collection(),
    WebhookDeliveries(),
]


# ---- advance ---------------------------------------------------------------------------------------------


async def _start_advance(db: Database, actor: Actor, clock_id: uuid.UUID, target: datetime) -> TestClock:
    async with db.unit_of_work() as uow:
        repo = TestClockRepository(uow.session, actor.organization_id)
        clock = found(await repo.get(clock_id, for_update=True), _not_found())
        if clock.status == TestClockStatus.ADVANCING:
            if clock.advancing_to != target:
                raise Invalid(
                    f"the clock is advancing to {clock.advancing_to.isoformat() if clock.advancing_to else '?'};"
                    " ask for that time to resume it",
                    field=("frozenTime",),
                    code=TestClockCode.ADVANCING,
                )
            return clock  # resume an interrupted advance
        if target <= clock.frozen_time:
            raise Invalid(
                f"a test clock only moves forward: frozenTime must be after {clock.frozen_time.isoformat()}",
                field=("frozenTime",),
                code=TestClockCode.NOT_FORWARD,
            )
        if target - clock.frozen_time > MAX_ADVANCE:
            raise Invalid(
                "one advance moves a test clock at most five years; advance in steps",
                field=("frozenTime",),
                code=TestClockCode.TOO_FAR,
            )
        clock.status, clock.advancing_to = TestClockStatus.ADVANCING.value, target
        await audit.record(
            uow,
            actor,
            "test_clock.advance_started",
            "test_clock",
            clock.id,
            before={"frozenTime": clock.frozen_time},
            after={"frozenTime": target},
        )
        return clock


async def _move(db: Database, actor: Actor, clock_id: uuid.UUID, to: datetime, *, done: bool) -> TestClock:
    async with db.unit_of_work() as uow:
        repo = TestClockRepository(uow.session, actor.organization_id)
        clock = found(await repo.get(clock_id, for_update=True), _not_found())
        before = clock.frozen_time
        clock.frozen_time = max(clock.frozen_time, to)
        if done:
            clock.status, clock.advancing_to = TestClockStatus.READY.value, None
            await audit.record(
                uow,
                actor,
                "test_clock.advanced",
                "test_clock",
                clock.id,
                before={"frozenTime": before},
                after=clock_view(clock),
            )
        return clock


async def advance_test_clock(
    db: Database,
    actor: Actor,
    clock_id: uuid.UUID,
    target: datetime,
    payment_config: PaymentConfig | None = None,
    *,
    webhook_config: WebhookConfig | None = None,
) -> TestClock:
    """Move the clock forward to `target`, running everything due for its customers in between, in order
    (`payment_config`: the gateways collection charges through, None: invoices are not charged;
    `webhook_config`: outbound webhooks, None: none are sent)."""
    target = _aware(target, "frozenTime")
    clock = await _start_advance(db, actor, clock_id, target)
    async with db.read() as session:
        customer_ids = await TestClockRepository(session, actor.organization_id).customer_ids(clock.id)
    sender = None
    if webhook_config is not None:
        sender = WebhookSender(
            timeout=webhook_config.timeout_seconds, allow_private_targets=webhook_config.allow_private_targets
        )
    scope = ClockScope(
        clock.id, actor.organization_id, customer_ids, clock.frozen_time, payment_config, webhook_config, sender
    )
    try:
        return await _run_advance(db, actor, clock, scope, target)
    finally:
        if sender is not None:
            await sender.aclose()


async def _run_advance(db: Database, actor: Actor, clock: TestClock, scope: ClockScope, target: datetime) -> TestClock:
    step_actor = runs.job_actor(actor.organization_id)  # the worker's own actor: the same code, the same entries
    cursor = clock.frozen_time
    while True:  # each moment is later than the one before, and at most the target: this ends
        upcoming = [m for s in DUE_SOURCES if (m := await s.next_after(db, scope, cursor, target)) is not None]
        if not upcoming:
            break
        moment = min(upcoming)
        for source in DUE_SOURCES:
            await source.run(db, step_actor, scope, moment)
        await _move(db, actor, clock.id, moment, done=False)
        cursor = moment
    return await _move(db, actor, clock.id, target, done=True)
