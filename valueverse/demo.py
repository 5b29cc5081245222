"""`valueverse demo`: a realistic demo tenant, made through the public GraphQL API as any client would.

A TEST organization whose customers live on one test clock (docs/api.md). The clock starts on the first day
of the month twelve months ago; the story is then told month by month, each step at the clock's time:
customers subscribe (some with a trial or a coupon), use the product (usage events), upgrade at once or
downgrade at period end, cancel, come back; the clock is advanced and the advance bills the periods,
finalizes the invoices, makes interim invoices where usage crosses a threshold and true-ups where fees fall
short of a commitment, exactly as time would; payments are recorded (`recordPayment`) by each customer's
habit: most pay within days, some late, some in part, a few never (overdue, then uncollectible), a few
invoices are voided or get a credit note. The clock ends at the real time of the run, so the year of
history ends now and the revenue dashboard shows it over real dates.

Everything goes through the API in this process (the same ASGI app `serve` runs, with the rate limits off),
so every rule, audit entry and invoice is the one a real client would get. The story is drawn from a seeded
random generator: the same seed and day give the same tenant. docs/portals.md ("The demo tenant") tells it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from integrations.clock import SYSTEM_CLOCK
from valueverse.settings import Settings

DEMO_NAME = "Northwind Cloud (demo)"
DEMO_EMAIL = "demo-admin@valueverse.example"
MONTHS = 12


class DemoError(Exception):
    """The API refused a step of the story: a bug in the demo or in the API."""


class AlreadyLoaded(Exception):
    def __init__(self, organization_id: str) -> None:
        super().__init__(organization_id)
        self.organization_id = organization_id


# ---- the catalog -------------------------------------------------------------------------------------------


METRICS = [
    {"code": "api_calls", "name": "API calls", "aggregation": "SUM", "fieldName": "calls"},
    {"code": "messages", "name": "Messages sent", "aggregation": "SUM", "fieldName": "count"},
    {"code": "storage_gb", "name": "Storage (GB, peak)", "aggregation": "MAX", "fieldName": "gb"},
    {"code": "payment_volume", "name": "Payment volume", "aggregation": "SUM", "fieldName": "amount"},
]


def _ranges(*rows: tuple[str, str | None, str], flat_first: str = "0") -> list[dict[str, Any]]:
    return [
        {"fromValue": low, "toValue": high, "perUnitAmount": price, "flatAmount": flat_first if i == 0 else "0"}
        for i, (low, high, price) in enumerate(rows)
    ]


PLANS: list[dict[str, Any]] = [
    {  # STANDARD, a trial, paid in advance
        "code": "starter",
        "name": "Starter",
        "interval": "MONTHLY",
        "currency": "USD",
        "amount": "49.00",
        "payInAdvance": True,
        "trialPeriodDays": 14,
        "charges": [{"billableMetricCode": "api_calls", "model": "STANDARD", "properties": {"amount": "0.0004"}}],
    },
    {  # GRADUATED and PACKAGE
        "code": "growth",
        "name": "Growth",
        "interval": "MONTHLY",
        "currency": "USD",
        "amount": "199.00",
        "charges": [
            {
                "billableMetricCode": "api_calls",
                "model": "GRADUATED",
                "properties": {
                    "graduatedRanges": _ranges(
                        ("0", "50000", "0"), ("50001", "200000", "0.0003"), ("200001", None, "0.0002")
                    )
                },
            },
            {
                "billableMetricCode": "messages",
                "model": "PACKAGE",
                "properties": {"amount": "5.00", "packageSize": "1000", "freeUnits": "1000"},
            },
        ],
    },
    {  # the same, yearly, paid in advance
        "code": "growth-yearly",
        "name": "Growth (yearly)",
        "interval": "YEARLY",
        "currency": "USD",
        "amount": "1990.00",
        "payInAdvance": True,
        "charges": [
            {
                "billableMetricCode": "messages",
                "model": "PACKAGE",
                "properties": {"amount": "5.00", "packageSize": "1000", "freeUnits": "1000"},
            }
        ],
    },
    {  # VOLUME, a minimum commitment (a true-up when fees fall short)
        "code": "scale",
        "name": "Scale",
        "interval": "MONTHLY",
        "currency": "USD",
        "amount": "599.00",
        "minimumCommitment": "900.00",
        "charges": [
            {
                "billableMetricCode": "storage_gb",
                "model": "VOLUME",
                "properties": {
                    "volumeRanges": _ranges(("0", "100", "0.50"), ("101", "1000", "0.40"), ("1001", None, "0.30"))
                },
            },
            {
                "billableMetricCode": "api_calls",
                "model": "GRADUATED",
                "properties": {"graduatedRanges": _ranges(("0", "500000", "0"), ("500001", None, "0.0001"))},
            },
        ],
    },
    {  # PERCENTAGE, progressive billing (an interim invoice when usage reaches 400.00)
        "code": "payments",
        "name": "Payments",
        "interval": "MONTHLY",
        "currency": "USD",
        "amount": "29.00",
        "usageThresholds": ["400.00"],
        "charges": [
            {
                "billableMetricCode": "payment_volume",
                "model": "PERCENTAGE",
                "properties": {"rate": "1.5", "fixedAmount": "0.30"},
            }
        ],
    },
    {  # GRADUATED_PERCENTAGE, yearly
        "code": "enterprise-yearly",
        "name": "Enterprise (yearly)",
        "interval": "YEARLY",
        "currency": "USD",
        "amount": "12000.00",
        "payInAdvance": True,
        "charges": [
            {
                "billableMetricCode": "payment_volume",
                "model": "GRADUATED_PERCENTAGE",
                "properties": {
                    "graduatedPercentageRanges": [
                        {"fromValue": "0", "toValue": "100000", "rate": "1.0", "flatAmount": "0"},
                        {"fromValue": "100000", "toValue": None, "rate": "0.5", "flatAmount": "0"},
                    ]
                },
            }
        ],
    },
    {  # another currency: never converted, shown apart
        "code": "starter-eur",
        "name": "Starter (EUR)",
        "interval": "MONTHLY",
        "currency": "EUR",
        "amount": "45.00",
        "payInAdvance": True,
        "charges": [{"billableMetricCode": "api_calls", "model": "STANDARD", "properties": {"amount": "0.0004"}}],
    },
]

COUPONS = [
    {"code": "WELCOME20", "name": "Welcome: 20 % off 3 months", "kind": "PERCENTAGE", "percentage": "20",
     "duration": "REPEATING", "durationPeriods": 3},
    {"code": "LAUNCH50", "name": "Launch: 50.00 off once", "kind": "FIXED", "amount": "50.00",
     "currency": "USD", "duration": "ONCE"},
    {"code": "LOYAL10", "name": "Loyalty: 10 % off for ever", "kind": "PERCENTAGE", "percentage": "10",
     "duration": "FOREVER"},
]  # fmt: skip

PLAN_WEIGHTS = [
    ("starter", 32), ("growth", 24), ("scale", 9), ("payments", 15), ("growth-yearly", 9),
    ("enterprise-yearly", 3), ("starter-eur", 8),
]  # fmt: skip
UPGRADE = {"starter": "growth", "growth": "scale", "payments": "growth"}
DOWNGRADE = {"scale": "growth", "growth": "starter"}
MONTHLY_USD = {"starter", "growth", "scale", "payments"}

# ---- the story, drawn before anything is sent --------------------------------------------------------------


@dataclass
class Life:
    """One customer's year, decided up front from the seed."""

    number: int
    plan: str
    joins: int  # the month (0 = twelve months ago) it subscribes
    usage: float  # how much it uses, relative to its plan's typical customer
    habit: str  # GOOD, LATE, PARTIAL, NEVER: how it pays
    upgrade: int | None = None
    downgrade: int | None = None
    churn: int | None = None  # cancelled mid-month: ends at that period's end
    comes_back: int | None = None  # subscribes again that month
    coupon: str | None = None
    loyal_from: int | None = None
    subscriptions: list[str] = field(default_factory=list)

    @property
    def external_id(self) -> str:
        return f"cus_{self.number:04d}"

    @property
    def currency(self) -> str:
        return "EUR" if self.plan == "starter-eur" else "USD"


