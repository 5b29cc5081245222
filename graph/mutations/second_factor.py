"""A staff user's second factor (TOTP): enrolment, recovery codes, turning it off, and the login's second step."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.models import Role as RoleModel
from domain.errors import DomainError
from graph.context import Context
from graph.errors import UserError, user_error
from graph.mutations.common import run_use_case
from graph.permissions import require_role
from graph.types.second_factor import SecondFactorStatus
from graph.types.staff_user import StaffUser
from integrations.secrets import SecretBox
from services import second_factor, sessions
from services.errors import CommonCode, Invalid


@strawberry.type
class SecondFactorEnrolmentPayload:
    secret: str | None = strawberry.field(description="The TOTP secret, to type into an app: shown this once.")
    otpauth_uri: str | None = strawberry.field(description="The otpauth:// URI the QR code holds.")
    qr_code_svg: str | None = strawberry.field(description="The QR code of otpauthUri: an SVG as a data: URI.")
    user_errors: list[UserError]


@strawberry.input
class SecondFactorCodeInput:
    code: str = strawberry.field(description="The 6 digits the authenticator app shows now.")


@strawberry.type
class RecoveryCodesPayload:
    recovery_codes: list[str] | None = strawberry.field(
        description="One-time recovery codes: shown this once, kept only hashed; new ones replace the old."
    )
    second_factor: SecondFactorStatus | None
    user_errors: list[UserError]


@strawberry.input
class DisableSecondFactorInput:
    code: str | None = strawberry.field(default=None, description="The 6 digits the authenticator app shows now.")
    recovery_code: str | None = strawberry.field(default=None, description="Instead of a code: a recovery code.")


@strawberry.type
class DisableSecondFactorPayload:
    second_factor: SecondFactorStatus | None
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="After too many wrong codes (LOGIN_THROTTLED, LOGIN_LOCKED): wait this long."
    )
    user_errors: list[UserError]


@strawberry.input
class ResetStaffUserSecondFactorInput:
    staff_user_id: strawberry.ID


@strawberry.type
class ResetStaffUserSecondFactorPayload:
    staff_user: StaffUser | None
    user_errors: list[UserError]


def _box(info: Info[Context, None]) -> SecretBox:
    box = info.context.services.secret_box
    assert box is not None, "the app is built with its secret box"
    return box


def _ip(info: Info[Context, None]) -> str | None:
    client = getattr(info.context.request, "client", None)
    return client.host if client else None


async def _status(info: Info[Context, None]) -> SecondFactorStatus | None:
    actor = info.context.actor
    if actor is None:
        return None
    async with info.context.db.read() as session:
        found = await second_factor.status(session, actor)
    return SecondFactorStatus.of(found) if found else None


@strawberry.type
class SecondFactorMutations:
    @strawberry.mutation(
        description="Start enrolling the caller's authenticator app: a new TOTP secret, its otpauth:// URI and QR "
        "code (shown once). The second factor is on only after confirmSecondFactorEnrolment."
    )
    async def start_second_factor_enrolment(self, info: Info[Context, None]) -> SecondFactorEnrolmentPayload:
        box = _box(info)
        done, errors = await run_use_case(
            info, RoleModel.VIEWER, lambda uow, actor: second_factor.start_enrolment(uow, actor, box)
        )
        if done is None:
            return SecondFactorEnrolmentPayload(secret=None, otpauth_uri=None, qr_code_svg=None, user_errors=errors)
        return SecondFactorEnrolmentPayload(
            secret=done.secret, otpauth_uri=done.otpauth_uri, qr_code_svg=done.qr_svg, user_errors=[]
        )

    @strawberry.mutation(
        description="Turn the caller's second factor on with a current code from the app; the payload holds the "
        "recovery codes, shown this once."
    )
    async def confirm_second_factor_enrolment(
        self, info: Info[Context, None], input: SecondFactorCodeInput
    ) -> RecoveryCodesPayload:
        box = _box(info)
        codes, errors = await run_use_case(
            info, RoleModel.VIEWER, lambda uow, actor: second_factor.confirm_enrolment(uow, actor, box, input.code)
        )
        return RecoveryCodesPayload(recovery_codes=codes, second_factor=await _status(info), user_errors=errors)

    @strawberry.mutation(
        description="New recovery codes for the caller, with a current code from the app: the old ones stop working."
    )
    async def regenerate_recovery_codes(
        self, info: Info[Context, None], input: SecondFactorCodeInput
    ) -> RecoveryCodesPayload:
        box = _box(info)
        codes, errors = await run_use_case(
            info, RoleModel.VIEWER,
            lambda uow, actor: second_factor.regenerate_recovery_codes(uow, actor, box, input.code),
        )
        return RecoveryCodesPayload(recovery_codes=codes, second_factor=await _status(info), user_errors=errors)

    @strawberry.mutation(
        description="Turn the caller's second factor off, with a current code or a recovery code. Wrong codes count "
        "as failed logins."
    )
    async def disable_second_factor(
        self, info: Info[Context, None], input: DisableSecondFactorInput
    ) -> DisableSecondFactorPayload:
        actor = require_role(info, RoleModel.VIEWER)
        try:
            await second_factor.disable(
                info.context.db, info.context.services.login_guard, _box(info), actor,
                code=input.code, recovery_code=input.recovery_code, ip=_ip(info),
            )
        except DomainError as exc:
            retry = exc.retry_after_seconds if isinstance(exc, sessions.LoginRefused) else None
            return DisableSecondFactorPayload(
                second_factor=await _status(info), retry_after_seconds=retry, user_errors=[user_error(exc)]
            )
        return DisableSecondFactorPayload(second_factor=await _status(info), user_errors=[])

    @strawberry.mutation(
        description="Take another staff user's second factor away (ADMIN; a lost phone): their TOTP secret and "
        "recovery codes are removed and every session of theirs ends; they sign in with their password and enrol "
        "again. Not for the caller's own, nor for a user with a stronger role."
    )
    async def reset_staff_user_second_factor(
        self, info: Info[Context, None], input: ResetStaffUserSecondFactorInput
    ) -> ResetStaffUserSecondFactorPayload:
        async def use_case(uow, actor):  # type: ignore[no-untyped-def]
            try:
                user_id = uuid.UUID(str(input.staff_user_id))
            except ValueError:
                raise Invalid("not a valid id", field=("staffUserId",), code=CommonCode.INVALID_ID) from None
            return await second_factor.reset_of_user(uow, actor, user_id)

        user, errors = await run_use_case(info, RoleModel.ADMIN, use_case)
        return ResetStaffUserSecondFactorPayload(staff_user=StaffUser.of(user) if user else None, user_errors=errors)
