"""Staff sessions: login (behind its brakes), a longer life for a session in use, logout, and ending a session
early."""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from db.models import Role, StaffSession, StaffUser
from db.repositories.organizations import (
    StaffSessionRepository,
    StaffUserRepository,
    confirmed_second_factor_users,
    find_staff_users_by_email,
)
from db.session import Database, UnitOfWork
from integrations.secrets import SecretBox
from services import audit, second_factor
from services.actors import Actor
from services.auth import (
    SessionConfig,
    announce_change,
    check_password_length,
    issue_session_token,
    password_matches,
)
from services.errors import AccessCode, CommonCode, Invalid, NotFound
from services.rate_limits import LoginGuard, LoginVerdict

log = logging.getLogger("valueverse.auth")
MAX_EMAIL_LENGTH = 320
MAX_USER_AGENT_LENGTH = 400


class LoginRefused(Invalid):
    """Too many failed logins for this email or from this address: wait, then try again."""

    def __init__(self, verdict: LoginVerdict, now: datetime, field: tuple[str, ...] = ("email",)) -> None:
        self.retry_after_seconds = max(1, math.ceil(verdict.retry_after))
        until = (now + timedelta(seconds=self.retry_after_seconds)).strftime("%H:%M:%S UTC")
        if verdict.locked:
            minutes = max(1, round(self.retry_after_seconds / 60))
            message = (f"too many failed logins: logins with this email or from this address are locked "
                       f"for about {minutes} min; try again after {until}")
            code = "LOGIN_LOCKED"
        else:
            message = (f"too many failed logins: wait {self.retry_after_seconds} s before the next attempt "
                       f"(after {until})")
            code = "LOGIN_THROTTLED"
        super().__init__(message, field=field, code=code)


@dataclass(frozen=True)
class LoggedIn:
    token: str
    user: StaffUser
    expires_at: datetime


@dataclass(frozen=True)
class SecondFactorRequired:
    """The password was right and the user has a second factor: trade `challenge` and a code for a session."""

    challenge: str
    user: StaffUser
    expires_at: datetime


CHALLENGE_SECONDS = 300


async def login(
    db: Database,
    config: SessionConfig,
    guard: LoginGuard,
    *,
    email: str,
    password: str,
    organization_id: uuid.UUID | None,
    ip: str | None,
    user_agent: str | None = None,
    expires_in_seconds: int | None = None,
    request_id: str | None = None,
) -> LoggedIn | SecondFactorRequired:
    """A session for the staff user whose password matches; failures are counted, slowed, locked, audited.

    A user with a second factor gets a challenge instead (good for CHALLENGE_SECONDS), and the attempt stays
    counted by the brakes until the code is right too (`complete_login`)."""
    check_password_length(password)
    if expires_in_seconds is not None and not 1 <= expires_in_seconds <= config.ttl_seconds:
        raise Invalid(
            f"a session lasts between 1 and {config.ttl_seconds} seconds",
            field=("expiresInSeconds",),
            code=AccessCode.INVALID_SESSION_LIFETIME,
        )
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise Invalid("not an email address", field=("email",), code=CommonCode.INVALID_EMAIL)
    verdict = await guard.attempt(email, ip)
    if not verdict.allowed:
        log.info("login refused: too many failures", extra={"ip": ip, "locked": verdict.locked})
        raise LoginRefused(verdict, db.clock.now())
    async with db.read() as session:
        candidates = [
            u
            for u in await find_staff_users_by_email(session, email)
            if organization_id is None or u.organization_id == organization_id
        ]
    matching = [u for u in candidates if u.active and await password_matches(u.password_hash, password)]
    if not any(u.active for u in candidates):
        await password_matches(None, password)
    if not matching:
        await _record_failure(db, guard, verdict, candidates, email, ip, user_agent, request_id)
        raise Invalid("email or password is wrong", field=("password",), code=AccessCode.INVALID_CREDENTIALS)
    if len(matching) > 1:
        await guard.succeeded(email, ip)
        raise Invalid(
            "this email belongs to several organizations: give organizationId",
            field=("organizationId",),
            code=AccessCode.ORGANIZATION_REQUIRED,
        )
    user = matching[0]
    async with db.read() as session:
        challenged = bool(await confirmed_second_factor_users(session, [user.id]))
    if challenged:
        now = db.clock.now()
        until = now + timedelta(seconds=CHALLENGE_SECONDS)
        return SecondFactorRequired(_challenge(config, user, now, until, expires_in_seconds), user, until)
    await guard.succeeded(email, ip)
    return await _open_session(db, config, user, ip, user_agent, expires_in_seconds, request_id)


