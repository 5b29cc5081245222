"""A staff user's second factor (TOTP): enrolment, the check of a code or recovery code, turning it off.

The secret is sealed at rest with the secret box (integrations/secrets.py), bound to its user; recovery
codes are kept as SHA-256 only and are good once. A code is good for its step and one either side, and
once: the step of the last accepted code is remembered (see domain/second_factor.py). Wrong codes count
as failed logins in the login brakes (services/rate_limits.py), wherever a code is asked for.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Role, StaffSecondFactor, StaffUser
from db.repositories.organizations import StaffSecondFactorRepository, StaffSessionRepository, StaffUserRepository
from db.session import Database, UnitOfWork
from domain import second_factor as rules
from integrations import qr
from integrations.secrets import SecretBox
from services import audit, auth
from services.actors import Actor
from services.errors import AccessCode, Invalid
from services.rate_limits import LoginGuard, LoginVerdict

log = logging.getLogger("valueverse.auth")
MAX_CODE_LENGTH = 64

Method = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str  # a data: URI


@dataclass(frozen=True)
class Status:
    enabled: bool
    enabled_at: datetime | None
    pending: bool  # an enrolment started and not confirmed yet
    recovery_codes_left: int


class SecondFactorRejected(Invalid):
    """A wrong or reused code: counted as a failed login."""

    def __init__(self, message: str, *, field: tuple[str, ...], code: str, reason: str) -> None:
        super().__init__(message, field=field, code=code)
        self.reason = reason


def _context(user_id: object, organization_id: object) -> str:
    return f"staff_second_factor:{organization_id}:{user_id}"


def _own_user_id(actor: Actor) -> str:
    if actor.kind != "user" or actor.id is None:
        raise Invalid(
            "only a staff user's session has a second factor: this request uses an API key",
            field=(), code=AccessCode.NOT_A_SESSION,
        )
    return actor.id


async def _user(uow: UnitOfWork, actor: Actor) -> StaffUser:
    user = await StaffUserRepository(uow.session, actor.organization_id).get(uuid.UUID(_own_user_id(actor)))
    if user is None:
        raise Invalid("this user no longer exists", field=(), code=AccessCode.NOT_A_SESSION)
    return user


async def status(session: AsyncSession, actor: Actor) -> Status | None:
    """The caller's second factor (None for an API key)."""
    if actor.kind != "user" or actor.id is None:
        return None
    repo = StaffSecondFactorRepository(session, actor.organization_id)
    user_id = uuid.UUID(actor.id)
    factor = await repo.of_user(user_id)
    on = factor is not None and factor.confirmed_at is not None
    left = await repo.recovery_codes_left(user_id) if on else 0
    return Status(on, factor.confirmed_at if factor and on else None, factor is not None and not on, left)


async def start_enrolment(uow: UnitOfWork, actor: Actor, box: SecretBox) -> Enrolment:
    """A new secret for the caller (replacing an enrolment not confirmed yet); on only once confirmed."""
    user = await _user(uow, actor)
    repo = StaffSecondFactorRepository(uow.session, actor.organization_id)
    factor = await repo.of_user(user.id, for_update=True)
    if factor is not None and factor.confirmed_at is not None:
        raise Invalid(
            "the second factor is on already: turn it off first to enrol another device",
            field=(), code=AccessCode.SECOND_FACTOR_ALREADY_ON,
        )
    secret = pyotp.random_base32(32)  # 160 bits
    sealed = box.seal(secret, context=_context(user.id, user.organization_id))
    if factor is None:
        await repo.add(StaffSecondFactor(staff_user_id=user.id, secret_sealed=sealed))
    else:
        factor.secret_sealed, factor.last_used_step = sealed, None
    await audit.record(uow, actor, "staff_user.second_factor_enrolment_started", "staff_user", user.id,
                       after={"method": "totp"})
    uri = rules.otpauth_uri(secret, user.email)
    return Enrolment(secret, uri, qr.svg_data_uri(uri))


