"""Login brakes: failures slow down and then lock logins per email and per address, are audited, and
password hashing never holds up other clients."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from tests.client import Api
from tests.stack import ApiProcess, start_api

PASSWORD = "a long enough password"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  token retryAfterSeconds userErrors { field code message } } }"""
CREATE_USER = """mutation($input: CreateStaffUserInput!) { createStaffUser(input: $input) {
  staffUser { id email } userErrors { field code message } } }"""
LOCK_AFTER = 10  # failures of one email (the default)
DELAY_AFTER = LOCK_AFTER - 1  # failures of one email before the next attempt waits (the default is 5)


@pytest.fixture(scope="module")
def brisk_api(stack) -> Iterator[ApiProcess]:
    """An API process whose brakes come late and slow by 2 s (longer than an attempt takes even on a loaded
    machine, so the next attempt surely meets the delay), so that a test walks through slowing and locking
    with one wait of 2 s; the lock numbers are the defaults for an account, early ones for an address."""
    api = start_api(stack, "api-login", LOGIN_DELAY_SECONDS="2", LOGIN_DELAY_AFTER=str(DELAY_AFTER),
                    LOGIN_IP_DELAY_AFTER="5", LOGIN_IP_LOCK_AFTER="6")
    try:
        yield api
    finally:
        api.stop()


