"""Credentials: API keys (hashed, shown once), staff users and their passwords (argon2), session tokens
(JWT naming a server-side session), and the Authenticator that checks them on every request."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import jwt
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from db.catalog_changes import notify_catalog_changed
from db.models import ApiKey, Role, StaffUser
from db.repositories.customers import find_portal_session_by_hash
from db.repositories.organizations import (
    ApiKeyRepository,
    StaffSessionRepository,
    StaffUserRepository,
    find_api_key_by_hash,
    touch_api_key,
)
from db.session import Database, UnitOfWork
from services import audit, catalog_changes
from services.actors import ROLE_RANK, Actor
from services.errors import AccessCode, AlreadyExists, CommonCode, Forbidden, Invalid, NotFound, Unauthenticated

API_KEY_PREFIX = "vv_"
PORTAL_TOKEN_PREFIX = "vvp_"  # noqa: S105 (a prefix) — a customer portal link's token (services/portal.py)
LAST_USED_RESOLUTION_S = 60.0
# How long an API process trusts credentials it read without reading them again. A change (a key revoked, a
# session ended, a user disabled or given another role, a portal link revoked) is forgotten at once in every
# process through PostgreSQL's notification (announce_change); this bounds it if a notification is missed.
KEPT_CREDENTIALS_S = 2.0
KEPT_CREDENTIALS_MAX = 10_000
MIN_PASSWORD_LENGTH = 10
# Longer passwords are refused before any hashing: argon2 reads the whole input.
MAX_PASSWORD_LENGTH = 1024
# argon2 runs in these threads, never on the event loop (it releases the GIL); half the cores, so
# that a burst of logins leaves the other half to everybody else, and at a lower CPU priority.
HASHING_THREADS = max(1, (os.cpu_count() or 2) // 2)
HASHING_NICENESS = 10


def _lower_priority() -> None:
    """Linux: a thread has its own nice value, inherited by the threads argon2 starts for its lanes."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


_hashing = ThreadPoolExecutor(
    max_workers=HASHING_THREADS, thread_name_prefix="argon2", initializer=_lower_priority
)
_hasher = PasswordHasher()
# A dummy hash so that an unknown email costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionConfig:
    secret_key: str
    ttl_seconds: int = 900
    max_age_seconds: int = 43_200  # how long refreshSession keeps a session alive after its login (12 hours)


def hash_secret(secret: str) -> str:
    """API keys are 256-bit random: a fast hash is safe, and lookups stay one index probe."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password_length(password: str, field: tuple[str, ...] = ("password",)) -> None:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"a password has at most {MAX_PASSWORD_LENGTH} characters", field=field, code=AccessCode.PASSWORD_TOO_LONG
        )


async def hash_password(password: str) -> str:
    check_password_length(password)
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hasher.hash, password)


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Verified in the hashing threads; None (no such user) is checked against a dummy hash, as long."""
    check_password_length(password)
    return await asyncio.get_running_loop().run_in_executor(
        _hashing, _verify, password_hash or _DUMMY_HASH, password, password_hash is not None
    )


def _verify(password_hash: str, password: str, real: bool) -> bool:
    try:
        return _hasher.verify(password_hash, password) and real
    except (VerificationError, InvalidHashError):
        return False


# --- revocation: live sockets of a principal hear of it over pub/sub ---------------------------


def credentials_channel(organization_id: uuid.UUID) -> str:
    return f"credentials.{organization_id}"


def announce_change(uow: UnitOfWork, organization_id: uuid.UUID, kind: str, target_id: object) -> None:
    """After commit, tell the API processes that a credential changed: `kind` is apiKey, staffUser, session or
    portalSession. Their live sockets hear it over pub/sub; the credentials they keep (Authenticator) are forgotten
    at once here and, through PostgreSQL's notification at COMMIT, in every other process."""
    uow.publish_after_commit(
        credentials_channel(organization_id), orjson.dumps({"kind": kind, "id": str(target_id)})
    )

    async def notify() -> None:
        await notify_catalog_changed(uow.session, organization_id)

    async def forget_now() -> None:
        catalog_changes.forget_here(organization_id)

    uow.before_commit(f"credentials-changed:{organization_id}", notify)
    uow.after_commit(forget_now)


# --- API keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    key: ApiKey
    secret: str