def _challenge(
    config: SessionConfig, user: StaffUser, now: datetime, until: datetime, expires_in_seconds: int | None
) -> str:
    return jwt.encode(
        {"sub": str(user.id), "org": str(user.organization_id), "iat": int(now.timestamp()),
         "exp": int(until.timestamp()), "typ": "second_factor", "ttl": expires_in_seconds,
         "jti": secrets.token_hex(8)},
        config.secret_key,
        algorithm="HS256",
    )


def _read_challenge(config: SessionConfig, token: str, now: datetime) -> tuple[uuid.UUID, uuid.UUID, int | None]:
    """(user id, organization id, session lifetime asked for) of a challenge still good at `now`."""
    refused = Invalid("the sign-in has expired or is not valid: log in with your password again",
                      field=("challenge",), code=AccessCode.INVALID_CHALLENGE)
    try:
        # Expiry is checked by the injected clock below, not by the library's wall time.
        claims = jwt.decode(token[:2000], config.secret_key, algorithms=["HS256"],
                            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub", "org"]})
        if claims.get("typ") != "second_factor" or not now.timestamp() < float(claims["exp"]):
            raise refused
        ttl = claims.get("ttl")
        return uuid.UUID(claims["sub"]), uuid.UUID(claims["org"]), int(ttl) if ttl is not None else None
    except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
        raise refused from None


async def complete_login(
    db: Database,
    config: SessionConfig,
    guard: LoginGuard,
    box: SecretBox,
    *,
    challenge: str,
    code: str | None,
    recovery_code: str | None,
    ip: str | None,
    user_agent: str | None = None,
    request_id: str | None = None,
) -> LoggedIn:
    """The session of a login challenged for its second factor: a current code or an unused recovery code.

    A wrong or reused code is a failed login (counted, slowed, locked, audited)."""
    user_id, organization_id, expires_in_seconds = _read_challenge(config, challenge, db.clock.now())
    async with db.read() as session:
        user = await StaffUserRepository(session, organization_id).get(user_id)
    if user is None or not user.active:
        raise Invalid("the sign-in has expired or is not valid: log in with your password again",
                      field=("challenge",), code=AccessCode.INVALID_CHALLENGE)
    verdict = await guard.attempt(user.email, ip)
    if not verdict.allowed:
        log.info("second factor refused: too many failures", extra={"ip": ip, "locked": verdict.locked})
        raise LoginRefused(verdict, db.clock.now(), field=("code",))
    actor = Actor(user.organization_id, user.role, "user", str(user.id), user.email, request_id)
    try:
        async with db.unit_of_work() as uow:
            method = await second_factor.verify(uow, actor, box, user, code=code, recovery_code=recovery_code,
                                                purpose="login")
    except second_factor.SecondFactorRejected as exc:
        await second_factor.record_rejection(db, guard, verdict, user, exc.reason, ip, user_agent, request_id)
        raise
    await guard.succeeded(user.email, ip)
    return await _open_session(db, config, user, ip, user_agent, expires_in_seconds, request_id, method)


async def _open_session(
    db: Database,
    config: SessionConfig,
    user: StaffUser,
    ip: str | None,
    user_agent: str | None,
    expires_in_seconds: int | None,
    request_id: str | None,
    second_factor_method: str | None = None,
) -> LoggedIn:
    now = db.clock.now()
    expires_at = now + timedelta(seconds=expires_in_seconds or config.ttl_seconds)
    async with db.unit_of_work() as uow:
        record = await StaffSessionRepository(uow.session, user.organization_id).add(
            StaffSession(
                staff_user_id=user.id,
                created_at=now,  # by the clock the expiry is reckoned by: a session's longest life counts from here
                expires_at=expires_at,
                last_seen_at=now,
                ip=ip[:64] if ip else None,
                user_agent=user_agent[:MAX_USER_AGENT_LENGTH] if user_agent else None,
            )
        )
        actor = Actor(user.organization_id, user.role, "user", str(user.id), user.email, request_id,
                      session_id=record.id)
        await audit.record(
            uow, actor, "staff_user.logged_in", "staff_user", user.id,
            after={"sessionId": record.id, "ip": ip, "expiresAt": expires_at, "secondFactor": second_factor_method},
        )
    return LoggedIn(issue_session_token(config, user, record.id, now, expires_at), user, expires_at)


async def _record_failure(
    db: Database,
    guard: LoginGuard,
    verdict: LoginVerdict,
    candidates: list[StaffUser],
    email: str,
    ip: str | None,
    user_agent: str | None,
    request_id: str | None,
) -> None:
    """Into the audit trail of each organization the email belongs to; an unknown email: a log line."""
    if not candidates:
        log.info("login failed: unknown email", extra={"ip": ip, "failures": verdict.ip_failures})
        return
    by_org: dict[uuid.UUID, list[StaffUser]] = defaultdict(list)
    for user in candidates:
        by_org[user.organization_id].append(user)
    for organization_id, users in by_org.items():
        actor = Actor(organization_id, Role.VIEWER, "anonymous", None, ip or "unknown", request_id)
        async with db.unit_of_work() as uow:
            for user in users:
                await audit.record(
                    uow, actor, "staff_user.login_failed", "staff_user", user.id,
                    after={
                        "email": email,
                        "ip": ip,
                        "userAgent": user_agent[:MAX_USER_AGENT_LENGTH] if user_agent else None,
                        "reason": "wrong password" if user.active else "user disabled",
                        "failures": verdict.account_failures,
                    },
                )
                if guard.locks_now(verdict):
                    await audit.record(
                        uow, actor, "staff_user.login_locked", "staff_user", user.id,
                        after={"email": email, "ip": ip, "failures": verdict.account_failures,
                               "lockedForSeconds": guard.policy.lock_seconds},
                    )
    log.info("login failed", extra={"ip": ip, "failures": verdict.account_failures})


def _own_session(actor: Actor) -> uuid.UUID:
    if actor.kind != "user" or actor.session_id is None:
        raise Invalid(
            "only a session can log out: this request uses an API key", field=(), code=AccessCode.NOT_A_SESSION
        )
    return actor.session_id


def _session_view(record: StaffSession) -> dict[str, object]:
    return {"staffUserId": record.staff_user_id, "expiresAt": record.expires_at, "revokedAt": record.revoked_at}


async def logout(uow: UnitOfWork, actor: Actor, *, everywhere: bool = False) -> int:
    """Ends the caller's session (or every session of the caller); returns how many were ended."""
    session_id = _own_session(actor)
    repo = StaffSessionRepository(uow.session, actor.organization_id)
    now = uow.clock.now()
    if everywhere:
        assert actor.id is not None
        ended = await repo.revoke_of_user(uuid.UUID(actor.id), now)
        await audit.record(uow, actor, "session.ended", "staff_user", actor.id,
                           after={"sessions": [str(i) for i in ended], "everywhere": True})
        announce_change(uow, actor.organization_id, "staffUser", actor.id)
        return len(ended)
    record = await repo.get(session_id)
    if record is None or record.revoked_at is not None:
        return 0
    record.revoked_at = now
    await audit.record(uow, actor, "session.ended", "session", record.id, after=_session_view(record))
    announce_change(uow, actor.organization_id, "session", record.id)
    return 1


async def refresh_session(uow: UnitOfWork, actor: Actor, config: SessionConfig) -> LoggedIn:
    """The caller's session lives on: SESSION_TTL_SECONDS from now, never past SESSION_MAX_AGE_SECONDS after its
    login (then the user logs in again). A new token carries the new expiry; the old one still works until its own."""
    session_id = _own_session(actor)
    record = await StaffSessionRepository(uow.session, actor.organization_id).get(session_id)
    now = uow.clock.now()
    if record is None or record.revoked_at is not None or record.expires_at <= now:  # a guard: refused at sign-in
        raise NotFound("this session has ended: log in again", field=())
    expires_at = min(now + timedelta(seconds=config.ttl_seconds),
                     record.created_at + timedelta(seconds=config.max_age_seconds))
    if expires_at <= record.expires_at:
        raise Invalid(
            f"this session is as long as a session gets ({config.max_age_seconds} s after its login): log in again",
            field=(), code=AccessCode.SESSION_AT_MAX_AGE,
        )
    before = _session_view(record)
    record.expires_at = expires_at
    await audit.record(uow, actor, "session.refreshed", "session", record.id, before=before,
                       after=_session_view(record))
    announce_change(uow, actor.organization_id, "session", record.id)  # every process reads the new expiry
    user = record.user
    return LoggedIn(issue_session_token(config, user, record.id, now, expires_at), user, expires_at)


async def revoke_session(uow: UnitOfWork, actor: Actor, session_id: uuid.UUID) -> StaffSession:
    """A user ends one of their own sessions; an ADMIN any session of the organization."""
    record = await StaffSessionRepository(uow.session, actor.organization_id).get(session_id)
    own = record is not None and actor.kind == "user" and actor.id == str(record.staff_user_id)
    if record is None or not (own or actor.has_role(Role.ADMIN)):
        raise NotFound("no session with this id", field=("id",))
    if record.revoked_at is None:
        before = _session_view(record)
        record.revoked_at = uow.clock.now()
        await audit.record(uow, actor, "session.revoked", "session", record.id, before=before,
                           after=_session_view(record))
        announce_change(uow, actor.organization_id, "session", record.id)
    return record
