"""Dates, GraphQL documents and checks shared by the end-to-end billing scenarios.

Dates are anchored once, on the first of the current month (UTC), so that a scenario's expected
figures never depend on the day it runs: usage goes in the last 60 hours before that anchor
(always less than 35 days old), and a scenario that needs a month of a given length picks the
most recent ended month that has it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.graph.catalog_helpers import uid

EXPONENT = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}

NOW = datetime.now(UTC)
THIS_MONTH = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)  # the anchor


def add_months(first_of_month: datetime, months: int) -> datetime:
    years, month = divmod(first_of_month.month - 1 + months, 12)
    return first_of_month.replace(year=first_of_month.year + years, month=month + 1)


LAST_MONTH = add_months(THIS_MONTH, -1)
TWO_MONTHS_AGO = add_months(THIS_MONTH, -2)
THREE_MONTHS_AGO = add_months(THIS_MONTH, -3)


def recent_month(days: int) -> tuple[datetime, datetime]:
    """The most recent calendar month of `days` days that has ended by THIS_MONTH: (start, end)."""
    end = THIS_MONTH
    for _ in range(12):
        start = add_months(end, -1)
        if (end - start).days == days:
            return start, end
        end = start
    raise AssertionError(f"no {days}-day month in the last year")


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from one first-of-month to another."""
    return (end.year - start.year) * 12 + end.month - start.month


def before_anchor(hours: float) -> str:
    """A usage timestamp in last month's final days (at most 60 hours before the anchor)."""
    assert 0 < hours <= 60
    return (THIS_MONTH - timedelta(hours=hours)).isoformat()


def today_utc() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# --- GraphQL documents -------------------------------------------------------------------------

INVOICE_FIELDS = """fragment Inv on Invoice { id number status kind currency periodStart periodEnd issuedAt
  subtotalAmount discountAmount progressiveBillingCreditAmount taxAmount totalAmount creditNotesAmount
  creditsAmount amountDue reverseCharge notes customer { externalId }
  lines { kind description subscriptionExternalId billableMetricCode units periodStart periodEnd amount
    discountAmount taxAmount taxRates { code rate } }
  creditNotes { number kind amount remainingCredit } }"""
RUN = (
    """mutation Run($asOf: DateTime) { runBilling(input: {asOf: $asOf}) {
  invoices { ...Inv } failures { customerExternalId reason } userErrors { code message } } }"""
    + INVOICE_FIELDS
)
INVOICES = (
    """query Invoices($c: String) { invoices(customerExternalId: $c, first: 200) { totalCount nodes { ...Inv } } }"""
    + INVOICE_FIELDS
)
INVOICE = """query Invoice($id: ID!) { invoice(id: $id) { ...Inv } }""" + INVOICE_FIELDS
INGEST = """mutation Ingest($input: IngestUsageInput!) { ingestUsage(input: $input) {
  accepted duplicates rejected { index transactionId code message } userErrors { code } } }"""
CHANGE_PLAN = """mutation Change($s: String!, $p: String!) {
  changeSubscriptionPlan(input: {externalId: $s, planCode: $p}) {
  subscription { plan { code } nextPlan { code } currentPeriodStart currentPeriodEnd }
  userErrors { code message } } }"""
WALLET = "query Wallet($c: String!) { wallet(customerExternalId: $c) { currency balance } }"


async def mutate(api, document: str, field: str, **variables: Any) -> dict:
    """Run a mutation and require that it reports no userErrors."""
    data = (await api(document, **variables))[field]
    assert data["userErrors"] == [], data
    return data


async def run_billing(api, as_of: datetime | str | None) -> list[dict]:
    as_of = as_of.isoformat() if isinstance(as_of, datetime) else as_of
    data = (await api(RUN, asOf=as_of))["runBilling"]
    assert data["userErrors"] == [] and data["failures"] == [], data
    return data["invoices"]


