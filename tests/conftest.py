"""Fixtures: one stack (database, Redis db, API process, worker) per test run, created lazily.

Tests of pure rules (tests/domain) never ask for it and run without any server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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


def make_tenant(stack: Stack, name: str) -> Tenant:
    """A new organization through the CLI, as an operator creates one."""
    created = json.loads(stack.cli("create-org", name).stdout)
    return Tenant(created["organizationId"], created["apiKey"], Api(stack.graphql_url, created["apiKey"]))


@pytest.fixture
def tenant(stack: Stack) -> Tenant:
    return make_tenant(stack, "Acme Analytics")


@pytest.fixture
def other_tenant(stack: Stack) -> Tenant:
    return make_tenant(stack, "Globex")


@pytest.fixture
def anonymous(stack: Stack) -> Api:
    return Api(stack.graphql_url)