async def confirm_enrolment(uow: UnitOfWork, actor: Actor, box: SecretBox, code: str) -> list[str]:
    """Turns the second factor on with a current code from the app; returns the recovery codes (shown once)."""
    user = await _user(uow, actor)
    repo = StaffSecondFactorRepository(uow.session, actor.organization_id)
    factor = await repo.of_user(user.id, for_update=True)
    if factor is None:
        raise Invalid("start the enrolment first (startSecondFactorEnrolment)", field=("code",),
                      code=AccessCode.SECOND_FACTOR_NOT_STARTED)
    if factor.confirmed_at is not None:
        raise Invalid("the second factor is on already", field=("code",), code=AccessCode.SECOND_FACTOR_ALREADY_ON)
    await _check_totp(uow, repo, factor, box, user, code)
    factor.confirmed_at = uow.clock.now()
    codes = await _new_recovery_codes(repo, user)
    await audit.record(uow, actor, "staff_user.second_factor_enabled", "staff_user", user.id,
                       after={"method": "totp", "recoveryCodes": len(codes)})
    return codes


async def regenerate_recovery_codes(uow: UnitOfWork, actor: Actor, box: SecretBox, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), with a current code from the app."""
    user = await _user(uow, actor)
    repo = StaffSecondFactorRepository(uow.session, actor.organization_id)
    factor = await repo.of_user(user.id, for_update=True)
    if factor is None or factor.confirmed_at is None:
        raise Invalid("the second factor is off", field=("code",), code=AccessCode.SECOND_FACTOR_NOT_ON)
    await _check_totp(uow, repo, factor, box, user, code)
    codes = await _new_recovery_codes(repo, user)
    await audit.record(uow, actor, "staff_user.recovery_codes_regenerated", "staff_user", user.id,
                       after={"recoveryCodes": len(codes)})
    return codes


async def _new_recovery_codes(repo: StaffSecondFactorRepository, user: StaffUser) -> list[str]:
    raw = [
        "".join(secrets.choice(rules.RECOVERY_ALPHABET) for _ in range(rules.RECOVERY_CODE_LENGTH))
        for _ in range(rules.RECOVERY_CODE_COUNT)
    ]
    await repo.replace_recovery_codes(user.id, [rules.hash_recovery_code(c) for c in raw])
    return [rules.format_recovery_code(c) for c in raw]


async def _check_totp(
    uow: UnitOfWork, repo: StaffSecondFactorRepository, factor: StaffSecondFactor, box: SecretBox,
    user: StaffUser, code: str, field: tuple[str, ...] = ("code",),
) -> None:
    if len(code) > MAX_CODE_LENGTH:
        raise Invalid("a code is 6 digits", field=field, code=AccessCode.INVALID_SECOND_FACTOR)
    secret = box.open(factor.secret_sealed, context=_context(user.id, user.organization_id))
    step = rules.matching_step(secret, code, uow.clock.now())
    if step is None:
        raise SecondFactorRejected(
            "the code is wrong: type the 6 digits your authenticator app shows now",
            field=field, code=AccessCode.INVALID_SECOND_FACTOR, reason="wrong second-factor code",
        )
    if not await repo.use_step(factor.id, step):
        raise SecondFactorRejected(
            "this code was used already: wait for the next one in your authenticator app",
            field=field, code=AccessCode.SECOND_FACTOR_REUSED, reason="second-factor code reused",
        )


async def verify(
    uow: UnitOfWork, actor: Actor, box: SecretBox, user: StaffUser, *, code: str | None, recovery_code: str | None,
    purpose: str,
) -> Method:
    """Checks a current code or an unused recovery code of a user whose second factor is on; a recovery code
    is spent (and audited)."""
    if bool(code) == bool(recovery_code):
        raise Invalid("give the code from your authenticator app, or one recovery code", field=("code",),
                      code=AccessCode.SECOND_FACTOR_REQUIRED)
    repo = StaffSecondFactorRepository(uow.session, user.organization_id)
    factor = await repo.of_user(user.id, for_update=True)
    if factor is None or factor.confirmed_at is None:
        raise Invalid("the second factor is off", field=("code",), code=AccessCode.SECOND_FACTOR_NOT_ON)
    if code:
        await _check_totp(uow, repo, factor, box, user, code)
        return "totp"
    assert recovery_code is not None
    if len(recovery_code) > MAX_CODE_LENGTH or not await repo.use_recovery_code(
        user.id, rules.hash_recovery_code(recovery_code), uow.clock.now()
    ):
        raise SecondFactorRejected(
            "this recovery code is wrong or was used already (each one works once)",
            field=("recoveryCode",), code=AccessCode.INVALID_SECOND_FACTOR, reason="wrong or spent recovery code",
        )
    left = await repo.recovery_codes_left(user.id)
    await audit.record(uow, actor, "staff_user.recovery_code_used", "staff_user", user.id,
                       after={"purpose": purpose, "recoveryCodesLeft": left})
    return "recovery_code"


async def disable(
    db: Database, guard: LoginGuard, box: SecretBox, actor: Actor, *, code: str | None, recovery_code: str | None,
    ip: str | None,
) -> None:
    """Turns the caller's second factor off, with a current code or a recovery code (counted like a login)."""
    async with db.read() as session:
        user = await StaffUserRepository(session, actor.organization_id).get(uuid.UUID(_own_user_id(actor)))
    if user is None:
        raise Invalid("this user no longer exists", field=(), code=AccessCode.NOT_A_SESSION)
    verdict = await guard.attempt(user.email, ip)
    if not verdict.allowed:
        from services.sessions import LoginRefused

        raise LoginRefused(verdict, db.clock.now(), field=("code",))
    try:
        async with db.unit_of_work() as uow:
            method = await verify(uow, actor, box, user, code=code, recovery_code=recovery_code, purpose="disable")
            await StaffSecondFactorRepository(uow.session, actor.organization_id).remove_of_user(user.id)
            await audit.record(uow, actor, "staff_user.second_factor_disabled", "staff_user", user.id,
                               before={"method": "totp"}, after={"with": method})
    except SecondFactorRejected as exc:
        await record_rejection(db, guard, verdict, user, exc.reason, ip, None, actor.request_id)
        raise
    await guard.succeeded(user.email, ip)