FIRST_NAMES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Massive",
    "Pied Piper",
    "Dunder",
    "Monarch",
    "Prestige",
    "Blue Sun",
    "Nakatomi",
    "Gekko",
    "Duff",
    "Sirius",
    "Virtucon",
    "Zorg",
    "Ollivander",
]
SUFFIXES = ["Labs", "Systems", "Analytics", "Logistics", "Health", "Retail", "Media", "Robotics", "Foods", "Energy",
            "Capital", "Studios", "Networks", "Bio", "Motors", "Security", "Travel", "Games"]  # fmt: skip
COUNTRIES = [("US", "America/New_York"), ("US", "America/Los_Angeles"), ("GB", "Europe/London"),
             ("CA", "America/Toronto"), ("AU", "Australia/Sydney"), ("SG", "Asia/Singapore")]  # fmt: skip
EUR_COUNTRIES = [("DE", "Europe/Berlin"), ("FR", "Europe/Paris"), ("NL", "Europe/Amsterdam"), ("ES", "Europe/Madrid")]


def draw_lives(count: int, rng: random.Random) -> list[Life]:
    plans, weights = zip(*PLAN_WEIGHTS, strict=True)
    lives = []
    for number in range(1, count + 1):
        plan = rng.choices(plans, weights)[0]
        joins = 0 if rng.random() < 0.45 else rng.randint(1, MONTHS - 1)
        habit = rng.choices(["GOOD", "LATE", "PARTIAL", "NEVER"], [80, 10, 4, 6])[0]
        life = Life(number, plan, joins, rng.lognormvariate(0, 0.7), habit)
        later = list(range(joins + 1, MONTHS + 1))
        if plan in MONTHLY_USD and later:
            roll = rng.random()
            if roll < 0.22 and plan in UPGRADE:
                life.upgrade = rng.choice(later)
            elif roll < 0.32 and plan in DOWNGRADE:
                life.downgrade = rng.choice(later)
            if rng.random() < 0.18:
                life.churn = rng.choice(later)
                if life.churn + 2 <= MONTHS and rng.random() < 0.35:
                    life.comes_back = rng.randint(life.churn + 2, MONTHS)
        if life.currency == "USD":
            roll = rng.random()
            life.coupon = "WELCOME20" if roll < 0.2 else "LAUNCH50" if roll < 0.3 else None
            if joins < 6 and rng.random() < 0.06:
                life.loyal_from = rng.randint(joins + 1, MONTHS)
        lives.append(life)
    return lives


