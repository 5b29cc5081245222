"""The organization's invoice list shows totalCount from a kept count (migration 0024): it must stay exactly what
counting the invoices gives, through billing, raw SQL, concurrent and rolled-back transactions and deletions."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.db import scalar
from tests.graph.test_billing import _monthly_customer, _run

TOTAL = "query { invoices(first: 1) { totalCount } }"
FILTERED = "query { invoices(first: 1, status: OPEN) { totalCount } }"


async def _counted(stack, org: str) -> int:
    return int(await scalar(stack.database_url, "SELECT count(*) FROM invoices WHERE organization_id = $1::uuid", org))


async def _kept(stack, org: str) -> int:
    return int(
        await scalar(
            stack.database_url, "SELECT coalesce(sum(n), 0) FROM invoice_counts WHERE organization_id = $1::uuid", org
        )
    )


async def _copies(conn: asyncpg.Connection, org: str, n: int) -> None:
    """`n` copies of one of the organization's invoices in one INSERT (no billing key, no number)."""
    await conn.execute(
        "INSERT INTO invoices (id, organization_id, customer_id, status, kind, currency, period_start, period_end, "
        "subtotal_minor, discount_minor, tax_minor, total_minor, credit_notes_minor, credits_minor, amount_due_minor, "
        "paid_minor, reverse_charge, notes, seller, buyer, created_at) "
        "SELECT gen_random_uuid(), organization_id, customer_id, 'DRAFT', kind, currency, period_start, period_end, "
        "0, 0, 0, 0, 0, 0, 0, 0, false, '', seller, buyer, created_at "
        "FROM (SELECT * FROM invoices WHERE organization_id = $1::uuid LIMIT 1) one, generate_series(1, $2)",
        org,
        n,
    )


_DELETE_DRAFT_COPIES = (
    "DELETE FROM invoices WHERE id IN (SELECT id FROM invoices WHERE organization_id = $1::uuid "
    "AND status = 'DRAFT' AND number IS NULL AND billing_key IS NULL LIMIT $2)"
)


async def test_total_count_of_the_unfiltered_list_stays_exact(stack, tenant) -> None:
    org = tenant.organization_id
    assert (await tenant.api(TOTAL))["invoices"]["totalCount"] == 0
    for _ in range(2):
        await _monthly_customer(tenant.api)
    await _run(tenant.api)
    billed = await _counted(stack, org)
    assert billed > 0
    assert (await tenant.api(TOTAL))["invoices"]["totalCount"] == billed == await _kept(stack, org)

    conn = await asyncpg.connect(stack.database_url)
    other = await asyncpg.connect(stack.database_url)
    try:
        await _copies(conn, org, 5)  # a statement of its own, outside the use cases
        rolled_back = conn.transaction()
        await rolled_back.start()
        await _copies(conn, org, 7)
        assert await _kept(stack, org) == billed + 5  # not committed: nobody else sees it
        await rolled_back.rollback()
        await _copies(conn, org, 7)
        rolled_back = other.transaction()  # a delete rolled back, then one committed
        await rolled_back.start()
        await other.execute(_DELETE_DRAFT_COPIES, org, 3)
        await rolled_back.rollback()
        await other.execute(_DELETE_DRAFT_COPIES, org, 7)

        # Two transactions in flight at once, each inserting: neither waits for the other, one rolls back.
        t1, t2 = conn.transaction(), other.transaction()
        await t1.start()
        await t2.start()
        await _copies(conn, org, 4)
        await asyncio.wait_for(_copies(other, org, 6), timeout=5)
        await t2.rollback()
        await t1.commit()
    finally:
        await conn.close()
        await other.close()

    counted = await _counted(stack, org)
    assert counted == billed + 5 + 4
    # The rows above were written by hand, outside the use cases: no audit entry says they changed, so an answer the
    # API kept for TOTAL would still stand (graph/kept_responses.py). The same question in other words is computed.
    afresh = "query { afresh: invoices(first: 1) { totalCount } }"
    assert (await tenant.api(afresh))["afresh"]["totalCount"] == counted == await _kept(stack, org)
    # a filtered list still counts its own rows
    open_ = int(
        await scalar(
            stack.database_url,
            "SELECT count(*) FROM invoices WHERE organization_id = $1::uuid AND status = 'OPEN'",
            org,
        )
    )
    assert (await tenant.api(FILTERED))["invoices"]["totalCount"] == open_
    # the rows are folded: one per organization once nothing is in flight, and one more statement folds them
    conn = await asyncpg.connect(stack.database_url)
    try:
        await _copies(conn, org, 1)
    finally:
        await conn.close()
    rows = await scalar(stack.database_url, "SELECT count(*) FROM invoice_counts WHERE organization_id = $1::uuid", org)
    assert rows <= 2
    assert await _kept(stack, org) == await _counted(stack, org) == counted + 1


async def test_an_invoice_never_moves_and_deleting_them_all_counts_zero(stack, tenant, operator_db) -> None:
    from tests.conftest import make_tenant

    await _monthly_customer(tenant.api)
    await _run(tenant.api)
    other = await make_tenant(operator_db, stack, "Other Org")
    await _monthly_customer(other.api)
    await _run(other.api)
    assert await _kept(stack, other.organization_id) == await _counted(stack, other.organization_id) > 0

    conn = await asyncpg.connect(stack.database_url)
    try:
        try:
            await conn.execute(
                "UPDATE invoices SET organization_id = $1::uuid WHERE organization_id = $2::uuid",
                tenant.organization_id,
                other.organization_id,
            )
        except asyncpg.RaiseError as exc:
            assert "never moves" in str(exc)
        else:
            raise AssertionError("an invoice moved to another organization")
        # deleting the organization takes its counts with it (ON DELETE CASCADE; rolled back here)
        gone = conn.transaction()
        await gone.start()
        await conn.execute("DELETE FROM organizations WHERE id = $1::uuid", other.organization_id)
        assert await conn.fetchval(
            "SELECT count(*) FROM invoice_counts WHERE organization_id = $1::uuid", other.organization_id
        ) == 0
        await gone.rollback()
        # what the test clock's deletion does, in one statement (db/repositories/test_clocks.py)
        await conn.execute("DELETE FROM invoices WHERE organization_id = $1::uuid", other.organization_id)
    finally:
        await conn.close()
    assert await _kept(stack, other.organization_id) == 0 == await _counted(stack, other.organization_id)
    assert (await other.api(TOTAL))["invoices"]["totalCount"] == 0
    assert await _kept(stack, tenant.organization_id) == await _counted(stack, tenant.organization_id)
