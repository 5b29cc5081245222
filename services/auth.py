"""Credentials: API keys (hashed, shown once), staff passwords (argon2), session tokens (JWT)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from db.models import ApiKey, Role, StaffUser
from db.repositories.organizations import (
    ApiKeyRepository,
    StaffUserRepository,
    find_api_key_by_hash,
    find_staff_users_by_email,
    touch_api_key,
)
from db.session import Database, UnitOfWork
from services import audit
from services.actors import Actor
from services.errors import AlreadyExists, Forbidden, Invalid, NotFound, Unauthenticated

API_KEY_PREFIX = "vv_"
LAST_USED_RESOLUTION_S = 60.0
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# A dummy hash so that an unknown email costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionConfig:
    secret_key: str
    ttl_seconds: int = 900


def hash_secret(secret: str) -> str:
    """API keys are 256-bit random: a fast hash is safe, and lookups stay one index probe."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    key: ApiKey
    secret: str


async def issue_api_key(uow: UnitOfWork, actor: Actor, name: str, role: Role) -> IssuedApiKey:
    if not name.strip():
        raise Invalid("a name is required", field=("name",), code="REQUIRED")
    if not actor.has_role(role):
        raise Forbidden(f"a {actor.role} cannot create a key with the stronger role {role}")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = await ApiKeyRepository(uow.session, actor.organization_id).add(
        ApiKey(name=name.strip(), role=role, prefix=secret[:10], secret_hash=hash_secret(secret))
    )
    await audit.record(uow, actor, "api_key.created", "api_key", key.id, after=_key_view(key))
    return IssuedApiKey(key, secret)


async def revoke_api_key(uow: UnitOfWork, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    key = await ApiKeyRepository(uow.session, actor.organization_id).get(key_id)
    if key is None:
        raise NotFound("no API key with this id", field=("id",))
    if key.revoked_at is None:
        before = _key_view(key)
        key.revoked_at = datetime.now(UTC)
        await audit.record(uow, actor, "api_key.revoked", "api_key", key.id, before=before, after=_key_view(key))
    return key


def _key_view(key: ApiKey) -> dict[str, object]:
    return {"name": key.name, "role": key.role, "prefix": key.prefix, "revokedAt": key.revoked_at}


async def create_staff_user(
    uow: UnitOfWork, actor: Actor, *, email: str, name: str, role: Role, password: str
) -> StaffUser:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid("not an email address", field=("email",), code="INVALID_EMAIL")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            field=("password",),
            code="PASSWORD_TOO_SHORT",
        )
    if not actor.has_role(role):
        raise Forbidden(f"a {actor.role} cannot create a user with the stronger role {role}")
    users = StaffUserRepository(uow.session, actor.organization_id)
    if await users.by_email(email) is not None:
        raise AlreadyExists("a user with this email exists", field=("email",))
    user = await users.add(
        StaffUser(email=email, name=name.strip(), role=role, password_hash=_hasher.hash(password), active=True)
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


async def login(
    uow: UnitOfWork, config: SessionConfig, *, email: str, password: str, organization_id: uuid.UUID | None
) -> tuple[str, StaffUser]:
    """A short-lived session token for a staff user whose password matches."""
    candidates = [
        u
        for u in await find_staff_users_by_email(uow.session, email.strip())
        if u.active and (organization_id is None or u.organization_id == organization_id)
    ]
    matching = [u for u in candidates if _password_matches(u.password_hash, password)]
    if not candidates:
        _password_matches(_DUMMY_HASH, password)
    if not matching:
        raise Invalid("email or password is wrong", field=("password",), code="INVALID_CREDENTIALS")
    if len(matching) > 1:
        raise Invalid(
            "this email belongs to several organizations: give organizationId",
            field=("organizationId",),
            code="ORGANIZATION_REQUIRED",
        )
    user = matching[0]
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": str(user.id),
            "org": str(user.organization_id),
            "iat": now,
            "exp": now + config.ttl_seconds,
            "typ": "session",
        },
        config.secret_key,
        algorithm="HS256",
    )
    actor = Actor(user.organization_id, user.role, "user", str(user.id), user.email)
    await audit.record(uow, actor, "staff_user.logged_in", "staff_user", user.id)
    return token, user


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class Authenticator:
    """Turns an `Authorization` header value into an Actor, or says why it cannot."""

    def __init__(self, db: Database, config: SessionConfig) -> None:
        self.db = db
        self.config = config
        self._last_touch: dict[uuid.UUID, float] = {}

    async def authenticate(self, authorization: str | None) -> Actor | None:
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <API key or session token>'")
        if token.startswith(API_KEY_PREFIX):
            return await self._api_key(token)
        return await self._session(token)

    async def _api_key(self, secret: str) -> Actor:
        async with self.db.read() as session:
            key = await find_api_key_by_hash(session, hash_secret(secret))
        if key is None:
            raise Unauthenticated("unknown API key")
        if key.revoked_at is not None:
            raise Unauthenticated("this API key was revoked")
        await self._touch(key.id)
        return Actor(key.organization_id, key.role, "api_key", str(key.id), key.name)

    async def _touch(self, key_id: uuid.UUID) -> None:
        # lastUsedAt to the minute: one write per key per minute, not one per request.
        now = time.monotonic()
        if now - self._last_touch.get(key_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
            return
        self._last_touch[key_id] = now
        async with self.db.unit_of_work() as uow:
            await touch_api_key(uow.session, key_id, datetime.now(UTC))

    async def _session(self, token: str) -> Actor:
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
        except (ValueError, TypeError) as exc:
            raise Unauthenticated("the session token is malformed") from exc
        async with self.db.read() as session:
            user = await StaffUserRepository(session, org_id).get(user_id)
        if user is None or not user.active:
            raise Unauthenticated("the user of this session no longer exists or is disabled")
        return Actor(user.organization_id, user.role, "user", str(user.id), user.email)