def month_start(first: datetime, months: int) -> datetime:
    years, month = divmod(first.month - 1 + months, 12)
    return first.replace(year=first.year + years, month=month + 1)


# ---- the client ------------------------------------------------------------------------------------------


class Api:
    """GraphQL over the in-process app, with the organization's OWNER key; any error stops the demo."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client, self.key, self.calls = client, key, 0
        self.spent: dict[str, float] = {}  # seconds per root field, for --verbose

    async def __call__(self, document: str, **variables: Any) -> dict[str, Any]:
        self.calls += 1
        began = time.monotonic()
        response = await self.client.post(
            "/graphql",
            json={"query": document, "variables": variables},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        body = response.json()
        name = document.split("{", 2)[1].split("(")[0].strip()
        self.spent[name] = self.spent.get(name, 0.0) + time.monotonic() - began
        if response.status_code != 200 or body.get("errors"):
            raise DemoError(f"{document.split('(')[0].strip()}: {body.get('errors') or response.text}")
        data: dict[str, Any] = body["data"]
        for payload in data.values():
            if isinstance(payload, dict) and payload.get("userErrors"):
                raise DemoError(f"{document.split('{')[1].split('(')[0].strip()}: {payload['userErrors']} {variables}")
        return data

    async def mutate(self, name: str, input_type: str, fields: str, value: dict[str, Any]) -> dict[str, Any]:
        document = (
            f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {fields} userErrors {{ field code message }} }} }}"
        )
        return (await self(document, i=value))[name]


@contextlib.asynccontextmanager
async def in_process_api(settings: Settings, database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app `serve` runs, started in this process (its lifespan included), rate limits off."""
    from valueverse.app import create_app

    quiet = settings.model_copy(
        update={"rate_limit_per_second": 0, "rate_limit_ip_per_second": 0, "rate_limit_burst": 0,
                "rate_limit_ip_burst": 0}
    )  # fmt: skip
    app = create_app(quiet, database_url, redis_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        # Links the API builds from the request (a portal link without PUBLIC_URL) point where `serve` listens.
        origin = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
        async with httpx.AsyncClient(transport=transport, base_url=origin, timeout=600) as client:
            yield client


# ---- the run ---------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    organization_id: str
    api_key: str
    admin_email: str
    admin_password: str
    customers: int
    invoices: int
    seconds: float
    api_calls: int
    portal_url: str | None = None
    portal_customer: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)


