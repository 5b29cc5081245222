"""Direct reads of the test database, to check what was (not) written."""

from __future__ import annotations

import asyncpg


async def scalar(database_url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def execute(database_url: str, sql: str, *args: object) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.execute(sql, *args)
    finally:
        await conn.close()


async def org_footprint(database_url: str, organization_id: str) -> tuple:
    """Everything a foundation mutation can write for an organization."""
    conn = await asyncpg.connect(database_url)
    try:
        return tuple(
            [
                await conn.fetchval(
                    "SELECT count(*) FROM audit_entries WHERE organization_id = $1::uuid", organization_id
                ),
                await conn.fetchval("SELECT count(*) FROM api_keys WHERE organization_id = $1::uuid", organization_id),
                await conn.fetchval(
                    "SELECT count(*) FROM api_keys WHERE organization_id = $1::uuid AND revoked_at IS NOT NULL",
                    organization_id,
                ),
                await conn.fetchval(
                    "SELECT count(*) FROM staff_users WHERE organization_id = $1::uuid", organization_id
                ),
                await conn.fetchval(
                    "SELECT row(name, default_currency, timezone, invoice_prefix)::text FROM organizations "
                    "WHERE id = $1::uuid",
                    organization_id,
                ),
            ]
        )
    finally:
        await conn.close()