async def invoices_of(api, customer: str) -> list[dict]:
    """The customer's invoices in billing order (period end, then number)."""
    nodes = (await api(INVOICES, c=customer))["invoices"]["nodes"]
    return sorted(nodes, key=lambda i: (i["periodEnd"], i["number"] or ""))


async def invoice(api, invoice_id: str) -> dict:
    return (await api(INVOICE, id=invoice_id))["invoice"]


async def make_plan(
    api,
    code: str,
    name: str,
    amount: str,
    charges: list | None = None,
    *,
    currency: str = "USD",
    interval: str = "MONTHLY",
    **extra: Any,
) -> dict:
    doc = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { code } userErrors { field code message } } }"""
    data = await mutate(
        api,
        doc,
        "createPlan",
        input={
            "code": code,
            "name": name,
            "interval": interval,
            "currency": currency,
            "amount": amount,
            "charges": charges or [],
            **extra,
        },
    )
    return data["plan"]


def standard(metric: str, amount: str) -> dict:
    return {"billableMetricCode": metric, "model": "STANDARD", "properties": {"amount": amount}}


async def tax_rate(api, code: str, rate: str, *, organization: bool = False) -> None:
    await mutate(
        api,
        "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { taxRate { code } "
        "userErrors { field code message } } }",
        "createTaxRate",
        i={"code": code, "name": code.upper(), "rate": rate, "appliesToOrganization": organization},
    )


async def assign_tax(
    api, code: str, *, customer: str | None = None, plan: str | None = None, metric: str | None = None
) -> None:
    await mutate(
        api,
        "mutation($i: TaxRateAssignmentInput!) { assignTaxRate(input: $i) { taxRate { code } "
        "userErrors { field code message } } }",
        "assignTaxRate",
        i={"taxRateCode": code, "customerExternalId": customer, "planCode": plan, "billableMetricCode": metric},
    )


async def coupon(api, code: str, kind: str, duration: str = "ONCE", **fields: Any) -> None:
    await mutate(
        api,
        "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { code } "
        "userErrors { field code message } } }",
        "createCoupon",
        i={"code": code, "name": code, "kind": kind, "duration": duration, **fields},
    )


async def apply_coupon(api, customer: str, code: str) -> None:
    await mutate(
        api,
        "mutation($c: String!, $k: String!) { applyCoupon(input: {customerExternalId: $c, couponCode: $k}) "
        "{ coupon { code } userErrors { field code message } } }",
        "applyCoupon",
        c=customer,
        k=code,
    )


async def grant_credits(api, customer: str, amount: str, *, create: bool = True) -> str:
    if create:
        await mutate(
            api,
            "mutation($c: String!) { createWallet(input: {customerExternalId: $c}) { wallet { id } "
            "userErrors { field code message } } }",
            "createWallet",
            c=customer,
        )
    data = await mutate(
        api,
        "mutation($c: String!, $a: Decimal!) { topUpWallet(input: {customerExternalId: $c, grantedCredits: $a}) "
        "{ wallet { balance } userErrors { field code message } } }",
        "topUpWallet",
        c=customer,
        a=amount,
    )
    return data["wallet"]["balance"]


async def wallet_balance(api, customer: str) -> str:
    return (await api(WALLET, c=customer))["wallet"]["balance"]


async def credit_note(api, invoice_id: str, amount: str, kind: str = "CREDIT") -> dict:
    data = await mutate(
        api,
        "mutation($i: CreateCreditNoteInput!) { createCreditNote(input: $i) { creditNote { number kind amount "
        "remainingCredit } userErrors { field code message } } }",
        "createCreditNote",
        i={"invoiceId": invoice_id, "kind": kind, "amount": amount, "reason": "scenario"},
    )
    return data["creditNote"]


async def mark_paid(api, invoice_id: str) -> None:
    data = await mutate(
        api,
        "mutation($id: ID!) { markInvoicePaid(input: {invoiceId: $id}) { invoice { status } "
        "userErrors { field code message } } }",
        "markInvoicePaid",
        id=invoice_id,
    )
    assert data["invoice"]["status"] == "PAID"


def event(
    customer: str, metric: str, at: str | None = None, transaction_id: str | None = None, **properties: Any
) -> dict:
    return {
        "transactionId": transaction_id or uid("tx"),
        "customerExternalId": customer,
        "metricCode": metric,
        "timestamp": at,
        "properties": properties,
    }


async def ingest(api, events: list[dict], *, duplicates: int = 0) -> None:
    result = (await api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["rejected"] == [] and result["userErrors"] == [], result
    assert (result["accepted"], result["duplicates"]) == (len(events) - duplicates, duplicates), result


# --- checks ------------------------------------------------------------------------------------

AMOUNTS = (
    "subtotalAmount",
    "discountAmount",
    "progressiveBillingCreditAmount",
    "taxAmount",
    "totalAmount",
    "creditNotesAmount",
    "creditsAmount",
    "amountDue",
)


def check_invariants(inv: dict) -> None:
    """docs, Invoice: every line rounded to the currency's minor unit, totals are sums of lines, and
    total = Σ lines - discounts - progressive credit + taxes; amountDue = total - credit notes - credits."""
    places = EXPONENT[inv["currency"]]
    where = (inv["customer"]["externalId"], inv["periodStart"], inv["periodEnd"], inv["number"])

    def amount(value: str) -> Decimal:
        number = Decimal(value)
        assert -number.as_tuple().exponent == places, (where, value, f"{places} decimals in {inv['currency']}")
        return number

    d = {k: amount(inv[k]) for k in AMOUNTS}
    lines = inv["lines"]
    assert all(amount(line["amount"]) >= 0 for line in lines), where
    assert d["subtotalAmount"] == sum((amount(line["amount"]) for line in lines), Decimal(0)), where
    assert d["discountAmount"] == sum((amount(line["discountAmount"]) for line in lines), Decimal(0)), where
    assert d["taxAmount"] == sum((amount(line["taxAmount"]) for line in lines), Decimal(0)), where
    assert d["totalAmount"] == (
        d["subtotalAmount"] - d["discountAmount"] - d["progressiveBillingCreditAmount"] + d["taxAmount"]
    ), where
    assert d["amountDue"] == d["totalAmount"] - d["creditNotesAmount"] - d["creditsAmount"], where
    assert min(d.values()) >= 0, where
    if d["amountDue"] == 0 and inv["status"] != "VOID":
        assert inv["status"] == "PAID", (where, "an amount due of 0 is PAID at once")


def totals(inv: dict) -> dict:
    """The invoice's money fields, to compare with a hand-computed expectation."""
    return {
        "subtotal": inv["subtotalAmount"],
        "discount": inv["discountAmount"],
        "tax": inv["taxAmount"],
        "total": inv["totalAmount"],
        "creditNotes": inv["creditNotesAmount"],
        "credits": inv["creditsAmount"],
        "due": inv["amountDue"],
        "status": inv["status"],
    }


def expected(
    subtotal: str,
    tax: str,
    total: str,
    *,
    discount: str | None = None,
    credit_notes: str | None = None,
    credits: str | None = None,
    due: str | None = None,
    status: str = "OPEN",
    zero: str = "0.00",
) -> dict:
    return {
        "subtotal": subtotal,
        "discount": discount or zero,
        "tax": tax,
        "total": total,
        "creditNotes": credit_notes or zero,
        "credits": credits or zero,
        "due": due or total,
        "status": status,
    }


def lines_of(inv: dict) -> list[tuple]:
    """(kind, metric, units, amount, discount, tax) per line, in the invoice's order."""
    return [
        (
            line["kind"],
            line["billableMetricCode"],
            line["units"],
            line["amount"],
            line["discountAmount"],
            line["taxAmount"],
        )
        for line in inv["lines"]
    ]


def day(moment: datetime) -> str:
    """A local (UTC) midnight as the API prints it."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
