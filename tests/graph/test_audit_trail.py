"""The audit trail: every change is written, chained, and a later edit is caught."""

from __future__ import annotations

import asyncio
import itertools

from tests.client import ws_client
from tests.db import execute

LOGS = """query($first: Int, $after: String) { auditLogs(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  nodes { seq action actorType targetType targetId before after requestId prevHash hash } } }"""
VERIFY = "{ verifyAuditChain { valid checkedEntries firstBrokenSeq reason } }"


async def _changes(api) -> None:
    await api(
        'mutation { updateOrganization(input: {name: "Acme Two", timezone: "Asia/Tokyo"}) { userErrors { code } } }'
    )
    await api('mutation { createApiKey(input: {name: "etl"}) { userErrors { code } } }')


async def test_mutations_write_chained_entries_with_before_and_after(tenant) -> None:
    await _changes(tenant.api)
    logs = (await tenant.api(LOGS, first=10))["auditLogs"]
    assert [n["action"] for n in logs["nodes"]] == [
        "api_key.created",
        "organization.updated",
        "api_key.created",
        "organization.created",
    ]
    updated = logs["nodes"][1]
    assert updated["before"]["name"] == "Acme Analytics" and updated["after"]["name"] == "Acme Two"
    assert updated["after"]["timezone"] == "Asia/Tokyo" and updated["actorType"] == "api_key"
    assert updated["requestId"]
    chain = list(reversed(logs["nodes"]))
    assert chain[0]["prevHash"] == "0" * 64
    assert all(later["prevHash"] == earlier["hash"] for earlier, later in itertools.pairwise(chain))
    assert (await tenant.api(VERIFY))["verifyAuditChain"] == {
        "valid": True,
        "checkedEntries": 4,
        "firstBrokenSeq": None,
        "reason": None,
    }


async def test_an_edit_in_sql_is_caught_by_verification(stack, tenant) -> None:
    await _changes(tenant.api)
    await execute(
        stack.database_url,
        "UPDATE audit_entries SET after = jsonb_set(after, '{name}', '\"Evil Corp\"') "
        "WHERE organization_id = $1::uuid AND seq = 3",
        tenant.organization_id,
    )
    result = (await tenant.api(VERIFY))["verifyAuditChain"]
    assert result == {
        "valid": False,
        "checkedEntries": 2,
        "firstBrokenSeq": 3,
        "reason": "the entry was changed after it was written",
    }


async def test_a_deleted_entry_is_caught_by_verification(stack, tenant) -> None:
    await _changes(tenant.api)
    await execute(
        stack.database_url,
        "DELETE FROM audit_entries WHERE organization_id = $1::uuid AND seq = 2",
        tenant.organization_id,
    )
    result = (await tenant.api(VERIFY))["verifyAuditChain"]
    assert result["valid"] is False and result["firstBrokenSeq"] == 2


async def test_audit_logs_page_newest_first(tenant) -> None:
    for i in range(5):
        await tenant.api(f'mutation {{ createApiKey(input: {{name: "k{i}"}}) {{ userErrors {{ code }} }} }}')
    seen, after = [], None
    while True:
        page = (await tenant.api(LOGS, first=3, after=after))["auditLogs"]
        assert page["totalCount"] == 7
        seen += [n["seq"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [7, 6, 5, 4, 3, 2, 1]


async def test_concurrent_mutations_keep_one_unbroken_chain(tenant) -> None:
    await asyncio.gather(
        *[
            tenant.api(f'mutation {{ createApiKey(input: {{name: "p{i}"}}) {{ userErrors {{ code }} }} }}')
            for i in range(12)
        ]
    )
    assert (await tenant.api(VERIFY))["verifyAuditChain"]["checkedEntries"] == 14
    assert (await tenant.api(VERIFY))["verifyAuditChain"]["valid"] is True


async def test_audit_trail_is_pushed_over_websocket(stack, tenant) -> None:
    from gql import gql

    received: list[dict] = []
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        subscription = session.subscribe(gql("subscription { auditTrail { action targetType after } }"))

        async def first_event() -> None:
            async for event in subscription:
                received.append(event["auditTrail"])
                return

        listener = asyncio.create_task(first_event())
        # The subscription is live once the server has subscribed to the channel; retry the change until seen.
        for attempt in range(50):
            await tenant.api(
                f'mutation {{ updateOrganization(input: {{name: "Live {attempt}"}}) {{ userErrors {{ code }} }} }}'
            )
            done, _ = await asyncio.wait({listener}, timeout=0.2)
            if done:
                break
        await asyncio.wait_for(listener, timeout=5)
    assert received[0]["action"] == "organization.updated"
    assert received[0]["after"]["name"].startswith("Live ")