async def reset_of_user(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID) -> StaffUser:
    """An ADMIN takes another staff user's second factor away (a lost phone and no recovery code left): the
    TOTP secret and every recovery code go, every session of theirs ends; they sign in with their password
    alone and enrol again. Never the caller's own (that takes a code: `disable`), never a stronger role."""
    user = await auth.managed_user(uow, actor, user_id, field="staffUserId")
    if actor.kind == "user" and actor.id == str(user.id):
        raise Invalid(
            "your own second factor is turned off with a code or a recovery code (disableSecondFactor)",
            field=("staffUserId",), code=AccessCode.CANNOT_RESET_OWN_SECOND_FACTOR,
        )
    repo = StaffSecondFactorRepository(uow.session, actor.organization_id)
    factor = await repo.of_user(user.id, for_update=True)
    if factor is None:
        raise Invalid(f"{user.email} has no second factor", field=("staffUserId",),
                      code=AccessCode.SECOND_FACTOR_NOT_ON)
    codes_left = await repo.recovery_codes_left(user.id)
    await repo.remove_of_user(user.id)
    ended = await StaffSessionRepository(uow.session, actor.organization_id).revoke_of_user(user.id, uow.clock.now())
    await audit.record(
        uow, actor, "staff_user.second_factor_reset", "staff_user", user.id,
        before={"method": "totp", "enabled": factor.confirmed_at is not None, "recoveryCodesLeft": codes_left},
        after={"enabled": False, "sessionsEnded": len(ended)},
    )
    auth.announce_change(uow, actor.organization_id, "staffUser", user.id)  # their open sockets close
    return user


async def record_rejection(
    db: Database, guard: LoginGuard, verdict: LoginVerdict, user: StaffUser, reason: str, ip: str | None,
    user_agent: str | None, request_id: str | None,
) -> None:
    """A wrong or reused second-factor code in the audit trail, as a failed login (and the lock it caused)."""
    actor = Actor(user.organization_id, Role.VIEWER, "anonymous", None, ip or "unknown", request_id)
    async with db.unit_of_work() as uow:
        await audit.record(
            uow, actor, "staff_user.login_failed", "staff_user", user.id,
            after={"email": user.email, "ip": ip, "userAgent": user_agent[:400] if user_agent else None,
                   "reason": reason, "failures": verdict.account_failures},
        )
        if guard.locks_now(verdict):
            await audit.record(
                uow, actor, "staff_user.login_locked", "staff_user", user.id,
                after={"email": user.email, "ip": ip, "failures": verdict.account_failures,
                       "lockedForSeconds": guard.policy.lock_seconds},
            )
    log.info("second factor rejected", extra={"ip": ip, "failures": verdict.account_failures})
