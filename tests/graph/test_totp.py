"""The staff second factor (TOTP) through GraphQL: enrolment, the login's challenge, codes that are wrong, reused,
a step off, recovery codes, the brakes, turning it off.

The API here runs in this process (uvicorn, same database and Redis as the stack) on a ManualClock of the test's
own, so that codes are computed for the server's time and a step is moved by advancing the clock, never waited.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pyotp
import pytest
import uvicorn

from integrations.clock import ManualClock
from tests.client import Api
from valueverse import devstack
from valueverse.app import create_app
from valueverse.settings import Settings

PASSWORD = "a long enough password"
LOCK_AFTER = 6  # failures of one email, the password step of a challenged login included
CREATE_USER = """mutation($input: CreateStaffUserInput!) { createStaffUser(input: $input) {
  staffUser { id email } userErrors { field code message } } }"""
LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  token secondFactorRequired challenge challengeExpiresAt retryAfterSeconds userErrors { field code message } } }"""
COMPLETE = """mutation($input: CompleteLoginInput!) { completeLogin(input: $input) {
  token expiresAt user { email } retryAfterSeconds userErrors { field code message } } }"""
START = """mutation { startSecondFactorEnrolment { secret otpauthUri qrCodeSvg userErrors { field code message } } }"""
CONFIRM = """mutation($code: String!) { confirmSecondFactorEnrolment(input: {code: $code}) {
  recoveryCodes secondFactor { enabled pending recoveryCodesLeft } userErrors { field code message } } }"""
REGENERATE = """mutation($code: String!) { regenerateRecoveryCodes(input: {code: $code}) {
  recoveryCodes userErrors { field code } } }"""
DISABLE = """mutation($input: DisableSecondFactorInput!) { disableSecondFactor(input: $input) {
  secondFactor { enabled } retryAfterSeconds userErrors { field code message } } }"""
STATUS = "query { viewer { kind secondFactor { enabled pending recoveryCodesLeft enabledAt } } }"
AUDIT = "query($id: String) { auditLogs(targetId: $id, first: 100) { nodes { action actorType after } } }"


@dataclass
class ClockedApi:
    url: str
    clock: ManualClock


@pytest.fixture(scope="module")
async def clocked(stack) -> AsyncIterator[ClockedApi]:
    """An API on a ManualClock; sessions last 2 h so that the clock may stand up to an hour behind real time
    (session tokens carry their times, and issued-at may not lie in the future)."""
    clock = ManualClock(_start())
    settings = Settings(
        _env_file=None,
        database_url=stack.database_url,
        redis_url=stack.redis_url,
        secret_key=stack.secret_key,
        session_ttl_seconds=7200,
        login_delay_after=1000,  # no slowing before the lock: the lock is what is tested here
        login_lock_after=LOCK_AFTER,
        login_ip_delay_after=100_000,
        login_ip_lock_after=200_000,
        db_pool_size=4,
        data_dir=stack.log_dir / "data-totp",
    )
    app = create_app(settings, stack.database_url, stack.redis_url, clock=clock)
    port = devstack.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)  # the server's start-up, not the tested time
    assert server.started, "the in-process API did not start"
    try:
        yield ClockedApi(f"http://127.0.0.1:{port}/graphql", clock)
    finally:
        server.should_exit = True
        await task


def _start() -> datetime:
    """Half an hour behind real time, a second into a 30-second step."""
    now = int(datetime.now(UTC).timestamp()) - 1800
    return datetime.fromtimestamp(now - now % 30 + 1, UTC)


@pytest.fixture(autouse=True)
def fresh_time(clocked: ClockedApi) -> None:
    clocked.clock.set(_start())


def code(secret: str, clock: ManualClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps))


async def new_user(tenant, clocked: ClockedApi) -> tuple[str, str, Api]:
    email = f"staff-{uuid.uuid4().hex[:8]}@acme.test"
    created = await tenant.api(CREATE_USER, input={"email": email, "password": PASSWORD, "role": "ADMIN"})
    assert created["createStaffUser"]["userErrors"] == []
    session = (await login(clocked, email))
    assert session["token"] and session["secondFactorRequired"] is False
    return email, created["createStaffUser"]["staffUser"]["id"], Api(clocked.url, session["token"])


