from __future__ import annotations

from datetime import datetime

import strawberry

from services.second_factor import Status


@strawberry.type(description="The caller's second factor (TOTP from an authenticator app).")
class SecondFactorStatus:
    enabled: bool = strawberry.field(description="Logins ask for a code after the password.")
    enabled_at: datetime | None
    pending: bool = strawberry.field(description="An enrolment was started and not confirmed with a code yet.")
    recovery_codes_left: int = strawberry.field(description="Recovery codes not used yet.")

    @classmethod
    def of(cls, status: Status) -> SecondFactorStatus:
        return cls(enabled=status.enabled, enabled_at=status.enabled_at, pending=status.pending,
                   recovery_codes_left=status.recovery_codes_left)