async def issue_api_key(uow: UnitOfWork, actor: Actor, name: str, role: Role) -> IssuedApiKey:
    if not name.strip():
        raise Invalid("a name is required", field=("name",), code=CommonCode.REQUIRED)
    if not actor.has_role(role):
        raise Forbidden(f"a {actor.role} cannot create a key with the stronger role {role}")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = await ApiKeyRepository(uow.session, actor.organization_id).add(
        ApiKey(name=name.strip(), role=role, prefix=secret[:10], secret_hash=hash_secret(secret))
    )
    await audit.record(uow, actor, "api_key.created", "api_key", key.id, after=_key_view(key))
    return IssuedApiKey(key, secret)


async def revoke_api_key(uow: UnitOfWork, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    key = await ApiKeyRepository(uow.session, actor.organization_id).get_or(
        key_id, NotFound("no API key with this id", field=("id",))
    )
    if key.revoked_at is None:
        before = _key_view(key)
        key.revoked_at = uow.clock.now()
        await audit.record(uow, actor, "api_key.revoked", "api_key", key.id, before=before, after=_key_view(key))
        announce_change(uow, actor.organization_id, "apiKey", key.id)
    return key


def _key_view(key: ApiKey) -> dict[str, object]:
    return {"name": key.name, "role": key.role, "prefix": key.prefix, "revokedAt": key.revoked_at}


# --- staff users --------------------------------------------------------------------------------


async def create_staff_user(
    uow: UnitOfWork, actor: Actor, *, email: str, name: str, role: Role, password: str
) -> StaffUser:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid("not an email address", field=("email",), code=CommonCode.INVALID_EMAIL)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            field=("password",),
            code=AccessCode.PASSWORD_TOO_SHORT,
        )
    check_password_length(password)
    if not actor.has_role(role):
        raise Forbidden(f"a {actor.role} cannot create a user with the stronger role {role}")
    users = StaffUserRepository(uow.session, actor.organization_id)
    if await users.by_email(email) is not None:
        raise AlreadyExists("a user with this email exists", field=("email",))
    user = await users.add(
        StaffUser(
            email=email, name=name.strip(), role=role, password_hash=await hash_password(password), active=True
        )
    )
    await audit.record(
        uow,
        actor,
        "staff_user.created",
        "staff_user",
        user.id,
        after={"email": user.email, "name": user.name, "role": user.role},
    )
    return user


def _user_view(user: StaffUser) -> dict[str, object]:
    return {"email": user.email, "role": user.role, "active": user.active}


async def managed_user(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID, *, field: str = "id") -> StaffUser:
    """The user an ADMIN acts on (locked for the change): never one with a stronger role than the actor's."""
    user = await StaffUserRepository(uow.session, actor.organization_id).get_or(
        user_id, NotFound("no staff user with this id", field=(field,)), for_update=True
    )
    if ROLE_RANK[user.role] > ROLE_RANK[actor.role]:
        raise Forbidden(f"a {actor.role} cannot change a user with the stronger role {user.role}")
    return user


async def _keep_an_owner(uow: UnitOfWork, actor: Actor, user: StaffUser) -> None:
    if user.role == Role.OWNER and user.active:
        if await StaffUserRepository(uow.session, actor.organization_id).count_active_owners() <= 1:
            raise Invalid(
                "this is the organization's last active OWNER: make another user OWNER first",
                field=("id",),
                code=AccessCode.LAST_OWNER,
            )


async def change_staff_user_role(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID, role: Role) -> StaffUser:
    """A new role, effective at the user's next request; their live sockets are re-checked at once."""
    user = await managed_user(uow, actor, user_id)
    if not actor.has_role(role):
        raise Forbidden(f"a {actor.role} cannot give the stronger role {role}")
    if user.role == role:
        return user
    if ROLE_RANK[role] < ROLE_RANK[user.role]:
        await _keep_an_owner(uow, actor, user)
    before = _user_view(user)
    user.role = role
    await audit.record(uow, actor, "staff_user.role_changed", "staff_user", user.id, before=before,
                       after=_user_view(user))
    announce_change(uow, actor.organization_id, "staffUser", user.id)
    return user


