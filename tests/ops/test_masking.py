"""Unexpected resolver errors reach the client as 'internal error' plus the request id, nothing more."""

from __future__ import annotations

import json
from dataclasses import dataclass

import strawberry

from graph.errors import AccessDenied, MaskUnexpectedErrors, PublicError


@dataclass
class RequestContext:
    request_id: str


@strawberry.type
class Query:
    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError("secret detail")

    @strawberry.field
    def refused(self) -> str:
        raise PublicError("the plan is archived", code="PLAN_ARCHIVED")

    @strawberry.field
    def forbidden(self) -> str:
        raise AccessDenied("an ADMIN role is needed")

    @strawberry.field
    def fine(self) -> str:
        return "ok"


schema = strawberry.Schema(query=Query, extensions=[MaskUnexpectedErrors])


async def test_an_unexpected_error_is_masked_with_the_request_id() -> None:
    result = await schema.execute("{ broken }", context_value=RequestContext(request_id="req-1"))
    assert result.errors is not None and len(result.errors) == 1
    error = result.errors[0].formatted
    assert error["message"] == "internal error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"}
    assert error["path"] == ["broken"]
    text = json.dumps(error)
    assert "secret detail" not in text and "RuntimeError" not in text and "Traceback" not in text


async def test_a_masked_error_does_not_hide_the_fields_that_worked() -> None:
    result = await schema.execute("{ fine broken }", context_value=RequestContext(request_id="req-1"))
    assert result.data == {"fine": "ok", "broken": None}
    assert [e.message for e in result.errors or []] == ["internal error"]


async def test_a_public_error_passes_unmasked_with_its_code() -> None:
    result = await schema.execute("{ refused }", context_value=RequestContext(request_id="req-1"))
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["message"] == "the plan is archived"
    assert error["extensions"] == {"code": "PLAN_ARCHIVED"}


async def test_a_public_error_subclass_keeps_its_default_code() -> None:
    result = await schema.execute("{ forbidden }", context_value=RequestContext(request_id="req-1"))
    assert result.errors is not None
    assert result.errors[0].formatted["extensions"] == {"code": "FORBIDDEN"}


async def test_request_errors_are_shown_as_they_are() -> None:
    result = await schema.execute("{ nosuchfield }", context_value=RequestContext(request_id="req-1"))
    assert result.errors is not None
    assert "nosuchfield" in result.errors[0].message
    assert result.errors[0].message != "internal error"
