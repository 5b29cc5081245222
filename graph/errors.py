"""How failures reach clients: userErrors for bad input, coded errors for access, masks for bugs."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import DomainError

log = logging.getLogger("valueverse.graph")


@strawberry.type(description="Bad input: what is wrong, where in the input, and a stable code.")
class UserError:
    field: list[str] | None
    message: str
    code: str


def user_error(exc: DomainError, root: str = "input") -> UserError:
    return UserError(field=[root, *exc.field] if exc.field or root else None, message=exc.message, code=exc.code)


class PublicError(Exception):
    """An error whose message and code are meant for the client (never masked)."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.extensions = {"code": code or self.code}


class NotAuthenticated(PublicError):
    code = "UNAUTHENTICATED"


class AccessDenied(PublicError):
    code = "FORBIDDEN"


def _is_unexpected(error: GraphQLError) -> bool:
    """A resolver failed for a reason not meant for the client. Errors without a path come from
    parsing, validation or variable coercion: they describe the request and are shown as they are."""
    original = error.original_error
    return original is not None and error.path is not None and not isinstance(original, PublicError)


class MaskUnexpectedErrors(MaskErrors):
    """Bugs and outages become 'internal error' plus the request id; the trace goes to the log."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        log.error("unexpected error in %s", error.path, exc_info=error.original_error, extra={"request_id": request_id})
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        return masked