async def login(clocked: ClockedApi, email: str, password: str = PASSWORD) -> dict:
    return (await Api(clocked.url)(LOGIN, input={"email": email, "password": password}))["login"]


async def complete(clocked: ClockedApi, challenge: str, **second: str) -> dict:
    return (await Api(clocked.url)(COMPLETE, input={"challenge": challenge, **second}))["completeLogin"]


async def enrolled(tenant, clocked: ClockedApi) -> tuple[str, str, Api, str, list[str]]:
    """A user with the second factor on: (email, id, their session, the secret, the recovery codes); the clock
    is moved a step on, past the step of the confirming code."""
    email, user_id, me = await new_user(tenant, clocked)
    started = (await me(START))["startSecondFactorEnrolment"]
    secret = started["secret"]
    confirmed = (await me(CONFIRM, code=code(secret, clocked.clock)))["confirmSecondFactorEnrolment"]
    assert confirmed["userErrors"] == [], confirmed
    clocked.clock.advance(seconds=30)
    return email, user_id, me, secret, confirmed["recoveryCodes"]


def error(payload: dict) -> str:
    return payload["userErrors"][0]["code"]


async def test_enrol_confirm_then_log_in_with_a_code(tenant, clocked, stack) -> None:
    email, user_id, me = await new_user(tenant, clocked)
    assert (await me(STATUS))["viewer"]["secondFactor"] == {
        "enabled": False, "pending": False, "recoveryCodesLeft": 0, "enabledAt": None}
    started = (await me(START))["startSecondFactorEnrolment"]
    secret = started["secret"]
    assert started["userErrors"] == [] and len(secret) == 32
    assert started["otpauthUri"].startswith("otpauth://totp/ValueVerse%20Billing:") and secret in started["otpauthUri"]
    assert started["qrCodeSvg"].startswith("data:image/svg+xml")
    # Kept sealed, never as it is.
    connection = await asyncpg.connect(stack.database_url)
    try:
        sealed = await connection.fetchval(
            "SELECT secret_sealed FROM staff_second_factors WHERE staff_user_id = $1::uuid", user_id)
    finally:
        await connection.close()
    assert sealed.startswith("v1:") and secret not in sealed
    # Not on until confirmed: the password alone still signs in.
    assert (await me(STATUS))["viewer"]["secondFactor"]["pending"] is True
    assert (await login(clocked, email))["token"]
    wrong = (await me(CONFIRM, code="000000" if code(secret, clocked.clock) != "000000" else "111111"))
    assert error(wrong["confirmSecondFactorEnrolment"]) == "INVALID_SECOND_FACTOR"
    assert (await me(CONFIRM, code="12345"))["confirmSecondFactorEnrolment"]["userErrors"][0]["message"]
    confirming = code(secret, clocked.clock)
    confirmed = (await me(CONFIRM, code=confirming))["confirmSecondFactorEnrolment"]
    assert confirmed["userErrors"] == [] and confirmed["secondFactor"] == {
        "enabled": True, "pending": False, "recoveryCodesLeft": 10}
    codes = confirmed["recoveryCodes"]
    assert len(codes) == 10 == len(set(codes)) and all(len(c) == 11 and c[5] == "-" for c in codes)
    again = (await me(START))["startSecondFactorEnrolment"]
    assert again["secret"] is None and error(again) == "SECOND_FACTOR_ALREADY_ON"

    # Now the password gives a challenge, not a session.
    challenged = await login(clocked, email)
    assert challenged["token"] is None and challenged["secondFactorRequired"] is True
    assert challenged["userErrors"] == [] and challenged["challenge"]
    expires = datetime.fromisoformat(challenged["challengeExpiresAt"])
    assert expires == clocked.clock.now() + timedelta(minutes=5)
    # The code that confirmed the enrolment is spent: its step was used.
    reused = await complete(clocked, challenged["challenge"], code=confirming)
    assert reused["token"] is None and error(reused) == "SECOND_FACTOR_REUSED"
    clocked.clock.advance(seconds=30)
    done = await complete(clocked, challenged["challenge"], code=code(secret, clocked.clock))
    assert done["userErrors"] == [] and done["token"] and done["user"]["email"] == email
    session = Api(clocked.url, done["token"])
    assert (await session(STATUS))["viewer"]["secondFactor"]["enabled"] is True

    actions = [n["action"] for n in (await tenant.api(AUDIT, id=user_id))["auditLogs"]["nodes"]]
    assert "staff_user.second_factor_enrolment_started" in actions
    assert "staff_user.second_factor_enabled" in actions
    logged_in = [n for n in (await tenant.api(AUDIT, id=user_id))["auditLogs"]["nodes"]
                 if n["action"] == "staff_user.logged_in"]
    assert logged_in[0]["after"]["secondFactor"] == "totp"