async def set_staff_user_active(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID, active: bool) -> StaffUser:
    """Disabling ends every session of the user (enabling again does not bring them back)."""
    user = await managed_user(uow, actor, user_id)
    if user.active == active:
        return user
    if not active:
        if actor.kind == "user" and actor.id == str(user.id):
            raise Invalid("you cannot disable yourself", field=("id",), code=AccessCode.CANNOT_DISABLE_SELF)
        await _keep_an_owner(uow, actor, user)
    before = _user_view(user)
    user.active = active
    if not active:
        await StaffSessionRepository(uow.session, actor.organization_id).revoke_of_user(user.id, uow.clock.now())
    action = "staff_user.enabled" if active else "staff_user.disabled"
    await audit.record(uow, actor, action, "staff_user", user.id, before=before, after=_user_view(user))
    announce_change(uow, actor.organization_id, "staffUser", user.id)
    return user


# --- session tokens -----------------------------------------------------------------------------


def issue_session_token(
    config: SessionConfig, user: StaffUser, session_id: uuid.UUID, issued_at: datetime, expires_at: datetime
) -> str:
    return jwt.encode(
        {
            "sub": str(user.id),
            "org": str(user.organization_id),
            "sid": str(session_id),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_urlsafe(9),  # each token its own, even two issued within one second
            "typ": "session",
        },
        config.secret_key,
        algorithm="HS256",
    )


@dataclass(frozen=True)
class Credentials:
    """What a token stands for right now, and until when (None: until revoked)."""

    actor: Actor
    expires_at: datetime | None


