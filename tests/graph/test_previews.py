"""Previews: a charge's price for a quantity (chargePricePreview) and what a plan change would do
(previewSubscriptionPlanChange). Each runs the rule or use case that billing runs, so it cannot disagree
with it; the plan change preview runs the change itself in a transaction that is rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.client import TransportQueryError
from tests.graph.billing_scenario_helpers import CHANGE_PLAN, invoices_of, make_plan, run_billing, today_utc
from tests.graph.catalog_helpers import customer, metric, priced, subscribe, uid

PRICE = """query($input: ChargePricePreviewInput!) { chargePricePreview(input: $input) {
  preview { currency units amount unroundedAmount
    breakdown { kind units fromValue toValue perUnitAmount flatAmount packages amount } }
  userErrors { field code message } } }"""

PREVIEW_CHANGE = """query($s: String!, $p: String!) {
  previewSubscriptionPlanChange(input: {externalId: $s, planCode: $p}) {
    preview { subscriptionExternalId kind effectiveAt currency previousPlan { code } newPlan { code }
      creditNotes { creditedInvoiceNumber reason currency amount } creditAmount chargeAmount
      invoice { currency periodStart periodEnd subtotalAmount taxAmount totalAmount amountDue
        lines { kind description periodStart periodEnd amount taxAmount } } }
    userErrors { field code message } } }"""

RANGES = [
    {"fromValue": "0", "toValue": "100", "perUnitAmount": "1", "flatAmount": "10"},
    {"fromValue": "101", "toValue": None, "perUnitAmount": "0.5", "flatAmount": "20"},
]


def _price_input(model: str, properties: dict, quantity: str, currency: str = "USD") -> dict:
    return {"model": model, "properties": properties, "quantity": quantity, "currency": currency}


async def test_graduated_preview_equals_what_billing_charges_for_the_same_units(tenant) -> None:
    data = (await tenant.api(PRICE, input=_price_input("GRADUATED", {"graduatedRanges": RANGES}, "150")))
    result = data["chargePricePreview"]
    assert result["userErrors"] == []
    preview = result["preview"]
    assert (preview["currency"], preview["units"], preview["amount"]) == ("USD", "150", "155.00")
    assert [(b["kind"], b["fromValue"], b["toValue"], b["units"], b["amount"]) for b in preview["breakdown"]] == [
        ("RANGE", "0", "100", "100", "110"),
        ("RANGE", "101", None, "50", "45.0"),
    ]
    usage = await priced(tenant.api, "GRADUATED", {"graduatedRanges": RANGES}, [150])
    assert usage["charges"][0]["amount"] == preview["amount"]


async def test_preview_rounds_once_in_the_currency(tenant) -> None:
    yen = (await tenant.api(PRICE, input=_price_input("STANDARD", {"amount": "0.5"}, "3", "jpy")))
    assert yen["chargePricePreview"]["preview"]["amount"] == "2"  # 1.5 half away from zero
    package = await tenant.api(
        PRICE, input=_price_input("PACKAGE", {"amount": "10", "packageSize": "100", "freeUnits": "50"}, "251")
    )
    preview = package["chargePricePreview"]["preview"]
    assert preview["amount"] == "30.00" and [b["packages"] for b in preview["breakdown"]] == [None, "3"]


async def test_percentage_preview_prices_the_quantity_as_one_event(tenant) -> None:
    props = {"rate": "1.3", "fixedAmount": "0.10", "perTransactionMinAmount": "1"}
    data = await tenant.api(PRICE, input=_price_input("PERCENTAGE", props, "50"))
    assert data["chargePricePreview"]["preview"]["amount"] == "1.00"  # 0.65 + 0.10 raised to the minimum


@pytest.mark.parametrize(
    ("second", "field", "code"),
    [
        ({"fromValue": "99"}, "fromValue", "RANGES_GAP_OR_OVERLAP"),  # overlaps the first range
        ({"fromValue": "150"}, "fromValue", "RANGES_GAP_OR_OVERLAP"),  # a gap after it
    ],
)
async def test_invalid_ranges_are_refused_on_the_field_as_create_plan_refuses_them(tenant, second, field, code):
    ranges = [RANGES[0], {**RANGES[1], **second}]
    data = await tenant.api(PRICE, input=_price_input("GRADUATED", {"graduatedRanges": ranges}, "10"))
    result = data["chargePricePreview"]
    assert result["preview"] is None
    (error,) = result["userErrors"]
    assert (error["field"], error["code"]) == (["input", "properties", "graduatedRanges", "1", field], code)
    code = uid("calls")
    await metric(tenant.api, code, "COUNT")
    created = await tenant.api(
        """mutation($input: CreatePlanInput!) { createPlan(input: $input) { userErrors { field code message } } }""",
        input={"code": uid("bad"), "name": "Bad", "interval": "MONTHLY", "currency": "USD", "amount": "0",
               "charges": [{"billableMetricCode": code, "model": "GRADUATED",
                            "properties": {"graduatedRanges": ranges}}]},
    )
    # the same rule, the same message, at the same place under the charge
    (refused,) = created["createPlan"]["userErrors"]
    assert refused == {**error, "field": ["input", "charges", "0", *error["field"][1:]]}


async def test_bad_quantity_currency_and_foreign_properties_are_user_errors(tenant) -> None:
    negative = await tenant.api(PRICE, input=_price_input("STANDARD", {"amount": "1"}, "-1"))
    assert [(e["field"], e["code"]) for e in negative["chargePricePreview"]["userErrors"]] == [
        (["input", "quantity"], "NEGATIVE_UNITS")
    ]
    currency = await tenant.api(PRICE, input=_price_input("STANDARD", {"amount": "1"}, "1", "XXX"))
    assert currency["chargePricePreview"]["userErrors"][0]["field"] == ["input", "currency"]
    foreign = await tenant.api(PRICE, input=_price_input("STANDARD", {"amount": "1", "packageSize": "2"}, "1"))
    assert foreign["chargePricePreview"]["userErrors"][0]["field"] == ["input", "properties", "packageSize"]


async def test_price_preview_needs_a_signed_in_caller(tenant, anonymous) -> None:
    with pytest.raises(TransportQueryError) as refused:
        await anonymous(PRICE, input=_price_input("STANDARD", {"amount": "1"}, "1"))
    assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    viewer = (await tenant.api(
        'mutation { createApiKey(input: {name: "viewer", role: VIEWER}) { secret userErrors { code } } }'
    ))["createApiKey"]["secret"]
    data = await tenant.api.as_(viewer)(PRICE, input=_price_input("STANDARD", {"amount": "2"}, "3"))
    assert data["chargePricePreview"]["preview"]["amount"] == "6.00"


# --- plan changes ----------------------------------------------------------------------------


async def _footprint(database_url: str, organization_id: str) -> dict:
    """Everything a plan change can write for an organization, and what it would tell (the outbox)."""
    conn = await asyncpg.connect(database_url)
    try:
        org = organization_id
        counts = {}
        for table in ("invoices", "invoice_lines", "credit_notes", "audit_entries", "subscription_phases",
                      "webhook_events", "customers"):
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE organization_id = $1::uuid", org)
        counts["amount_due"] = await conn.fetchval(
            "SELECT coalesce(sum(amount_due_minor), 0) FROM invoices WHERE organization_id = $1::uuid", org)
        counts["last_number"] = await conn.fetchval(
            "SELECT last_number FROM invoice_number_sequences WHERE organization_id = $1::uuid", org)
        counts["phases"] = await conn.fetchval(
            "SELECT string_agg(row(plan_id, starts_at, ends_at)::text, ';' ORDER BY starts_at) "
            "FROM subscription_phases WHERE organization_id = $1::uuid", org)
        counts["outbox"] = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE messages::text LIKE '%' || $1 || '%' "
            "OR jobs::text LIKE '%' || $1 || '%'",
            org)
        return counts
    finally:
        await conn.close()


async def _weekly_in_advance(api, cust: str) -> dict:
    """Starter (10/week) → Growth (20/week), paid in advance; started 3 days ago and billed its first week, so
    that an upgrade today credits 4/7 of Starter and bills 4/7 of Growth."""
    await make_plan(api, "starter-wk", "Starter", "10", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "growth-wk", "Growth", "20", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "cheap-wk", "Cheap", "5", interval="WEEKLY", payInAdvance=True)
    await customer(api, cust, timezone="UTC")
    start = today_utc() - timedelta(days=3)
    await subscribe(api, cust, "starter-wk", f"{cust}-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY")
    (first,) = await run_billing(api, datetime.now(UTC))
    return first


async def test_upgrade_preview_shows_the_credit_and_the_invoice_then_the_change_does_exactly_that(
    stack, tenant
) -> None:
    api = tenant.api
    first = await _weekly_in_advance(api, "mover")
    before = await _footprint(stack.database_url, tenant.organization_id)

    result = (await api(PREVIEW_CHANGE, s="mover-sub", p="growth-wk"))["previewSubscriptionPlanChange"]
    assert result["userErrors"] == [], result
    preview = result["preview"]
    assert (preview["kind"], preview["previousPlan"]["code"], preview["newPlan"]["code"]) == (
        "UPGRADE", "starter-wk", "growth-wk")
    assert preview["effectiveAt"][:10] == today_utc().date().isoformat()
    # 10 * 4/7 = 5.714… → 5.71 credited on the Starter invoice; 20 * 4/7 = 11.428… → 11.43 billed
    assert preview["creditNotes"] == [{"creditedInvoiceNumber": first["number"], "currency": "USD", "amount": "5.71",
                                       "reason": "Unused Starter after the upgrade to Growth"}]
    assert (preview["creditAmount"], preview["chargeAmount"]) == ("5.71", "11.43")
    assert preview["invoice"]["totalAmount"] == "11.43"
    assert [(line["kind"], line["amount"]) for line in preview["invoice"]["lines"]] == [("SUBSCRIPTION", "11.43")]
    # nothing was written, nothing told, no invoice number taken
    assert await _footprint(stack.database_url, tenant.organization_id) == before
    again = (await api(PREVIEW_CHANGE, s="mover-sub", p="growth-wk"))["previewSubscriptionPlanChange"]["preview"]
    assert again["creditNotes"] == preview["creditNotes"] and again["chargeAmount"] == preview["chargeAmount"]

    changed = (await api(CHANGE_PLAN, s="mover-sub", p="growth-wk"))["changeSubscriptionPlan"]
    assert changed["userErrors"] == [] and changed["subscription"]["plan"]["code"] == "growth-wk"
    after = await _footprint(stack.database_url, tenant.organization_id)
    assert after["outbox"] > before["outbox"] and after["audit_entries"] > before["audit_entries"]
    assert after["last_number"] == before["last_number"] + 1  # the preview gave its number back
    starter, growth = await invoices_of(api, "mover")
    assert [n["amount"] for n in starter["creditNotes"]] == [n["amount"] for n in preview["creditNotes"]]
    assert growth["totalAmount"] == preview["chargeAmount"] and growth["amountDue"] == preview["invoice"]["amountDue"]
    assert [(line["kind"], line["description"], line["amount"]) for line in growth["lines"]] == [
        (line["kind"], line["description"], line["amount"]) for line in preview["invoice"]["lines"]]
    # the upgrade happens "now": a moment later than the preview's now, in the same period
    assert growth["periodEnd"] == preview["invoice"]["periodEnd"]
    assert growth["periodStart"][:10] == preview["invoice"]["periodStart"][:10]


async def test_downgrade_preview_takes_effect_at_the_period_end_and_bills_nothing_now(stack, tenant) -> None:
    api = tenant.api
    await _weekly_in_advance(api, "saver")
    before = await _footprint(stack.database_url, tenant.organization_id)
    preview = (await api(PREVIEW_CHANGE, s="saver-sub", p="cheap-wk"))["previewSubscriptionPlanChange"]["preview"]
    state = (await api("query { subscription(externalId: \"saver-sub\") { currentPeriodEnd } }"))["subscription"]
    assert preview["kind"] == "DOWNGRADE" and preview["effectiveAt"] == state["currentPeriodEnd"]
    assert (preview["creditNotes"], preview["invoice"], preview["chargeAmount"]) == ([], None, "0.00")
    assert await _footprint(stack.database_url, tenant.organization_id) == before


async def test_plan_change_preview_refuses_what_the_change_refuses(tenant) -> None:
    api = tenant.api
    await _weekly_in_advance(api, "stayer")
    same = (await api(PREVIEW_CHANGE, s="stayer-sub", p="starter-wk"))["previewSubscriptionPlanChange"]
    assert same["preview"] is None and same["userErrors"][0]["code"] == "SAME_PLAN"
    unknown = (await api(PREVIEW_CHANGE, s="nobody", p="growth-wk"))["previewSubscriptionPlanChange"]
    assert unknown["userErrors"][0]["field"] == ["input", "externalId"]
    viewer = (await api(
        'mutation { createApiKey(input: {name: "viewer", role: VIEWER}) { secret userErrors { code } } }'
    ))["createApiKey"]["secret"]
    with pytest.raises(TransportQueryError) as refused:
        await api.as_(viewer)(PREVIEW_CHANGE, s="stayer-sub", p="growth-wk")
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
