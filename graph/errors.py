"""How failures reach clients: userErrors for bad input, coded errors for access, masks for bugs."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from db.faults import storage_unavailable
from domain.errors import DomainError

log = logging.getLogger("valueverse.graph")

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
RETRY_AFTER_SECONDS = 1
"""Told with 503 (the Retry-After header) when the database cannot be reached (db/faults.py says which errors
mean that): nothing of the request was done."""
UNAVAILABLE_MESSAGE = "the database cannot be reached right now: nothing was done, retry in a moment"


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


def storage_was_unavailable(response: object) -> bool:
    """Whether a GraphQL answer holds an error saying the database could not be reached (then: 503)."""
    errors = response.get("errors") if isinstance(response, dict) else None
    return any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == SERVICE_UNAVAILABLE
               for e in errors or ())


def _is_unexpected(error: GraphQLError) -> bool:
    """A resolver failed for a reason not meant for the client. Errors without a path come from
    parsing, validation or variable coercion: they describe the request and are shown as they are."""
    original = error.original_error
    return original is not None and error.path is not None and not isinstance(original, PublicError)


class MaskUnexpectedErrors(MaskErrors):
    """Bugs become 'internal error' plus the request id, the trace in the log; an unreachable database becomes
    SERVICE_UNAVAILABLE (the view answers 503 with Retry-After), one log line without a trace."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        if error.original_error is not None and storage_unavailable(error.original_error):
            log.warning("the database cannot be reached (%s) in %s", type(error.original_error).__name__, error.path,
                        extra={"request_id": request_id})
            return GraphQLError(UNAVAILABLE_MESSAGE, nodes=error.nodes, path=error.path,
                                extensions={"code": SERVICE_UNAVAILABLE, "retryAfter": RETRY_AFTER_SECONDS})
        log.error("unexpected error in %s", error.path, exc_info=error.original_error, extra={"request_id": request_id})
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        return masked