def _bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, None for any other shape."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _digest(token: str) -> bytes:
    """What kept credentials are found by: the token itself is not kept."""
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Turns an `Authorization` header value into an Actor, or says why it cannot.

    Credentials read from the database (the key, the session and its user, the portal link) are kept by this
    process for `KEPT_CREDENTIALS_S`, so that a burst of requests reads them once: a revocation, a disabled user
    or a new role is forgotten at commit (`announce_change`) in every API process, and takes effect at the
    caller's next request. Nothing is kept while `listening()` says that the process might not hear of such a
    change (its LISTEN connection is down; everything kept is forgotten when it is back). Refusals are never
    kept. `verify(..., kept=False)` always reads."""

    def __init__(self, db: Database, config: SessionConfig, listening: Callable[[], bool] = lambda: False) -> None:
        self.db = db
        self.config = config
        self._listening = listening  # False: a change might go unheard, so nothing is kept
        self._last_touch: dict[uuid.UUID, float] = {}
        self._kept: dict[bytes, tuple[float, Credentials]] = {}
        self._forgotten = 0  # bumped by every forget: a read begun before it is not kept (it may predate it)
        catalog_changes.register(self)

    def forget(self, organization_id: uuid.UUID) -> None:
        """A credential of the organization changed (here or in another process): read them all again."""
        self._forgotten += 1
        for digest in [d for d, (_, c) in self._kept.items() if c.actor.organization_id == organization_id]:
            del self._kept[digest]

    def forget_all(self) -> None:
        self._forgotten += 1
        self._kept.clear()

    async def authenticate(self, authorization: str | None) -> Actor | None:
        credentials = await self.verify(authorization)
        return credentials.actor if credentials else None

    async def verify(
        self, authorization: str | None, *, touch: bool = True, kept: bool = True
    ) -> Credentials | None:
        """None without credentials; `touch=False` for re-checks that are not a use of the credentials, `kept=False`
        to read them from the database whatever this process keeps."""
        if not authorization:
            return None
        token = _bearer_token(authorization)
        if token is None:
            raise Unauthenticated(
                "the Authorization header must be 'Bearer <API key, session token or portal token>'"
            )
        digest = _digest(token)
        if kept and (found := self._still_kept(digest)) is not None:
            if touch:
                await self._touch(found.actor)
            return found
        forgotten = self._forgotten
        if token.startswith(PORTAL_TOKEN_PREFIX):
            credentials = await self._portal(token)
        elif token.startswith(API_KEY_PREFIX):
            credentials = await self._api_key(token, touch)
        else:
            credentials = await self._session(token, touch)
        if forgotten == self._forgotten and self._listening():
            if len(self._kept) >= KEPT_CREDENTIALS_MAX:
                self._kept.clear()
            self._kept[digest] = (time.monotonic() + KEPT_CREDENTIALS_S, credentials)
        return credentials

    def kept_actor(self, authorization: str | None) -> Actor | None:
        """Who the header names if this process keeps its credentials (no I/O, nothing touched), else None."""
        token = _bearer_token(authorization or "")
        credentials = self._still_kept(_digest(token)) if token is not None else None
        return credentials.actor if credentials else None

    def _still_kept(self, digest: bytes) -> Credentials | None:
        entry = self._kept.get(digest)
        if entry is None:
            return None
        if not self._listening():
            self._kept.clear()
            return None
        until, credentials = entry
        if time.monotonic() >= until or (
            credentials.expires_at is not None and credentials.expires_at <= self.db.clock.now()
        ):
            del self._kept[digest]  # read again: the database says why it no longer holds, if it does not
            return None
        return credentials

    async def _touch(self, actor: Actor) -> None:
        """lastUsedAt / lastSeenAt of kept credentials, as often as when they are read (`_due`)."""
        if actor.kind == "api_key" and self._due(uuid.UUID(actor.id)):
            async with self.db.unit_of_work() as uow:
                await touch_api_key(uow.session, uuid.UUID(actor.id), uow.clock.now())
        elif actor.kind == "user" and actor.session_id is not None and self._due(actor.session_id):
            async with self.db.unit_of_work() as uow:
                await StaffSessionRepository(uow.session, actor.organization_id).touch(
                    actor.session_id, uow.clock.now()
                )

    async def _api_key(self, secret: str, touch: bool) -> Credentials:
        async with self.db.read() as session:
            key = await find_api_key_by_hash(session, hash_secret(secret))
        if key is None:
            raise Unauthenticated("unknown API key")
        if key.revoked_at is not None:
            raise Unauthenticated("this API key was revoked")
        if touch and self._due(key.id):
            async with self.db.unit_of_work() as uow:
                await touch_api_key(uow.session, key.id, uow.clock.now())
        return Credentials(Actor(key.organization_id, key.role, "api_key", str(key.id), key.name), None)

    async def _portal(self, token: str) -> Credentials:
        """A customer portal link: that one customer, until the link expires or is revoked."""
        async with self.db.read() as session:
            found = await find_portal_session_by_hash(session, hash_secret(token))
        if found is None:
            raise Unauthenticated("unknown portal link: ask your supplier for a new one")
        record, customer = found
        if record.revoked_at is not None:
            raise Unauthenticated("this portal link was revoked: ask your supplier for a new one")
        if record.expires_at <= self.db.clock.now():
            raise Unauthenticated("this portal link has expired: ask your supplier for a new one")
        actor = Actor(
            record.organization_id, Role.VIEWER, "portal", str(record.id), customer.name,
            customer_id=customer.id, customer_external_id=customer.external_id,
        )
        return Credentials(actor, record.expires_at)

    def _due(self, record_id: uuid.UUID) -> bool:
        # lastUsedAt / lastSeenAt to the minute: one write per credential per minute, not one per request.
        now = time.monotonic()
        if now - self._last_touch.get(record_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
            return False
        if len(self._last_touch) > 100_000:
            self._last_touch.clear()
        self._last_touch[record_id] = now
        return True

    async def _session(self, token: str, touch: bool) -> Credentials:
        try:
            claims = jwt.decode(
                token, self.config.secret_key, algorithms=["HS256"], options={"require": ["exp", "sub", "org"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the session token has expired: log in again") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("the token is neither an API key nor a valid session token") from exc
        if claims.get("typ") != "session":
            raise Unauthenticated("the token is not a session token")
        try:
            user_id, org_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["org"])
            session_id = uuid.UUID(claims["sid"])
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("the session token is malformed or from an older version: log in again") from exc
        now = self.db.clock.now()
        async with self.db.read() as session:
            record = await StaffSessionRepository(session, org_id).get(session_id)
        if record is None or record.staff_user_id != user_id:
            raise Unauthenticated("this session does not exist: log in again")
        if record.revoked_at is not None:
            raise Unauthenticated("this session was ended (logout or revoked): log in again")
        if record.expires_at <= now:
            raise Unauthenticated("the session token has expired: log in again")
        user = record.user
        if not user.active:
            raise Unauthenticated("the user of this session is disabled")
        if touch and self._due(record.id):
            async with self.db.unit_of_work() as uow:
                await StaffSessionRepository(uow.session, org_id).touch(record.id, now)
        actor = Actor(user.organization_id, user.role, "user", str(user.id), user.email, session_id=record.id)
        return Credentials(actor, record.expires_at)