INVOICE_PAGE = """query($s: InvoiceStatus, $a: String) { invoices(status: $s, first: 100, after: $a) {
  pageInfo { hasNextPage endCursor } nodes { id status totalAmount amountDue amountPaid currency issuedAt
  customer { externalId } } } }"""


class Story:
    def __init__(self, api: Api, lives: list[Life], rng: random.Random, clock_id: str, now: datetime) -> None:
        self.api, self.lives, self.rng, self.clock_id, self.now = api, lives, rng, clock_id, now
        self.by_id = {life.external_id: life for life in lives}
        self.clock_time: datetime | None = None
        self.events = 0
        self.gone_uncollectible: set[str] = set()
        self.credited: set[str] = set()

    async def advance(self, to: datetime) -> None:
        to = min(to, self.now)
        if self.clock_time is not None and to <= self.clock_time:
            return
        await self.api.mutate(
            "advanceTestClock",
            "AdvanceTestClockInput",
            "testClock { status frozenTime }",
            {"testClockId": self.clock_id, "frozenTime": to.isoformat()},
        )
        self.clock_time = to

    async def gather(self, calls: list[Any], width: int = 4) -> None:
        """Run independent API calls a few at a time (each its own transaction)."""
        gate = asyncio.Semaphore(width)

        async def one(call: Any) -> None:
            async with gate:
                await call

        await asyncio.gather(*(one(call) for call in calls))

    # -- lifecycle --

    async def subscribe(self, life: Life, plan: str, started_at: datetime) -> None:
        external_id = f"sub_{life.number:04d}_{len(life.subscriptions) + 1}"
        await self.api.mutate(
            "createSubscription",
            "CreateSubscriptionInput",
            "subscription { status }",
            {"customerExternalId": life.external_id, "planCode": plan, "externalId": external_id,
             "startedAt": started_at.isoformat()},
        )  # fmt: skip
        life.subscriptions.append(external_id)

    async def join(self, life: Life, at: datetime) -> None:
        rng = self.rng
        country, timezone = rng.choice(EUR_COUNTRIES if life.currency == "EUR" else COUNTRIES)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SUFFIXES)}"
        await self.api.mutate(
            "createCustomer",
            "CreateCustomerInput",
            "customer { externalId }",
            {"externalId": life.external_id, "name": f"{name} #{life.number}",
             "email": f"billing+{life.number}@{name.split()[0].lower().replace(' ', '')}.example",
             "currency": life.currency, "country": country, "timezone": timezone, "testClockId": self.clock_id,
             "metadata": {"segment": rng.choice(["SMB", "Mid-market", "Enterprise"])}},
        )  # fmt: skip
        if life.coupon:
            await self.apply_coupon(life, life.coupon)
        await self.subscribe(life, life.plan, at)

    async def apply_coupon(self, life: Life, code: str) -> None:
        await self.api.mutate(
            "applyCoupon", "ApplyCouponInput", "__typename",
            {"customerExternalId": life.external_id, "couponCode": code},
        )  # fmt: skip

    async def change_plan(self, life: Life, plan: str) -> None:
        await self.api.mutate(
            "changeSubscriptionPlan", "ChangeSubscriptionPlanInput", "subscription { status }",
            {"externalId": life.subscriptions[-1], "planCode": plan},
        )  # fmt: skip

    async def cancel(self, life: Life) -> None:
        await self.api.mutate(
            "cancelSubscription", "EndSubscriptionInput", "subscription { status }",
            {"externalId": life.subscriptions[-1]},
        )  # fmt: skip

    def active(self, life: Life, month: int) -> bool:
        if month < life.joins:
            return False
        if life.churn is not None and month > life.churn:
            return life.comes_back is not None and month >= life.comes_back
        return True

    def plan_in(self, life: Life, month: int) -> str:
        plan = life.plan
        if life.upgrade is not None and month >= life.upgrade:
            plan = UPGRADE[plan]
        if life.downgrade is not None and month > life.downgrade:
            plan = DOWNGRADE[plan]
        return plan

    # -- usage --

    def usage_events(self, month: int, since: datetime, until: datetime) -> list[dict[str, Any]]:
        rng, events = self.rng, []
        seconds = max(int((until - since).total_seconds()) - 60, 60)
        season = 1 + 0.25 * ((month % 12) in (10, 11))  # a busier end of year
        for life in self.lives:
            if not self.active(life, month):
                continue
            plan = self.plan_in(life, month)
            scale = life.usage * season * rng.uniform(0.7, 1.3) * (1 + 0.04 * month)
            wanted: list[tuple[str, str, float, int]] = []
            if plan in ("starter", "starter-eur"):
                wanted.append(("api_calls", "calls", 40000 * scale, 3))
            elif plan in ("growth", "growth-yearly"):
                wanted += [("api_calls", "calls", 160000 * scale, 3), ("messages", "count", 4000 * scale, 2)]
            elif plan == "scale":
                wanted += [("storage_gb", "gb", 320 * scale, 2), ("api_calls", "calls", 600000 * scale, 2)]
            elif plan == "payments":
                wanted.append(("payment_volume", "amount", 18000 * scale, 4))
            elif plan == "enterprise-yearly":
                wanted.append(("payment_volume", "amount", 90000 * scale, 3))
            for metric, key, total, parts in wanted:
                for part in range(parts):
                    value = Decimal(total / parts).quantize(Decimal("0.01") if metric == "payment_volume" else 1)
                    events.append({
                        "transactionId": f"{life.external_id}-{month}-{metric}-{part}",
                        "customerExternalId": life.external_id,
                        "metricCode": metric,
                        "timestamp": (since + timedelta(seconds=rng.randint(0, seconds))).isoformat(),
                        "properties": {key: str(value)},
                    })  # fmt: skip
        return events

    async def send_usage(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), 500):
            batch = events[start : start + 500]
            result = await self.api(
                "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { accepted duplicates "
                "rejected { index code message } userErrors { code message } } }",
                i={"events": batch},
            )
            rejected = result["ingestUsage"]["rejected"]
            if rejected:
                raise DemoError(f"usage rejected: {rejected[:3]}")
            self.events += len(batch)

    # -- getting paid --

    async def open_invoices(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = (await self.api(INVOICE_PAGE, s="OPEN", a=after))["invoices"]
            found += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    async def collect(self, at: datetime) -> None:
        """Each open invoice is paid (or not) by its customer's habit, as of `at`."""
        calls = []
        for invoice in await self.open_invoices():
            life = self.by_id.get(invoice["customer"]["externalId"])
            issued = datetime.fromisoformat(invoice["issuedAt"]) if invoice["issuedAt"] else at
            age = (at - issued).days
            left = Decimal(invoice["amountDue"]) - Decimal(invoice["amountPaid"])
            if life is None or left <= 0:
                continue
            roll = self.rng.random()
            paid_at = min(issued + timedelta(days=self.rng.randint(1, 9), hours=self.rng.randint(0, 23)), at)
            if life.habit == "GOOD":
                if roll < 0.012:
                    calls.append(self._void(invoice))
                elif roll < 0.03 and invoice["id"] not in self.credited:
                    calls.append(self._credit(invoice, left))
                else:
                    calls.append(self._pay(invoice, left, paid_at, "WIRE" if roll < 0.6 else "ACH_CREDIT"))
            elif life.habit == "LATE" and age >= 24:
                calls.append(self._pay(invoice, left, at - timedelta(days=self.rng.randint(0, 3)), "CHECK"))
            elif life.habit == "PARTIAL":
                if Decimal(invoice["amountPaid"]) == 0:
                    half = (left / 2).quantize(Decimal("0.01"))
                    calls.append(self._pay(invoice, half, paid_at, "WIRE"))
                elif age >= 30:
                    calls.append(self._pay(invoice, left, at, "WIRE"))
            elif life.habit == "NEVER" and age >= 60 and invoice["id"] not in self.gone_uncollectible:
                if roll < 0.5:
                    self.gone_uncollectible.add(invoice["id"])
                    calls.append(self.api.mutate("markInvoiceUncollectible", "InvoiceIdInput", "invoice { status }",
                                                 {"id": invoice["id"]}))  # fmt: skip
        await self.gather(calls)

    async def _pay(self, invoice: dict[str, Any], amount: Decimal, paid_at: datetime, method: str) -> None:
        await self.api.mutate(
            "recordPayment", "RecordPaymentInput", "payment { id }",
            {"invoiceId": invoice["id"], "amount": str(amount), "method": method, "paidAt": paid_at.isoformat(),
             "reference": f"DEMO-{invoice['id'][:8]}"},
        )  # fmt: skip

    async def _void(self, invoice: dict[str, Any]) -> None:
        await self.api.mutate("voidInvoice", "InvoiceIdInput", "invoice { status }", {"id": invoice["id"]})

    async def _credit(self, invoice: dict[str, Any], left: Decimal) -> None:
        """A goodwill credit of a tenth of the invoice, the rest paid."""
        self.credited.add(invoice["id"])
        credit = (Decimal(invoice["totalAmount"]) / 10).quantize(Decimal("0.01"))
        if credit <= 0 or credit >= left:
            return
        await self.api.mutate(
            "createCreditNote", "CreateCreditNoteInput", "__typename",
            {"invoiceId": invoice["id"], "kind": "CREDIT", "amount": str(credit), "reason": "Goodwill: an outage"},
        )  # fmt: skip
        issued = datetime.fromisoformat(invoice["issuedAt"]) if invoice["issuedAt"] else self.now
        paid_at = min(issued + timedelta(days=5), self.clock_time or self.now)
        await self._pay(invoice, left - credit, paid_at, "WIRE")

    # -- a month --

    async def month(self, index: int, first: datetime) -> None:
        starts, ends = month_start(first, index), month_start(first, index + 1)
        await self.advance(starts + timedelta(hours=1))
        joining = [life for life in self.lives if life.joins == index]
        back = [life for life in self.lives if life.comes_back == index]
        await self.gather([self.join(life, starts) for life in joining])
        plans = {life.external_id: self.plan_in(life, index) for life in back}
        await self.gather([self.subscribe(life, plans[life.external_id], starts) for life in back])
        await self.gather([self.apply_coupon(life, "LOYAL10") for life in self.lives if life.loyal_from == index])

        middle = starts + timedelta(days=14, hours=12)
        await self.advance(middle)
        if self.clock_time is None or self.clock_time < middle:  # the month in progress: it stops now
            if self.clock_time is not None and self.clock_time > starts + timedelta(hours=2):
                await self.send_usage(self.usage_events(index, starts, self.clock_time))
            return
        await self.collect(middle)
        await self.gather([
            self.change_plan(life, UPGRADE[life.plan]) for life in self.lives
            if life.upgrade == index and self.active(life, index) and (life.churn is None or index <= life.churn)
        ])  # fmt: skip
        await self.gather([
            self.change_plan(life, DOWNGRADE[life.plan]) for life in self.lives
            if life.downgrade == index and self.active(life, index) and (life.churn is None or index < life.churn)
        ])  # fmt: skip
        await self.gather([self.cancel(life) for life in self.lives if life.churn == index])

        before_end = min(ends - timedelta(hours=2), self.now - timedelta(minutes=5))
        await self.advance(before_end)
        await self.send_usage(self.usage_events(index, starts, self.clock_time or before_end))
        await self.advance(ends + timedelta(hours=1))


async def already_loaded(database_url: str, email: str) -> str | None:
    """The organization of the demo admin `email`, if the demo was loaded already."""
    from db.repositories.organizations import find_staff_users_by_email
    from db.session import Database

    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as session:
            users = await find_staff_users_by_email(session, email)
        return str(users[0].organization_id) if users else None
    finally:
        await db.dispose()


async def load_demo(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    customers: int,
    seed: int,
    email: str = DEMO_EMAIL,
    now: datetime | None = None,
    progress: Any = None,
) -> DemoResult:
    """Create the demo organization and tell its year; refuses (AlreadyLoaded) when `email` has an account."""
    from services.analytics import forget_cached

    say = progress or (lambda _text: None)
    started = time.monotonic()
    existing = await already_loaded(database_url, email)
    if existing is not None:
        raise AlreadyLoaded(existing)
    from valueverse.cli import create_org_async

    created = await create_org_async(database_url, DEMO_NAME, "USD", "UTC", test=True)
    rng = random.Random(seed)
    now = (now or SYSTEM_CLOCK.now()).replace(microsecond=0)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = month_start(first, -MONTHS)
    lives = draw_lives(customers, rng)
    password = secrets.token_urlsafe(12)
    async with in_process_api(settings, database_url, redis_url) as client:
        api = Api(client, created["apiKey"])
        await api.mutate("updateOrganization", "UpdateOrganizationInput", "__typename",
                         {"netPaymentTermDays": 14, "invoicePrefix": "NWC", "country": "US",
                          "legalName": "Northwind Cloud, Inc."})  # fmt: skip
        await api.mutate("createStaffUser", "CreateStaffUserInput", "staffUser { id }",
                         {"email": email, "password": password, "role": "ADMIN", "name": "Demo Admin"})  # fmt: skip
        for metric in METRICS:
            await api.mutate("createBillableMetric", "CreateBillableMetricInput", "__typename", metric)
        for plan in PLANS:
            await api.mutate("createPlan", "CreatePlanInput", "__typename", plan)
        for coupon in COUPONS:
            await api.mutate("createCoupon", "CreateCouponInput", "__typename", coupon)
        clock = await api.mutate("createTestClock", "CreateTestClockInput", "testClock { id }",
                                 {"name": "Demo year", "frozenTime": first.isoformat()})  # fmt: skip
        story = Story(api, lives, rng, clock["testClock"]["id"], now)
        story.clock_time = first
        for index in range(MONTHS + 1):
            await story.month(index, first)
            say(f"  month {index + 1:2d}/{MONTHS + 1}: {month_start(first, index):%Y-%m} "
                f"({time.monotonic() - started:.0f} s, {api.calls} API calls)")  # fmt: skip
        await story.advance(now)
        await story.collect(now)
        statuses = {}
        for status in ("DRAFT", "OPEN", "PAID", "VOID", "UNCOLLECTIBLE"):
            query = "query($s: InvoiceStatus) { invoices(status: $s, first: 1) { totalCount } }"
            statuses[status] = (await api(query, s=status))["invoices"]["totalCount"]
        portal_url = portal_customer = None
        fields = await api("{ __schema { mutationType { fields { name } } } }")
        if any(f["name"] == "createCustomerPortalSession" for f in fields["__schema"]["mutationType"]["fields"]):
            portal_customer = next(life.external_id for life in lives if life.habit == "GOOD" and life.churn is None)
            try:
                session = await api.mutate("createCustomerPortalSession", "CreateCustomerPortalSessionInput", "url",
                                           {"customerExternalId": portal_customer})  # fmt: skip
                portal_url = session.get("url")
            except DemoError as error:  # another shape than docs/api.md's: no link, the rest stands
                say(f"  (no customer portal link: {error})")
                portal_customer = None
    forget_cached()
    for name, seconds in sorted(api.spent.items(), key=lambda item: -item[1])[:8]:
        say(f"    {name}: {seconds:.1f} s")
    return DemoResult(
        organization_id=created["organizationId"],
        api_key=created["apiKey"],
        admin_email=email,
        admin_password=password,
        customers=len(lives),
        invoices=sum(statuses.values()),
        seconds=round(time.monotonic() - started, 1),
        api_calls=api.calls,
        portal_url=portal_url,
        portal_customer=portal_customer,
        statuses=statuses,
    )


def admin_url(settings: Settings) -> str:
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return f"{base.rstrip('/')}/admin"


def banner(result: DemoResult, settings: Settings) -> str:
    lines = [
        "",
        f"  Demo tenant loaded: {DEMO_NAME} (TEST), {result.customers} customers, {result.invoices} invoices "
        f"in {result.seconds} s",
        f"  Admin portal:  {admin_url(settings)}   (start it with `valueverse serve` or `make run`)",
        f"    email:       {result.admin_email}",
        f"    password:    {result.admin_password}   (shown once; role ADMIN)",
        f"  API key:       {result.api_key}   (organization {result.organization_id})",
    ]
    if result.portal_url:
        lines.append(f"  Customer portal ({result.portal_customer}): {result.portal_url}")
    lines.append("  Revenue dashboard: Admin portal > Revenue")
    return "\n".join(lines) + "\n"


def remember(settings: Settings, result: DemoResult) -> Path:
    """The demo's sign-in kept in the data directory (0600), so that `make run` can show it again."""
    path = settings.data_dir / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"organizationId": result.organization_id, "apiKey": result.api_key,
                                "adminEmail": result.admin_email, "adminPassword": result.admin_password}))  # fmt: skip
    path.chmod(0o600)
    return path


