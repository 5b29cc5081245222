"""Sign-in and credentials: login, API keys, staff users."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import strawberry
from strawberry.types import Info

from db.models import Role as RoleModel
from domain.errors import DomainError
from graph.context import Context
from graph.errors import UserError, user_error
from graph.mutations.common import run_use_case
from graph.types.api_key import ApiKey
from graph.types.enums import Role
from graph.types.staff_user import StaffUser
from services import auth
from services.errors import Invalid


@strawberry.input
class LoginInput:
    email: str
    password: str
    organization_id: strawberry.ID | None = None


@strawberry.type
class LoginPayload:
    token: str | None = strawberry.field(description="Send as 'Authorization: Bearer <token>'.")
    expires_at: datetime | None
    user: StaffUser | None
    user_errors: list[UserError]


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
        raise Invalid("not a valid id", field=(field,), code="INVALID_ID") from exc


@strawberry.type
class AccessMutations:
    @strawberry.mutation(description="Exchange a staff user's email and password for a session token.")
    async def login(self, info: Info[Context, None], input: LoginInput) -> LoginPayload:
        config = info.context.services.session_config
        try:
            org_id = _uuid(input.organization_id, "organizationId") if input.organization_id else None
            async with info.context.db.unit_of_work() as uow:
                token, user = await auth.login(
                    uow, config, email=input.email, password=input.password, organization_id=org_id
                )
        except DomainError as exc:
            return LoginPayload(token=None, expires_at=None, user=None, user_errors=[user_error(exc)])
        expires = datetime.now(UTC) + timedelta(seconds=config.ttl_seconds)
        return LoginPayload(token=token, expires_at=expires, user=StaffUser.of(user), user_errors=[])

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
