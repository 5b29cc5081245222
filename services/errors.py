"""Errors a use case reports to its caller: a stable code, a field path, a message."""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import DomainError


class UseCaseError(DomainError):
    """Bad input found by a use case (not by a pure rule): same shape as a DomainError."""

    code = "INVALID"

    def __init__(self, message: str, *, field: Sequence[str] = (), code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code is not None:
            self.code = code


class NotFound(UseCaseError):
    code = "NOT_FOUND"


class AlreadyExists(UseCaseError):
    code = "ALREADY_EXISTS"


class Invalid(UseCaseError):
    code = "INVALID"


class Unauthenticated(Exception):
    """The credentials are missing, malformed, unknown, revoked or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """The caller is known but its role does not allow the operation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