def run(settings: Settings, database_url: str, redis_url: str, customers: int, seed: int, email: str) -> int:
    """`valueverse demo`: one JSON line on stdout, the sign-in on stderr; exit 0 (also when already loaded)."""
    try:
        result = asyncio.run(
            load_demo(settings, database_url, redis_url, customers=customers, seed=seed, email=email,
                      progress=lambda text: print(text, file=sys.stderr, flush=True))
        )  # fmt: skip
    except DemoError as error:
        print(f"error: the demo could not be loaded: {error}", file=sys.stderr)
        return 1
    except AlreadyLoaded as loaded:
        kept = settings.data_dir / "demo.json"
        print(
            f"the demo tenant is already loaded (organization {loaded.organization_id}, admin {email}); nothing done."
            + (f"\n  its sign-in is in {kept}" if kept.exists() else "")
            + "\n  to load another, pass --email with an address not used yet",
            file=sys.stderr,
        )
        print(json.dumps({"organizationId": loaded.organization_id, "alreadyLoaded": True}))
        return 0
    remember(settings, result)
    print(banner(result, settings), file=sys.stderr, flush=True)
    print(json.dumps({
        "organizationId": result.organization_id, "apiKey": result.api_key, "adminEmail": result.admin_email,
        "adminPassword": result.admin_password, "adminUrl": admin_url(settings), "customers": result.customers,
        "invoices": result.statuses, "seconds": result.seconds, "portalUrl": result.portal_url,
    }))  # fmt: skip
    return 0