async def test_a_code_is_good_once(tenant, clocked) -> None:
    email, _, _, secret, _ = await enrolled(tenant, clocked)
    now = code(secret, clocked.clock)
    first = await complete(clocked, (await login(clocked, email))["challenge"], code=now)
    assert first["token"], first
    replayed = await complete(clocked, (await login(clocked, email))["challenge"], code=now)
    assert replayed["token"] is None and error(replayed) == "SECOND_FACTOR_REUSED"
    assert "used already" in replayed["userErrors"][0]["message"]
    # A code of an earlier step than the last used one is refused too (still within the drift window).
    clocked.clock.advance(seconds=30)
    later = await complete(clocked, (await login(clocked, email))["challenge"], code=code(secret, clocked.clock))
    assert later["token"]
    clocked.clock.advance(seconds=1)
    earlier = await complete(clocked, (await login(clocked, email))["challenge"],
                             code=code(secret, clocked.clock, -1))
    assert error(earlier) == "SECOND_FACTOR_REUSED"


async def test_one_step_of_drift_either_way_is_accepted_two_are_not(tenant, clocked) -> None:
    email, _, _, secret, _ = await enrolled(tenant, clocked)
    clocked.clock.advance(seconds=30)  # the step before is not the confirming code's
    behind = await complete(clocked, (await login(clocked, email))["challenge"], code=code(secret, clocked.clock, -1))
    assert behind["userErrors"] == [] and behind["token"]
    clocked.clock.advance(seconds=30)
    ahead = await complete(clocked, (await login(clocked, email))["challenge"], code=code(secret, clocked.clock, 1))
    assert ahead["userErrors"] == [] and ahead["token"]
    clocked.clock.advance(seconds=90)  # past the step used ("ahead")
    for steps in (-2, 2):
        far = await complete(clocked, (await login(clocked, email))["challenge"],
                             code=code(secret, clocked.clock, steps))
        assert far["token"] is None and error(far) == "INVALID_SECOND_FACTOR", steps


async def test_a_recovery_code_signs_in_once_and_is_audited(tenant, clocked) -> None:
    email, user_id, me, secret, codes = await enrolled(tenant, clocked)
    used = await complete(clocked, (await login(clocked, email))["challenge"], recoveryCode=codes[3].upper())
    assert used["userErrors"] == [] and used["token"]
    again = await complete(clocked, (await login(clocked, email))["challenge"], recoveryCode=codes[3])
    assert again["token"] is None and error(again) == "INVALID_SECOND_FACTOR"
    assert again["userErrors"][0]["field"] == ["input", "recoveryCode"]
    assert (await me(STATUS))["viewer"]["secondFactor"]["recoveryCodesLeft"] == 9
    both = await complete(clocked, (await login(clocked, email))["challenge"], recoveryCode=codes[4],
                          code=code(secret, clocked.clock))
    assert error(both) == "SECOND_FACTOR_REQUIRED"
    entries = (await tenant.api(AUDIT, id=user_id))["auditLogs"]["nodes"]
    recovery = [n for n in entries if n["action"] == "staff_user.recovery_code_used"]
    assert len(recovery) == 1 and recovery[0]["after"] == {"purpose": "login", "recoveryCodesLeft": 9}
    assert any(n["action"] == "staff_user.logged_in" and n["after"]["secondFactor"] == "recovery_code"
               for n in entries)
    # New codes replace the old ones.
    fresh = (await me(REGENERATE, code=code(secret, clocked.clock)))["regenerateRecoveryCodes"]
    assert fresh["userErrors"] == [] and len(fresh["recoveryCodes"]) == 10
    old = await complete(clocked, (await login(clocked, email))["challenge"], recoveryCode=codes[5])
    assert error(old) == "INVALID_SECOND_FACTOR"


