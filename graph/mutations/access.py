"""Sign-in and credentials: login and logout, sessions, API keys, staff users."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import Role as RoleModel
from domain.errors import DomainError
from graph.context import Context
from graph.errors import UserError, user_error
from graph.mutations.common import run_use_case
from graph.types.api_key import ApiKey
from graph.types.enums import Role
from graph.types.staff_session import StaffSession
from graph.types.staff_user import StaffUser
from services import auth, sessions
from services.errors import CommonCode, Invalid


@strawberry.input
class LoginInput:
    email: str
    password: str = strawberry.field(description=f"At most {auth.MAX_PASSWORD_LENGTH} characters.")
    organization_id: strawberry.ID | None = None
    expires_in_seconds: int | None = strawberry.field(
        default=None, description="A session shorter than the server's (SESSION_TTL_SECONDS), never longer."
    )


@strawberry.type
class LoginPayload:
    token: str | None = strawberry.field(description="Send as 'Authorization: Bearer <token>'.")
    expires_at: datetime | None
    user: StaffUser | None
    second_factor_required: bool = strawberry.field(
        default=False,
        description="The password was right and the user has a second factor: no token yet; send the challenge "
        "and a code to completeLogin.",
    )
    challenge: str | None = strawberry.field(
        default=None, description="With secondFactorRequired: what completeLogin takes, good until challengeExpiresAt."
    )
    challenge_expires_at: datetime | None = None
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="When logins are slowed or locked (LOGIN_THROTTLED, LOGIN_LOCKED): wait this long."
    )
    user_errors: list[UserError]


@strawberry.input
class CompleteLoginInput:
    challenge: str = strawberry.field(description="The challenge a login answered with (secondFactorRequired).")
    code: str | None = strawberry.field(default=None, description="The 6 digits the authenticator app shows now.")
    recovery_code: str | None = strawberry.field(
        default=None, description="Instead of a code: one of the recovery codes (each works once)."
    )


@strawberry.input
class LogoutInput:
    everywhere: bool = strawberry.field(default=False, description="End every session of the caller, not only this.")


@strawberry.type
class LogoutPayload:
    ended_sessions: int
    user_errors: list[UserError]


@strawberry.type
class RefreshSessionPayload:
    token: str | None = strawberry.field(description="The session's new token; the old one works until its own expiry.")
    expires_at: datetime | None
    user_errors: list[UserError]


@strawberry.input
class RevokeSessionInput:
    id: strawberry.ID


@strawberry.type
class StaffSessionPayload:
    session: StaffSession | None
    user_errors: list[UserError]


@strawberry.input
class StaffUserIdInput:
    id: strawberry.ID


@strawberry.input
class ChangeStaffUserRoleInput:
    id: strawberry.ID
    role: Role


@strawberry.input
class CreateApiKeyInput:
    name: str
    role: Role = RoleModel.ADMIN


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey | None
    secret: str | None = strawberry.field(description="The key itself: shown this once, never again.")
    user_errors: list[UserError]


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None
    user_errors: list[UserError]


@strawberry.input
class CreateStaffUserInput:
    email: str
    password: str
    role: Role
    name: str = ""


@strawberry.type
class StaffUserPayload:
    staff_user: StaffUser | None
    user_errors: list[UserError]


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Invalid("not a valid id", field=(field,), code=CommonCode.INVALID_ID) from exc


@strawberry.type
class AccessMutations:
    @strawberry.mutation(
        description="Exchange a staff user's email and password for a session token. Repeated failures slow "
        "down and then lock logins for the email and for the address (LOGIN_THROTTLED, LOGIN_LOCKED). A user with a "
        "second factor gets no token but secondFactorRequired and a challenge for completeLogin."
    )
    async def login(self, info: Info[Context, None], input: LoginInput) -> LoginPayload:
        services = info.context.services
        request = info.context.request
        client = getattr(request, "client", None)
        try:
            org_id = _uuid(input.organization_id, "organizationId") if input.organization_id else None
            done = await sessions.login(
                info.context.db,
                services.session_config,
                services.login_guard,
                email=input.email,
                password=input.password,
                organization_id=org_id,
                ip=client.host if client else None,
                user_agent=request.headers.get("user-agent") if request is not None else None,
                expires_in_seconds=input.expires_in_seconds,
                request_id=info.context.request_id,
            )
        except DomainError as exc:
            retry = exc.retry_after_seconds if isinstance(exc, sessions.LoginRefused) else None
            return LoginPayload(
                token=None, expires_at=None, user=None, retry_after_seconds=retry, user_errors=[user_error(exc)]
            )
        if isinstance(done, sessions.SecondFactorRequired):
            return LoginPayload(
                token=None, expires_at=None, user=None, second_factor_required=True, challenge=done.challenge,
                challenge_expires_at=done.expires_at, user_errors=[],
            )
        return LoginPayload(token=done.token, expires_at=done.expires_at, user=StaffUser.of(done.user), user_errors=[])

    @strawberry.mutation(
        description="The second step of a login challenged for a second factor: the challenge and a current code "
        "(or a recovery code) for a session. Wrong codes count as failed logins (LOGIN_THROTTLED, LOGIN_LOCKED); a "
        "code already used is refused (SECOND_FACTOR_REUSED); an expired challenge is INVALID_CHALLENGE."
    )
    async def complete_login(self, info: Info[Context, None], input: CompleteLoginInput) -> LoginPayload:
        request = info.context.request
        services = info.context.services
        client = getattr(request, "client", None)
        box = services.secret_box
        assert box is not None, "the app is built with its secret box"
        try:
            done = await sessions.complete_login(
                info.context.db,
                services.session_config,
                services.login_guard,
                box,
                challenge=input.challenge,
                code=input.code,
                recovery_code=input.recovery_code,
                ip=client.host if client else None,
                user_agent=request.headers.get("user-agent") if request is not None else None,
                request_id=info.context.request_id,
            )
        except DomainError as exc:
            retry = exc.retry_after_seconds if isinstance(exc, sessions.LoginRefused) else None
            return LoginPayload(
                token=None, expires_at=None, user=None, retry_after_seconds=retry, user_errors=[user_error(exc)]
            )
        return LoginPayload(token=done.token, expires_at=done.expires_at, user=StaffUser.of(done.user), user_errors=[])

    @strawberry.mutation(description="End the caller's session (or, with everywhere, all of the caller's sessions).")
    async def logout(self, info: Info[Context, None], input: LogoutInput | None = None) -> LogoutPayload:
        everywhere = bool(input and input.everywhere)
        ended, errors = await run_use_case(
            info, RoleModel.VIEWER, lambda uow, actor: sessions.logout(uow, actor, everywhere=everywhere)
        )
        return LogoutPayload(ended_sessions=ended or 0, user_errors=errors)

    @strawberry.mutation(
        description="Keep the caller's session alive: it now expires SESSION_TTL_SECONDS from now, never later than "
        "SESSION_MAX_AGE_SECONDS after its login (SESSION_AT_MAX_AGE: log in again). Session tokens only "
        "(NOT_A_SESSION)."
    )
    async def refresh_session(self, info: Info[Context, None]) -> RefreshSessionPayload:
        config = info.context.services.session_config
        done, errors = await run_use_case(
            info, RoleModel.VIEWER, lambda uow, actor: sessions.refresh_session(uow, actor, config)
        )
        if done is None:
            return RefreshSessionPayload(token=None, expires_at=None, user_errors=errors)
        return RefreshSessionPayload(token=done.token, expires_at=done.expires_at, user_errors=[])

    @strawberry.mutation(description="End a session: one's own, or (ADMIN) any of the organization's.")
    async def revoke_session(self, info: Info[Context, None], input: RevokeSessionInput) -> StaffSessionPayload:
        async def revoke(uow, actor):
            return await sessions.revoke_session(uow, actor, _uuid(input.id, "id"))

        record, errors = await run_use_case(info, RoleModel.VIEWER, revoke)
        current = info.context.actor.session_id if info.context.actor else None
        session = StaffSession.of(record, current, info.context.clock.now()) if record else None
        return StaffSessionPayload(session=session, user_errors=errors)

    @strawberry.mutation(
        description="Change a staff user's role (ADMIN; never to or from a role stronger than the caller's)."
    )
    async def change_staff_user_role(
        self, info: Info[Context, None], input: ChangeStaffUserRoleInput
    ) -> StaffUserPayload:
        async def change(uow, actor):
            return await auth.change_staff_user_role(uow, actor, _uuid(input.id, "id"), input.role)

        user, errors = await run_use_case(info, RoleModel.ADMIN, change)
        return StaffUserPayload(staff_user=StaffUser.of(user) if user else None, user_errors=errors)

    @strawberry.mutation(description="Disable a staff user (ADMIN): every session of theirs ends at once.")
    async def disable_staff_user(self, info: Info[Context, None], input: StaffUserIdInput) -> StaffUserPayload:
        async def disable(uow, actor):
            return await auth.set_staff_user_active(uow, actor, _uuid(input.id, "id"), False)

        user, errors = await run_use_case(info, RoleModel.ADMIN, disable)
        return StaffUserPayload(staff_user=StaffUser.of(user) if user else None, user_errors=errors)

    @strawberry.mutation(description="Enable a disabled staff user again (ADMIN); they log in anew.")
    async def enable_staff_user(self, info: Info[Context, None], input: StaffUserIdInput) -> StaffUserPayload:
        async def enable(uow, actor):
            return await auth.set_staff_user_active(uow, actor, _uuid(input.id, "id"), True)

        user, errors = await run_use_case(info, RoleModel.ADMIN, enable)
        return StaffUserPayload(staff_user=StaffUser.of(user) if user else None, user_errors=errors)

    @strawberry.mutation(description="Create an API key (ADMIN). The secret is in the payload, once.")
    async def create_api_key(self, info: Info[Context, None], input: CreateApiKeyInput) -> CreateApiKeyPayload:
        issued, errors = await run_use_case(
            info, RoleModel.ADMIN, lambda uow, actor: auth.issue_api_key(uow, actor, input.name, input.role)
        )
        if issued is None:
            return CreateApiKeyPayload(api_key=None, secret=None, user_errors=errors)
        return CreateApiKeyPayload(api_key=ApiKey.of(issued.key), secret=issued.secret, user_errors=[])

    @strawberry.mutation(description="Revoke an API key (ADMIN): it stops working at once.")
    async def revoke_api_key(self, info: Info[Context, None], input: RevokeApiKeyInput) -> ApiKeyPayload:
        async def revoke(uow, actor):
            return await auth.revoke_api_key(uow, actor, _uuid(input.id, "id"))

        key, errors = await run_use_case(info, RoleModel.ADMIN, revoke)
        return ApiKeyPayload(api_key=ApiKey.of(key) if key else None, user_errors=errors)

    @strawberry.mutation(description="Add a staff user (ADMIN; only an OWNER can add an OWNER).")
    async def create_staff_user(self, info: Info[Context, None], input: CreateStaffUserInput) -> StaffUserPayload:
        user, errors = await run_use_case(
            info,
            RoleModel.ADMIN,
            lambda uow, actor: auth.create_staff_user(
                uow, actor, email=input.email, name=input.name, role=input.role, password=input.password
            ),
        )
        return StaffUserPayload(staff_user=StaffUser.of(user) if user else None, user_errors=errors)