def address() -> str:
    """A fresh client address (the API trusts X-Forwarded-For from 127.0.0.1, as behind a local proxy)."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


async def login(url: str, email: str, password: str, ip: str) -> dict:
    async with aiohttp.ClientSession() as http, http.post(
        url,
        json={"query": LOGIN, "variables": {"input": {"email": email, "password": password}}},
        headers={"X-Forwarded-For": ip},
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["data"]["login"]


async def hammer(url: str, email: str, *, attempts: int, same_ip: str | None = None) -> list[dict]:
    """Wrong passwords, each allowed attempt counted; a slowed attempt is repeated after the wait it names
    (polling, with a deadline), until `attempts` answers that are not LOGIN_THROTTLED."""
    answers: list[dict] = []
    deadline = time.monotonic() + 30
    while sum(a["userErrors"][0]["code"] != "LOGIN_THROTTLED" for a in answers) < attempts:
        assert time.monotonic() < deadline, [a["userErrors"][0]["code"] for a in answers]
        answer = await login(url, email, "wrong password!!", same_ip or address())
        answers.append(answer)
        if answer["userErrors"][0]["code"] == "LOGIN_THROTTLED":
            await asyncio.sleep(0.02)  # the server said when; poll a little later
    return answers


def codes(answers: list[dict]) -> list[str]:
    return [a["userErrors"][0]["code"] for a in answers]


async def test_wrong_passwords_slow_down_then_lock_the_account_and_are_audited(stack, tenant, brisk_api) -> None:
    email = f"target-{uuid.uuid4().hex[:8]}@acme.test"
    created = await tenant.api(CREATE_USER, input={"email": email, "password": PASSWORD, "role": "ADMIN"})
    user_id = created["createStaffUser"]["staffUser"]["id"]
    # Every attempt from another address: the account's own counter locks it.
    answers = await hammer(brisk_api.graphql_url, email, attempts=LOCK_AFTER + 2)
    seen = codes(answers)
    allowed = [c for c in seen if c != "LOGIN_THROTTLED"]
    assert allowed == ["INVALID_CREDENTIALS"] * LOCK_AFTER + ["LOGIN_LOCKED"] * 2, seen
    assert "LOGIN_THROTTLED" in seen  # slowed between the 9th and the 10th failure
    throttled = next(a for a in answers if a["userErrors"][0]["code"] == "LOGIN_THROTTLED")
    assert throttled["retryAfterSeconds"] >= 1 and "wait" in throttled["userErrors"][0]["message"]
    locked = answers[-1]
    assert 880 <= locked["retryAfterSeconds"] <= 900
    assert "locked" in locked["userErrors"][0]["message"] and "try again after" in locked["userErrors"][0]["message"]
    # Locked means locked: the right password is refused too, without saying whether it was right.
    right = await login(brisk_api.graphql_url, email, PASSWORD, address())
    assert right["token"] is None and right["userErrors"][0]["code"] == "LOGIN_LOCKED"
    audited = await tenant.api(
        "query($id: String) { auditLogs(targetId: $id, first: 50) { nodes { action actorType after } } }", id=user_id
    )
    actions = [n["action"] for n in audited["auditLogs"]["nodes"]]
    assert actions.count("staff_user.login_failed") == LOCK_AFTER
    assert actions.count("staff_user.login_locked") == 1
    failed = next(n for n in audited["auditLogs"]["nodes"] if n["action"] == "staff_user.login_failed")
    assert failed["actorType"] == "anonymous" and failed["after"]["email"] == email
    assert failed["after"]["ip"].startswith("10.") and failed["after"]["reason"] == "wrong password"
    print(f"{len(answers)} answers: {seen.count('LOGIN_THROTTLED')} slowed, then locked for "
          f"{locked['retryAfterSeconds']} s")


async def test_an_unknown_email_is_slowed_and_locked_alike(brisk_api) -> None:
    """The answers never tell whether an account exists (the failures are only logged: no organization)."""
    answers = await hammer(brisk_api.graphql_url, f"nobody-{uuid.uuid4().hex[:8]}@acme.test",
                           attempts=LOCK_AFTER + 2)
    allowed = [c for c in codes(answers) if c != "LOGIN_THROTTLED"]
    assert allowed == ["INVALID_CREDENTIALS"] * LOCK_AFTER + ["LOGIN_LOCKED"] * 2
    assert answers[0]["userErrors"][0]["message"] == "email or password is wrong"


async def test_many_failures_from_one_address_lock_that_address(stack, tenant, brisk_api) -> None:
    email = f"bystander-{uuid.uuid4().hex[:8]}@acme.test"
    await tenant.api(CREATE_USER, input={"email": email, "password": PASSWORD, "role": "VIEWER"})
    ip = address()
    for _ in range(6):  # six different emails from one address: each email has failed once only
        await hammer(brisk_api.graphql_url, f"guess-{uuid.uuid4().hex[:8]}@acme.test", attempts=1, same_ip=ip)
    blocked = await login(brisk_api.graphql_url, email, PASSWORD, ip)
    assert blocked["token"] is None and blocked["userErrors"][0]["code"] == "LOGIN_LOCKED"
    elsewhere = await login(brisk_api.graphql_url, email, PASSWORD, address())
    assert elsewhere["userErrors"] == [] and elsewhere["token"]


async def test_a_successful_login_clears_the_accounts_failures(stack, tenant, brisk_api) -> None:
    email = f"forgetful-{uuid.uuid4().hex[:8]}@acme.test"
    await tenant.api(CREATE_USER, input={"email": email, "password": PASSWORD, "role": "VIEWER"})
    before = DELAY_AFTER - 1
    assert codes(await hammer(brisk_api.graphql_url, email, attempts=before)) == ["INVALID_CREDENTIALS"] * before
    ok = await login(brisk_api.graphql_url, email, PASSWORD, address())
    assert ok["userErrors"] == [] and ok["token"]
    # Counted afresh: as many failures again are not slowed (without the success, the last would have been).
    assert codes(await hammer(brisk_api.graphql_url, email, attempts=before)) == ["INVALID_CREDENTIALS"] * before


async def test_passwords_longer_than_the_cap_are_refused_before_hashing(stack, tenant) -> None:
    long = "x" * 1025
    refused = await Api(stack.graphql_url)(LOGIN, input={"email": "someone@acme.test", "password": long})
    assert refused["login"]["userErrors"] == [
        {"field": ["input", "password"], "code": "PASSWORD_TOO_LONG",
         "message": "a password has at most 1024 characters"}
    ]
    created = await tenant.api(CREATE_USER, input={"email": "long@acme.test", "password": long, "role": "VIEWER"})
    assert created["createStaffUser"]["userErrors"][0]["code"] == "PASSWORD_TOO_LONG"


async def _latencies(url: str, token: str, until: asyncio.Event | None, count: int) -> list[float]:
    samples: list[float] = []
    async with aiohttp.ClientSession() as http:
        while len(samples) < count or (until is not None and not until.is_set()):
            t0 = time.perf_counter()
            async with http.post(url, json={"query": "{ viewer { name } }"},
                                 headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200
                await response.read()
            samples.append(time.perf_counter() - t0)
    return samples


async def test_parallel_logins_do_not_stall_other_clients(stack, tenant) -> None:
    """16 logins at once, with a 1 MB password (refused before hashing) and with a 1,000-character one
    (hashed, in the hashing threads); another client's queries are timed meanwhile. Printed, not asserted
    tightly: the machine is shared."""
    url = stack.graphql_url
    baseline = await _latencies(url, tenant.api_key, None, 20)

    async def logins(password: str) -> tuple[list[float], list[str]]:
        done = asyncio.Event()
        other = asyncio.create_task(_latencies(url, tenant.api_key, done, 5))
        t0 = time.perf_counter()
        async with aiohttp.ClientSession() as http:
            async def one(i: int) -> str:
                body = {"query": LOGIN, "variables": {"input": {"email": f"p{i}-{uuid.uuid4().hex[:6]}@acme.test",
                                                                "password": password}}}
                async with http.post(url, json=body) as response:
                    if response.status == 413:  # a body limit may refuse it before GraphQL does
                        return "413"
                    return (await response.json())["data"]["login"]["userErrors"][0]["code"]

            outcomes = await asyncio.gather(*(one(i) for i in range(16)))
        elapsed = time.perf_counter() - t0
        done.set()
        samples = await other
        print(f"16 logins with a {len(password):,}-character password: {elapsed * 1000:.0f} ms; other client "
              f"p50 {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms "
              f"(alone: p50 {statistics.median(baseline) * 1000:.1f} ms), {len(samples)} queries meanwhile")
        return samples, list(outcomes)

    huge, outcomes = await logins("p" * 1_000_000)
    assert len(huge) >= 5
    assert set(outcomes) <= {"PASSWORD_TOO_LONG", "413"}
    hashed, outcomes = await logins("p" * 1000)
    assert set(outcomes) == {"INVALID_CREDENTIALS"}
    # Not stalled: the other client kept being answered all along, at a median close to its own.
    assert len(hashed) >= 5 and statistics.median(hashed) < 1.0
