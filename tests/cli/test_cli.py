"""The operator's command line: one line of JSON out, clear messages and no traceback on bad input."""

from __future__ import annotations

import json
import secrets

from tests.client import Api
from tests.stack import ROOT, Stack

COMMANDS = ["serve", "worker", "migrate", "create-org", "create-user", "export-schema"]


async def test_create_org_prints_one_json_line_whose_key_works(stack: Stack) -> None:
    result = stack.cli("create-org", "Initech")
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    created = json.loads(lines[0])
    assert set(created) == {"organizationId", "apiKey"}
    data = await Api(stack.graphql_url, created["apiKey"])("{ viewer { role organization { id name } } }")
    assert data["viewer"]["role"] == "OWNER"
    assert data["viewer"]["organization"] == {"id": created["organizationId"], "name": "Initech"}


async def test_create_org_test_makes_a_test_organization(stack: Stack) -> None:
    created = json.loads(stack.cli("create-org", "Initech Sandbox", "--test").stdout)
    api = Api(stack.graphql_url, created["apiKey"])
    assert (await api("{ organization { mode } }"))["organization"]["mode"] == "TEST"
    clock = await api(
        'mutation { createTestClock(input: {name: "c", frozenTime: "2025-01-01T00:00:00Z"}) '
        "{ testClock { status } userErrors { code } } }"
    )
    assert clock["createTestClock"] == {"testClock": {"status": "READY"}, "userErrors": []}
    live = json.loads(stack.cli("create-org", "Initech Live").stdout)
    assert (await Api(stack.graphql_url, live["apiKey"])("{ organization { mode } }"))["organization"]["mode"] == "LIVE"


def test_create_org_with_an_empty_name_fails_with_a_message(stack: Stack) -> None:
    result = stack.cli("create-org", "", check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "name" in result.stderr
    assert "Traceback" not in result.stderr


def _new_org(stack: Stack) -> str:
    return json.loads(stack.cli("create-org", "Hooli").stdout)["organizationId"]


def test_create_user_with_a_short_password_exits_2_and_says_why(stack: Stack) -> None:
    email = f"short-{secrets.token_hex(4)}@example.com"
    result = stack.cli(
        "create-user", "--organization", _new_org(stack), "--email", email, "--password", "short", check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "password" in result.stderr and "10 characters" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_user_prints_the_user_and_refuses_unknown_organizations(stack: Stack) -> None:
    email = f"admin-{secrets.token_hex(4)}@example.com"
    args = ["--email", email, "--password", "correct horse battery"]
    created = json.loads(stack.cli("create-user", "--organization", _new_org(stack), *args).stdout)
    assert created["email"] == email and created["role"] == "ADMIN"
    for organization in ["00000000-0000-0000-0000-000000000000", "not-an-id"]:
        result = stack.cli("create-user", "--organization", organization, *args, check=False)
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and organization in result.stderr
        assert "Traceback" not in result.stderr and "argon2" not in result.stderr and "INSERT" not in result.stderr


def test_export_schema_prints_the_committed_schema(stack: Stack) -> None:
    assert stack.cli("export-schema").stdout == (ROOT / "schema.graphql").read_text()


def test_help_lists_every_command(stack: Stack) -> None:
    result = stack.cli("--help")
    for command in COMMANDS:
        assert command in result.stdout, command


def test_migrate_is_idempotent(stack: Stack) -> None:
    for _ in range(2):
        result = stack.cli("migrate")
        assert result.returncode == 0
        assert "migrations applied" in result.stderr
    # the stack still serves after migrating twice
    assert json.loads(stack.cli("create-org", "After Migrations").stdout)["apiKey"]