async def test_a_challenge_lasts_five_minutes_and_cannot_be_forged(tenant, clocked) -> None:
    email, _, me, secret, _ = await enrolled(tenant, clocked)
    challenge = (await login(clocked, email))["challenge"]
    clocked.clock.advance(seconds=301)
    late = await complete(clocked, challenge, code=code(secret, clocked.clock))
    assert late["token"] is None and error(late) == "INVALID_CHALLENGE"
    assert late["userErrors"][0]["field"] == ["input", "challenge"]
    assert error(await complete(clocked, challenge[:-3] + "abc", code=code(secret, clocked.clock))) == \
        "INVALID_CHALLENGE"
    assert error(await complete(clocked, me.token, code=code(secret, clocked.clock))) == "INVALID_CHALLENGE"
    # A wrong password is still only that: no challenge.
    wrong = await login(clocked, email, "not the password at all")
    assert wrong["challenge"] is None and error(wrong) == "INVALID_CREDENTIALS"


async def test_wrong_codes_count_as_failed_logins_and_lock(tenant, clocked) -> None:
    email, user_id, _, secret, _ = await enrolled(tenant, clocked)
    challenge = (await login(clocked, email))["challenge"]  # the password step counts until a code is right
    right = code(secret, clocked.clock)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answers = [await complete(clocked, challenge, code=wrong) for _ in range(LOCK_AFTER - 1)]
    assert [error(a) for a in answers] == ["INVALID_SECOND_FACTOR"] * (LOCK_AFTER - 1)
    locked = await complete(clocked, challenge, code=right)
    assert locked["token"] is None and error(locked) == "LOGIN_LOCKED" and locked["retryAfterSeconds"] > 800
    assert "locked" in locked["userErrors"][0]["message"]
    assert error(await login(clocked, email)) == "LOGIN_LOCKED"
    entries = (await tenant.api(AUDIT, id=user_id))["auditLogs"]["nodes"]
    failed = [n for n in entries if n["action"] == "staff_user.login_failed"]
    assert len(failed) == LOCK_AFTER - 1 and {n["after"]["reason"] for n in failed} == {"wrong second-factor code"}
    assert [n["actorType"] for n in failed][:1] == ["anonymous"]
    assert sum(n["action"] == "staff_user.login_locked" for n in entries) == 1


async def test_turning_it_off_needs_a_code_or_a_recovery_code(tenant, clocked) -> None:
    email, user_id, me, secret, codes = await enrolled(tenant, clocked)
    missing = (await me(DISABLE, input={}))["disableSecondFactor"]
    assert error(missing) == "SECOND_FACTOR_REQUIRED" and missing["secondFactor"]["enabled"] is True
    right = code(secret, clocked.clock)
    wrong = (await me(DISABLE, input={"code": f"{(int(right) + 1) % 1_000_000:06d}"}))["disableSecondFactor"]
    assert error(wrong) == "INVALID_SECOND_FACTOR" and wrong["secondFactor"]["enabled"] is True
    off = (await me(DISABLE, input={"code": right}))["disableSecondFactor"]
    assert off["userErrors"] == [] and off["secondFactor"]["enabled"] is False
    assert (await login(clocked, email))["token"]
    assert error((await me(DISABLE, input={"code": right}))["disableSecondFactor"]) == "SECOND_FACTOR_NOT_ON"
    # Enrolled again, and turned off with a recovery code this time.
    started = (await me(START))["startSecondFactorEnrolment"]
    clocked.clock.advance(seconds=30)
    confirmed = (await me(CONFIRM, code=code(started["secret"], clocked.clock)))["confirmSecondFactorEnrolment"]
    assert confirmed["userErrors"] == []
    off = (await me(DISABLE, input={"recoveryCode": confirmed["recoveryCodes"][0]}))["disableSecondFactor"]
    assert off["userErrors"] == [] and off["secondFactor"]["enabled"] is False
    entries = (await tenant.api(AUDIT, id=user_id))["auditLogs"]["nodes"]
    disabled = [n["after"] for n in entries if n["action"] == "staff_user.second_factor_disabled"]
    assert sorted(d["with"] for d in disabled) == ["recovery_code", "totp"]
    assert any(n["action"] == "staff_user.recovery_code_used" and n["after"]["purpose"] == "disable"
               for n in entries)
    assert codes  # the first enrolment's codes went with it


