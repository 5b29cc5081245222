"""Billing runs through the public API: invoices with fees, usage, true-ups and taxes, exactly once."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pypdf
from gql import gql

from tests.client import ws_client
from tests.db import scalar
from tests.graph.catalog_helpers import CREATE_PLAN, INGEST, USAGE, customer, metric, plan, send, subscribe, uid

RUN = """mutation($asOf: DateTime) { runBilling(input: {asOf: $asOf}) {
  invoices { id number status kind currency periodStart periodEnd subtotalAmount discountAmount
    progressiveBillingCreditAmount taxAmount totalAmount
    creditNotesAmount creditsAmount amountDue reverseCharge notes pdfUrl customer { externalId }
    lines { kind description billableMetricCode units amount taxAmount taxRates { code rate } } }
  failures { customerExternalId reason } userErrors { code } } }"""
INVOICES = """query($c: String) { invoices(customerExternalId: $c) {
  totalCount nodes { id number status totalAmount } } }"""
INVOICES_WITH_PERIOD = """query($c: String) { invoices(customerExternalId: $c) {
  nodes { id periodStart periodEnd } } }"""


def _months_ago(n: int, extra_days: int = 1) -> str:
    now = datetime.now(UTC)
    return (now - timedelta(days=31 * n + extra_days)).isoformat()


async def _run(api, as_of: str | None = None) -> dict:
    data = (await api(RUN, asOf=as_of))["runBilling"]
    assert data["userErrors"] == [] and data["failures"] == [], data
    return data


def _check_invariants(invoice: dict) -> None:
    d = {
        k: Decimal(invoice[k])
        for k in (
            "subtotalAmount",
            "discountAmount",
            "taxAmount",
            "totalAmount",
            "creditNotesAmount",
            "creditsAmount",
            "amountDue",
        )
    }
    interim = Decimal(invoice.get("progressiveBillingCreditAmount", "0"))
    assert d["totalAmount"] == d["subtotalAmount"] - d["discountAmount"] - interim + d["taxAmount"]
    assert d["amountDue"] == d["totalAmount"] - d["creditNotesAmount"] - d["creditsAmount"]
    assert sum(Decimal(line["amount"]) for line in invoice["lines"]) == d["subtotalAmount"]
    assert sum(Decimal(line["taxAmount"]) for line in invoice["lines"]) == d["taxAmount"]


async def _monthly_customer(api, *, amount: str = "30", unit_price: str = "0.5", **plan_extra) -> tuple[str, str]:
    m = uid("calls")
    await metric(api, m, "COUNT")
    code = uid("plan")
    await plan(
        api,
        code,
        [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": unit_price}}],
        amount=amount,
        **plan_extra,
    )
    cust = uid("cust")
    await customer(api, cust, timezone="UTC")
    await subscribe(api, cust, code, uid("sub"), startedAt=_months_ago(2), billingTime="ANNIVERSARY")
    return cust, m


async def test_each_ended_period_is_invoiced_once_with_fee_and_usage(tenant) -> None:
    cust, m = await _monthly_customer(tenant.api)
    now = datetime.now(UTC)
    events = [
        {
            "transactionId": uid("t"),
            "customerExternalId": cust,
            "metricCode": m,
            "timestamp": (now - timedelta(days=d)).isoformat(),
        }
        for d in (5, 6, 7, 8)
    ]
    # the second period ended 1 day ago: these four events are in it
    result = await tenant.api(
        "mutation($e: [UsageEventInput!]!) { ingestUsage(input: {events: $e}) { accepted } }", e=events
    )
    assert result["ingestUsage"]["accepted"] == 4
    first = await _run(tenant.api)
    invoices = sorted(first["invoices"], key=lambda i: i["periodEnd"])
    assert len(invoices) == 2
    for invoice in invoices:
        _check_invariants(invoice)
        assert invoice["status"] == "OPEN" and invoice["currency"] == "USD"
        assert invoice["lines"][0] == {
            "kind": "SUBSCRIPTION",
            "description": invoice["lines"][0]["description"],
            "billableMetricCode": None,
            "units": None,
            "amount": "30.00",
            "taxAmount": "0.00",
            "taxRates": [],
        }
    assert [line["units"] for line in invoices[1]["lines"] if line["kind"] == "CHARGE"] == ["4"]
    assert invoices[1]["totalAmount"] == "32.00" and invoices[0]["totalAmount"] == "30.00"
    numbers = [i["number"] for i in invoices]
    prefix = numbers[0].rsplit("-", 1)[0]
    assert numbers == [f"{prefix}-0001", f"{prefix}-0002"]
    again = await _run(tenant.api)
    assert again["invoices"] == []
    assert (await tenant.api(INVOICES, c=cust))["invoices"]["totalCount"] == 2


async def test_concurrent_runs_never_duplicate_an_invoice(tenant) -> None:
    customers = [await _monthly_customer(tenant.api) for _ in range(3)]
    runs = await asyncio.gather(*[tenant.api(RUN, asOf=None) for _ in range(4)])
    made = [i for r in runs for i in r["runBilling"]["invoices"]]
    assert len(made) == 6
    for cust, _ in customers:
        assert (await tenant.api(INVOICES, c=cust))["invoices"]["totalCount"] == 2
    numbers = sorted(int(i["number"].rsplit("-", 1)[1]) for i in made)
    assert numbers == list(range(1, 7))  # gapless
    # every run wrote its entries into one unbroken chain: created + finalized per invoice
    chain = (await tenant.api("{ verifyAuditChain { valid checkedEntries } }"))["verifyAuditChain"]
    audited = await tenant.api(
        '{ auditLogs(first: 100, action: "invoice.finalized") { totalCount nodes { targetId after } } }'
    )
    assert chain["valid"] is True
    assert audited["auditLogs"]["totalCount"] == 6
    assert sorted(n["targetId"] for n in audited["auditLogs"]["nodes"]) == sorted(i["id"] for i in made)


async def test_taxes_most_specific_level_wins_and_exempt_customers_pay_none(tenant) -> None:
    api = tenant.api
    for code, rate, default in (("vat20", "20", True), ("reduced", "5.5", False)):
        data = await api(
            "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { userErrors { code } } }",
            i={"code": code, "name": code.upper(), "rate": rate, "appliesToOrganization": default},
        )
        assert data["createTaxRate"]["userErrors"] == []
    default_cust, _ = await _monthly_customer(api, amount="10")
    reduced_cust, _ = await _monthly_customer(api, amount="10")
    exempt_cust, _ = await _monthly_customer(api, amount="10")
    await api(
        'mutation($c: String!) { assignTaxRate(input: {taxRateCode: "reduced", customerExternalId: $c}) '
        "{ userErrors { code } } }",
        c=reduced_cust,
    )
    await api(
        "mutation($c: String!) { updateCustomer(input: {externalId: $c, taxExempt: true}) { userErrors { code } } }",
        c=exempt_cust,
    )
    invoices = {i["customer"]["externalId"]: i for i in (await _run(api))["invoices"]}
    assert invoices[default_cust]["taxAmount"] == "2.00" and invoices[default_cust]["totalAmount"] == "12.00"
    assert invoices[reduced_cust]["taxAmount"] == "0.55"
    assert invoices[exempt_cust]["taxAmount"] == "0.00"
    for invoice in invoices.values():
        _check_invariants(invoice)


async def test_eu_reverse_charge_puts_no_tax_and_a_note(tenant) -> None:
    api = tenant.api
    await api(
        'mutation { updateOrganization(input: {country: "FR", legalName: "Acme SAS", '
        'taxIdentificationNumber: "FR40303265045"}) { userErrors { code } } }'
    )
    await api(
        'mutation { createTaxRate(input: {code: "tva", name: "TVA", rate: "20", appliesToOrganization: true}) '
        "{ userErrors { code } } }"
    )
    cust, _ = await _monthly_customer(api, amount="100")
    await api(
        'mutation($c: String!) { updateCustomer(input: {externalId: $c, country: "DE", '
        'taxIdentificationNumber: "DE136695976"}) { userErrors { code } } }',
        c=cust,
    )
    invoice = next(i for i in (await _run(api))["invoices"] if i["customer"]["externalId"] == cust)
    assert invoice["taxAmount"] == "0.00" and invoice["reverseCharge"] is True
    assert "reverse charge" in invoice["notes"].lower()


async def test_minimum_commitment_is_trued_up(tenant) -> None:
    await _monthly_customer(tenant.api, amount="10", minimumCommitment="50")
    invoice = sorted((await _run(tenant.api))["invoices"], key=lambda i: i["periodEnd"])[0]
    true_up = [line for line in invoice["lines"] if line["kind"] == "TRUE_UP"]
    assert [line["amount"] for line in true_up] == ["40.00"] and invoice["totalAmount"] == "50.00"


async def test_minimum_commitment_counts_fees_paid_in_advance_and_leaves_out_trial_days(tenant) -> None:
    api = tenant.api
    await plan(api, "advance-10", [], amount="10", payInAdvance=True, minimumCommitment="50")
    await plan(api, "trial-commit", [], amount="0", minimumCommitment="31", trialPeriodDays=10)
    started = datetime.now(UTC) - timedelta(days=75)
    advance, trial = uid("cust"), uid("cust")
    for cust, code in ((advance, "advance-10"), (trial, "trial-commit")):
        await customer(api, cust, timezone="UTC")
        await subscribe(api, cust, code, uid("sub"), startedAt=started.isoformat(), billingTime="ANNIVERSARY")
    invoices = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])
    for invoice in invoices:
        _check_invariants(invoice)
    # In advance: the first invoice (at the start) bills the first period's 10.00; the end of that period bills
    # the next period's 10.00 and lifts the first period to 50: 50 - 10 already billed = 40.
    mine = [i for i in invoices if i["customer"]["externalId"] == advance]
    assert [line["amount"] for line in mine[0]["lines"]] == ["10.00"]
    assert sorted((line["kind"], line["amount"]) for line in mine[1]["lines"]) == [
        ("SUBSCRIPTION", "10.00"),
        ("TRUE_UP", "40.00"),
    ]
    # Trial: the commitment covers the billed days only, 31 x (days - 10) / days of the first period.
    first = next(i for i in invoices if i["customer"]["externalId"] == trial)
    days = (datetime.fromisoformat(first["periodEnd"]).date() - started.date()).days
    expected = (Decimal(31) * (days - 10) / days).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert [(line["kind"], line["amount"]) for line in first["lines"]] == [("TRUE_UP", str(expected))]


async def test_void_and_bad_transitions(tenant) -> None:
    await _monthly_customer(tenant.api)
    invoice = (await _run(tenant.api))["invoices"][0]
    voided = await tenant.api(
        "mutation($id: ID!) { voidInvoice(input: {id: $id}) { invoice { status } userErrors { code } } }",
        id=invoice["id"],
    )
    assert voided["voidInvoice"]["invoice"]["status"] == "VOID"
    again = await tenant.api(
        "mutation($id: ID!) { finalizeInvoice(input: {id: $id}) { invoice { status } userErrors { code field } } }",
        id=invoice["id"],
    )
    assert again["finalizeInvoice"]["invoice"] is None
    assert again["finalizeInvoice"]["userErrors"][0]["code"] == "INVALID_INVOICE_TRANSITION"


async def test_the_pdf_reads_back_with_its_numbers(stack, tenant) -> None:
    cust, _ = await _monthly_customer(tenant.api)
    invoice = sorted((await _run(tenant.api))["invoices"], key=lambda i: i["periodEnd"])[0]
    async with aiohttp.ClientSession() as http, http.get(invoice["pdfUrl"]) as response:
        assert response.status == 200 and response.content_type == "application/pdf"
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(await response.read())).pages)
    assert invoice["number"] in text and "30.00 USD" in text and cust in text
    forged = invoice["pdfUrl"].replace("signature=", "signature=x")
    async with aiohttp.ClientSession() as http, http.get(forged) as response:
        assert response.status == 403


async def test_invoice_updated_is_pushed(stack, tenant) -> None:
    cust, _ = await _monthly_customer(tenant.api)
    request = gql("subscription($c: String) { invoiceUpdated(customerExternalId: $c) { number status } }")
    request.variable_values = {"c": cust}
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        stream = session.subscribe(request).__aiter__()
        waiter = asyncio.create_task(stream.__anext__())
        for _ in range(50):  # the subscription is live once the server subscribed; retry the run until seen
            await _run(tenant.api)
            done, _ = await asyncio.wait({waiter}, timeout=0.2)
            if done:
                break
            await tenant.api(
                "mutation($id: ID!) { voidInvoice(input: {id: $id}) { userErrors { code } } }",
                id=(await tenant.api(INVOICES, c=cust))["invoices"]["nodes"][0]["id"],
            )
        pushed = await asyncio.wait_for(waiter, timeout=10)
    assert pushed["invoiceUpdated"]["status"] in ("OPEN", "VOID")


async def test_grace_period_keeps_refreshable_drafts_until_finalized(tenant) -> None:
    api = tenant.api
    await api("mutation { updateOrganization(input: {invoiceGracePeriodDays: 3}) { userErrors { code } } }")
    cust, m = await _monthly_customer(api, amount="30")
    drafts = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])
    assert [(d["status"], d["number"], d["pdfUrl"]) for d in drafts] == [("DRAFT", None, None)] * 2
    assert [line["units"] for line in drafts[1]["lines"] if line["kind"] == "CHARGE"] == ["0"]
    late = datetime.now(UTC) - timedelta(days=3)  # a late event inside the second (ended) period
    await api(
        "mutation($e: [UsageEventInput!]!) { ingestUsage(input: {events: $e}) { accepted } }",
        e=[{"transactionId": uid("late"), "customerExternalId": cust, "metricCode": m, "timestamp": late.isoformat()}],
    )
    refreshed = await api(
        "mutation($id: ID!) { refreshInvoice(input: {id: $id}) { invoice { status totalAmount "
        "lines { kind units } } userErrors { code } } }",
        id=drafts[1]["id"],
    )
    invoice = refreshed["refreshInvoice"]["invoice"]
    assert invoice["status"] == "DRAFT" and invoice["totalAmount"] == "30.50"
    assert [line["units"] for line in invoice["lines"] if line["kind"] == "CHARGE"] == ["1"]
    assert (await _run(api))["invoices"] == []  # drafts count: no second invoice for the period
    final = await api(
        "mutation($id: ID!) { finalizeInvoice(input: {id: $id}) { invoice { status number totalAmount }"
        " userErrors { code } } }",
        id=drafts[1]["id"],
    )
    assert final["finalizeInvoice"]["invoice"]["status"] == "OPEN"
    assert final["finalizeInvoice"]["invoice"]["number"].endswith("-0001")  # numbered when finalized, gapless
    again = await api(
        "mutation($id: ID!) { refreshInvoice(input: {id: $id}) { userErrors { code } } }", id=drafts[1]["id"]
    )
    assert again["refreshInvoice"]["userErrors"] == [{"code": "INVOICE_NOT_DRAFT"}]


async def test_upgrade_credits_unused_advance_fee_and_bills_the_new_plan_at_once(tenant) -> None:
    api = tenant.api
    await plan(api, "adv-basic", [], amount="30", payInAdvance=True)
    await plan(api, "adv-pro", [], amount="90", payInAdvance=True)
    cust = uid("cust")
    await customer(api, cust, timezone="UTC")
    started = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    sub = await subscribe(api, cust, "adv-basic", uid("sub"), startedAt=started, billingTime="ANNIVERSARY")
    first = (await _run(api))["invoices"]
    assert [i["totalAmount"] for i in first] == ["30.00"]  # the first period, in advance
    changed = await api(
        'mutation($s: String!) { changeSubscriptionPlan(input: {externalId: $s, planCode: "adv-pro"})'
        " { subscription { plan { code } currentPeriodStart currentPeriodEnd } userErrors { code } } }",
        s=sub["externalId"],
    )
    state = changed["changeSubscriptionPlan"]["subscription"]
    assert state["plan"]["code"] == "adv-pro"
    start, end = (datetime.fromisoformat(state[k]) for k in ("currentPeriodStart", "currentPeriodEnd"))
    days, today = (end - start).days, datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    left = (end - today).days  # the change day onwards
    # the old plan owes the days before the change; the rest of the 30.00 paid is credited
    owed = (Decimal("30") * (days - left) / days).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    credited = Decimal("30.00") - owed
    billed = (Decimal("90") * left / days).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    notes = await api("query($id: ID!) { invoice(id: $id) { creditNotes { amount } amountDue } }", id=first[0]["id"])
    assert [n["amount"] for n in notes["invoice"]["creditNotes"]] == [str(credited)]
    invoices = (await api(INVOICES, c=cust))["invoices"]["nodes"]
    assert sorted(i["totalAmount"] for i in invoices) == sorted(["30.00", str(billed)])


async def test_termination_credits_the_unused_advance_fee_after_the_termination_day(tenant) -> None:
    api = tenant.api
    m = uid("calls")
    await metric(api, m, "COUNT")
    code = uid("plan")
    charges = [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "0.5"}}]
    await plan(api, code, charges, amount="30", payInAdvance=True)
    cust = uid("cust")
    await customer(api, cust, timezone="UTC")
    started = datetime.now(UTC) - timedelta(days=10)
    sub = await subscribe(api, cust, code, uid("sub"), startedAt=started.isoformat(), billingTime="ANNIVERSARY")
    first = (await _run(api))["invoices"]
    assert [i["totalAmount"] for i in first] == ["30.00"]
    await send(api, cust, m, [None] * 4)
    ended = await api(
        "mutation($s: String!) { terminateSubscription(input: {externalId: $s}) "
        "{ subscription { status currentPeriodStart currentPeriodEnd } userErrors { code } } }",
        s=sub["externalId"],
    )
    assert ended["terminateSubscription"]["userErrors"] == []
    period = (await api(INVOICES_WITH_PERIOD, c=cust))["invoices"]["nodes"][0]
    start, end = (datetime.fromisoformat(period[k]).date() for k in ("periodStart", "periodEnd"))
    days, used = (end - start).days, (datetime.now(UTC).date() - start).days + 1  # the termination day is used
    owed = (Decimal(30) * used / days).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    notes = await api("query($id: ID!) { invoice(id: $id) { creditNotes { amount } } }", id=first[0]["id"])
    assert [n["amount"] for n in notes["invoice"]["creditNotes"]] == [str(Decimal("30.00") - owed)]
    # the termination's invoice bills the usage (4 x 0.50); the fee was paid in advance
    last = (await _run(api))["invoices"]
    assert [[(ln["kind"], ln["amount"]) for ln in i["lines"]] for i in last] == [[("CHARGE", "2.00")]]
    assert (await _run(api))["invoices"] == []


async def test_trial_days_are_not_billed_and_calendar_first_period_is_prorated(tenant) -> None:
    api = tenant.api
    await plan(api, "trial-30", [], amount="30", trialPeriodDays=14)
    await plan(api, "calendar-31", [], amount="31")
    started = datetime.now(UTC) - timedelta(days=75)
    trial_cust, cal_cust = uid("cust"), uid("cust")
    await customer(api, trial_cust, timezone="UTC")
    await customer(api, cal_cust, timezone="UTC")
    await subscribe(api, trial_cust, "trial-30", uid("sub"), startedAt=started.isoformat(), billingTime="ANNIVERSARY")
    await subscribe(api, cal_cust, "calendar-31", uid("sub"), startedAt=started.isoformat(), billingTime="CALENDAR")
    invoices = (await _run(api))["invoices"]
    first = {
        c: min((i for i in invoices if i["customer"]["externalId"] == c), key=lambda i: i["periodEnd"])
        for c in (trial_cust, cal_cust)
    }
    start_day = started.date()
    # ANNIVERSARY: the first period runs from the start day for one month; 14 of its days are trial days.
    trial_end = datetime.fromisoformat(first[trial_cust]["periodEnd"]).date()
    days = (trial_end - start_day).days
    expected = (Decimal("30") * (days - 14) / days).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert first[trial_cust]["totalAmount"] == str(expected)
    # CALENDAR: the first period runs from the start day to the 1st of the next month, prorated over the month.
    month_days = (datetime.fromisoformat(first[cal_cust]["periodEnd"]).date() - start_day.replace(day=1)).days
    billed_days = (datetime.fromisoformat(first[cal_cust]["periodEnd"]).date() - start_day).days
    expected = (Decimal("31") * billed_days / month_days).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert first[cal_cust]["totalAmount"] == str(expected)
    for invoice in invoices:
        _check_invariants(invoice)


async def test_update_plan_keeps_a_kept_charge_with_its_tax_rate_and_forgets_a_removed_one(stack, tenant) -> None:
    api = tenant.api
    for code, rate in (("plan-rate", "20"), ("calls-rate", "5.5"), ("storage-rate", "10")):
        data = await api(
            "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { userErrors { code } } }",
            i={"code": code, "name": code, "rate": rate, "appliesToOrganization": False},
        )
        assert data["createTaxRate"]["userErrors"] == []
    calls, storage, seats = uid("calls"), uid("storage"), uid("seats")
    for m in (calls, storage, seats):
        await metric(api, m, "COUNT")
    code = uid("plan")
    await plan(
        api,
        code,
        [
            {"billableMetricCode": calls, "model": "STANDARD", "properties": {"amount": "0.5"}},
            {"billableMetricCode": storage, "model": "STANDARD", "properties": {"amount": "1"}},
        ],
        amount="30",
    )
    assign = (
        "mutation($r: String!, $p: String!, $m: String) { assignTaxRate(input: "
        "{taxRateCode: $r, planCode: $p, billableMetricCode: $m}) { userErrors { code } } }"
    )
    for rate, m in (("plan-rate", None), ("calls-rate", calls), ("storage-rate", storage)):
        assert (await api(assign, r=rate, p=code, m=m))["assignTaxRate"]["userErrors"] == []
    charges = await api("query($p: String!) { plan(code: $p) { charges { id billableMetric { code } } } }", p=code)
    before = {c["billableMetric"]["code"]: c["id"] for c in charges["plan"]["charges"]}
    assert before.keys() == {calls, storage}

    cust = uid("cust")
    await customer(api, cust, timezone="UTC")
    await subscribe(api, cust, code, uid("sub"), startedAt=_months_ago(2), billingTime="ANNIVERSARY")
    now = datetime.now(UTC)
    events = [  # in the second period, which ended a day ago and is not invoiced yet
        {
            "transactionId": uid("t"),
            "customerExternalId": cust,
            "metricCode": m,
            "timestamp": (now - timedelta(days=d)).isoformat(),
        }
        for m, days in ((calls, (5, 6, 7, 8)), (storage, (5, 6)), (seats, (5,)))
        for d in days
    ]
    ingested = await api(
        "mutation($e: [UsageEventInput!]!) { ingestUsage(input: {events: $e}) { accepted } }", e=events
    )
    assert ingested["ingestUsage"]["accepted"] == 7

    # calls: another model and price; storage: removed; seats: new
    updated = await api(
        "mutation($i: UpdatePlanInput!) { updatePlan(input: $i) "
        "{ plan { charges { id billableMetric { code } model } } userErrors { code } } }",
        i={
            "code": code,
            "charges": [
                {"billableMetricCode": seats, "model": "STANDARD", "properties": {"amount": "3"}},
                {"billableMetricCode": calls, "model": "PACKAGE", "properties": {"amount": "2", "packageSize": "1"}},
            ],
        },
    )
    assert updated["updatePlan"]["userErrors"] == []
    after = updated["updatePlan"]["plan"]["charges"]
    assert [(c["billableMetric"]["code"], c["model"]) for c in after] == [(seats, "STANDARD"), (calls, "PACKAGE")]
    assert after[1]["id"] == before[calls]  # kept: the same charge, priced anew
    assert after[0]["id"] not in before.values()
    charge_assignments = (
        "SELECT count(*) FROM tax_rate_assignments WHERE target_type = 'CHARGE' AND target_id = $1::uuid"
    )
    assert await scalar(stack.database_url, charge_assignments, before[calls]) == 1
    assert await scalar(stack.database_url, charge_assignments, before[storage]) == 0  # removed with its charge

    invoice = max((await _run(api))["invoices"], key=lambda i: i["periodEnd"])
    _check_invariants(invoice)
    lines = {line["billableMetricCode"]: line for line in invoice["lines"] if line["kind"] == "CHARGE"}
    assert set(lines) == {calls, seats}
    assert (lines[calls]["amount"], lines[calls]["taxRates"], lines[calls]["taxAmount"]) == (
        "8.00",
        [{"code": "calls-rate", "rate": "5.5"}],
        "0.44",
    )
    assert (lines[seats]["amount"], lines[seats]["taxRates"], lines[seats]["taxAmount"]) == (
        "3.00",
        [{"code": "plan-rate", "rate": "20"}],
        "0.60",
    )


async def test_prorated_seats_are_billed_for_the_days_each_seat_was_in_use(tenant) -> None:
    api = tenant.api
    seats = uid("seats")
    await metric(api, seats, "SUM", field="seats", recurring=True)
    code = uid("plan")
    charge = {"billableMetricCode": seats, "model": "STANDARD", "prorated": True, "properties": {"amount": "10"}}
    await plan(api, code, [charge])
    cust = uid("cust")
    await customer(api, cust, timezone="UTC")
    start = (datetime.now(UTC) - timedelta(days=33)).replace(hour=0, minute=0, second=0, microsecond=0)
    await subscribe(api, cust, code, uid("sub"), startedAt=(start + timedelta(hours=9)).isoformat(),
                    billingTime="ANNIVERSARY")
    changes = [(1, 4), (11, 2), (20, -1)]  # (day of the period, seats added or removed)
    events = [
        {"transactionId": uid("t"), "customerExternalId": cust, "metricCode": seats,
         "timestamp": (start + timedelta(days=day, hours=12)).isoformat(), "properties": {"seats": n}}
        for day, n in changes
    ]
    assert (await api(INGEST, input={"events": events}))["ingestUsage"]["accepted"] == 3
    invoice = next(i for i in (await _run(api))["invoices"] if i["customer"]["externalId"] == cust)
    _check_invariants(invoice)
    days = (datetime.fromisoformat(invoice["periodEnd"]) - datetime.fromisoformat(invoice["periodStart"])).days
    # 4 seats from day 1 to the end, 2 from day 11, one of them gone after day 20 (its removal day is used)
    unit_days = 4 * (days - 1) + 2 * (days - 11) - (days - 21)
    units = Decimal(unit_days) / days
    line = next(ln for ln in invoice["lines"] if ln["kind"] == "CHARGE")
    assert Decimal(line["units"]) == units
    assert line["amount"] == str((units * 10).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"))
    # the next period starts with the 5 seats left: all of its days, so 5 whole units
    usage = (await api(USAGE, c=cust))["customerUsage"]
    assert [(c["units"], c["amount"]) for c in usage["charges"]] == [("5", "50.00")]


async def test_only_arrears_charges_on_recurring_count_or_sum_metrics_can_be_prorated(tenant) -> None:
    api = tenant.api
    metered, seats = uid("calls"), uid("seats")
    await metric(api, metered, "SUM")
    await metric(api, seats, "SUM", recurring=True)
    cases = [
        (metered, "STANDARD", {"amount": "1"}, False),  # not recurring
        (seats, "PACKAGE", {"amount": "1", "packageSize": "10"}, False),  # a model that is not prorated
        (seats, "STANDARD", {"amount": "1"}, True),  # billed in advance
    ]
    for code, model, properties, in_advance in cases:
        data = await api(
            CREATE_PLAN,
            input={"code": uid("p"), "name": "p", "interval": "MONTHLY", "currency": "USD", "amount": "0",
                   "charges": [{"billableMetricCode": code, "model": model, "prorated": True,
                                "payInAdvance": in_advance, "properties": properties}]},
        )
        assert data["createPlan"]["plan"] is None
        assert [(e["code"], e["field"]) for e in data["createPlan"]["userErrors"]] == [
            ("PRORATION_NOT_SUPPORTED", ["input", "charges", "0", "prorated"])
        ]


REGENERATE = """mutation($id: ID!) { regenerateInvoice(input: {id: $id}) {
  invoice { id number status periodStart periodEnd totalAmount lines { kind amount } } userErrors { field code } } }"""


async def test_a_voided_invoice_is_regenerated_once_from_current_prices(tenant) -> None:
    api = tenant.api
    cust, _ = await _monthly_customer(api, amount="30")
    first, _ = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])
    assert first["totalAmount"] == "30.00"
    # regenerating needs a voided invoice
    refused = (await api(REGENERATE, id=first["id"]))["regenerateInvoice"]
    assert refused == {"invoice": None, "userErrors": [{"field": ["input", "id"], "code": "INVOICE_NOT_REGENERABLE"}]}
    voided = await api("mutation($id: ID!) { voidInvoice(input: {id: $id}) { userErrors { code } } }", id=first["id"])
    assert voided["voidInvoice"]["userErrors"] == []
    assert (await _run(api))["invoices"] == []  # voiding alone bills nothing again
    plan_code = (await api("query($c: String!) { customer(externalId: $c) { subscriptions { plan { code } } } }",
                           c=cust))["customer"]["subscriptions"][0]["plan"]["code"]
    updated = await api(
        'mutation($p: String!) { updatePlan(input: {code: $p, amount: "25"}) { userErrors { code } } }', p=plan_code
    )
    assert updated["updatePlan"]["userErrors"] == []

    again = (await api(REGENERATE, id=first["id"]))["regenerateInvoice"]
    assert again["userErrors"] == []
    new = again["invoice"]
    # the same billing period, at the corrected price, with the next number
    assert (new["periodStart"], new["periodEnd"]) == (first["periodStart"], first["periodEnd"])
    fees = [ln["amount"] for ln in new["lines"] if ln["kind"] == "SUBSCRIPTION"]
    assert (new["status"], new["totalAmount"], fees) == ("OPEN", "25.00", ["25.00"])
    assert new["number"].rsplit("-", 1)[1] == "0003"  # after the two of the first run
    # once only, and nothing else billed twice
    assert (await api(REGENERATE, id=first["id"]))["regenerateInvoice"]["userErrors"][0]["code"] == (
        "INVOICE_NOT_REGENERABLE"
    )
    assert (await _run(api))["invoices"] == []
    listed = (await api(INVOICES, c=cust))["invoices"]
    assert listed["totalCount"] == 3
    assert sorted(n["status"] for n in listed["nodes"]) == ["OPEN", "OPEN", "VOID"]
    logged = await api('{ auditLogs(first: 5, action: "invoice.regenerated") { nodes { targetId after } } }')
    assert [(n["targetId"], n["after"]["regeneratedAs"]) for n in logged["auditLogs"]["nodes"]] == [
        (first["id"], new["id"])
    ]


async def test_a_tax_rate_over_100_percent_or_below_0_is_refused_and_nothing_is_written(tenant) -> None:
    api = tenant.api
    create = (
        "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { taxRate { code } userErrors { field code } } }"
    )
    for rate in ("100.01", "-1"):
        data = await api(create, i={"code": f"bad-{rate}", "name": "Bad", "rate": rate})
        assert data["createTaxRate"] == {
            "taxRate": None,
            "userErrors": [{"field": ["input", "rate"], "code": "TAX_RATE_OUT_OF_RANGE"}],
        }
    ok = await api(create, i={"code": "full", "name": "Full", "rate": "100"})
    assert ok["createTaxRate"]["userErrors"] == []
    listed = await api("{ taxRates { nodes { code } } }")
    assert [n["code"] for n in listed["taxRates"]["nodes"]] == ["full"]
