"""Fixtures: one stack (database, Redis db, API process, worker) per test run, created lazily.

Tests of pure rules (tests/domain) never ask for it and run without any server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from db.session import Database
from services.organizations import create_organization
from tests.client import Api
from tests.stack import Stack, StackManager


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manager = StackManager(tmp_path_factory.mktemp("stack"))
    try:
        yield manager.start()
    finally:
        manager.stop()


@dataclass
class Tenant:
    organization_id: str
    api_key: str
    api: Api


@pytest.fixture(scope="session")
async def operator_db(stack: Stack) -> AsyncIterator[Database]:
    """The operator's own connection, for what `valueverse create-org` does (tests/cli runs the CLI itself)."""
    db = Database(stack.database_url, pool_size=2)
    yield db
    await db.dispose()


async def make_tenant(db: Database, stack: Stack, name: str, *, test: bool = False) -> Tenant:
    """A new organization, created the way `valueverse create-org` creates one (without a process per test);
    `test`: a TEST organization (`create-org NAME --test`)."""
    async with db.unit_of_work() as uow:
        created = await create_organization(uow, name=name, test=test)
    key = created.api_key.secret
    return Tenant(str(created.organization.id), key, Api(stack.graphql_url, key))


@pytest.fixture
async def tenant(operator_db: Database, stack: Stack) -> Tenant:
    return await make_tenant(operator_db, stack, "Acme Analytics")


@pytest.fixture
async def test_tenant(operator_db: Database, stack: Stack) -> Tenant:
    """A TEST organization: test clocks allowed."""
    return await make_tenant(operator_db, stack, "Acme Sandbox", test=True)


@pytest.fixture
async def other_tenant(operator_db: Database, stack: Stack) -> Tenant:
    return await make_tenant(operator_db, stack, "Globex")


@pytest.fixture
def anonymous(stack: Stack) -> Api:
    return Api(stack.graphql_url)