async def test_an_api_key_has_no_second_factor(tenant, clocked) -> None:
    api = Api(clocked.url, tenant.api_key)
    assert (await api(STATUS))["viewer"]["secondFactor"] is None
    assert error((await api(START))["startSecondFactorEnrolment"]) == "NOT_A_SESSION"


RESET = """mutation($id: ID!) { resetStaffUserSecondFactor(input: {staffUserId: $id}) {
  staffUser { id email secondFactorEnabled } userErrors { field code message } } }"""
STAFF = "query { staffUsers(first: 100) { nodes { id secondFactorEnabled } } }"


async def test_an_admin_resets_another_users_second_factor_and_ends_their_sessions(tenant, clocked) -> None:
    from tests.client import TransportQueryError

    email, user_id, me, _secret, _codes = await enrolled(tenant, clocked)
    _admin_email, admin_id, admin = await new_user(tenant, clocked)
    shown = {n["id"]: n["secondFactorEnabled"] for n in (await admin(STAFF))["staffUsers"]["nodes"]}
    assert (shown[user_id], shown[admin_id]) == (True, False)

    reset = (await admin(RESET, id=user_id))["resetStaffUserSecondFactor"]
    assert reset == {"staffUser": {"id": user_id, "email": email, "secondFactorEnabled": False}, "userErrors": []}
    with pytest.raises(TransportQueryError):  # their session ended with it
        await me(STATUS)
    again = await login(clocked, email)  # the password alone now; they enrol again from there
    assert again["token"] and again["secondFactorRequired"] is False
    assert (await Api(clocked.url, again["token"])(STATUS))["viewer"]["secondFactor"]["enabled"] is False
    entries = (await tenant.api(AUDIT, id=user_id))["auditLogs"]["nodes"]
    [entry] = [n for n in entries if n["action"] == "staff_user.second_factor_reset"]
    assert entry["actorType"] == "user" and entry["after"] == {"enabled": False, "sessionsEnded": 1}

    # Nothing left to reset; one's own takes a code (disableSecondFactor); a malformed id is a userError.
    assert error((await admin(RESET, id=user_id))["resetStaffUserSecondFactor"]) == "SECOND_FACTOR_NOT_ON"
    assert error((await admin(RESET, id=admin_id))["resetStaffUserSecondFactor"]) == "CANNOT_RESET_OWN_SECOND_FACTOR"
    assert error((await admin(RESET, id="not-an-id"))["resetStaffUserSecondFactor"]) == "INVALID_ID"


async def test_resetting_a_second_factor_needs_an_admin_of_the_same_organization(tenant, other_tenant, clocked):
    from tests.client import TransportQueryError

    _email, user_id, _me, _secret, _codes = await enrolled(tenant, clocked)
    finance_email = f"finance-{uuid.uuid4().hex[:8]}@acme.test"
    made = await tenant.api(CREATE_USER, input={"email": finance_email, "password": PASSWORD, "role": "FINANCE"})
    assert made["createStaffUser"]["userErrors"] == []
    finance = Api(clocked.url, (await login(clocked, finance_email))["token"])
    with pytest.raises(TransportQueryError) as refused:
        await finance(RESET, id=user_id)
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    # Another organization's ADMIN (its API key) finds no such user; the factor stays on.
    elsewhere = (await other_tenant.api(RESET, id=user_id))["resetStaffUserSecondFactor"]
    assert elsewhere["staffUser"] is None and error(elsewhere) == "NOT_FOUND"
    assert elsewhere["userErrors"][0]["field"] == ["input", "staffUserId"]
    shown = {n["id"]: n["secondFactorEnabled"] for n in (await tenant.api(STAFF))["staffUsers"]["nodes"]}
    assert shown[user_id] is True
