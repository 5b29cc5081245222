"""Use-case errors: codes are enums that equal the strings clients have always received."""

from __future__ import annotations

import json

import pytest

from domain.errors import ChargeCode, MissingProperty
from services.errors import CommonCode, Invalid, NotFound, Resource, found


def test_not_found_of_a_resource_reports_resource_not_found():
    error = NotFound(Resource.INVOICE_LINE, "no such line on this invoice", field=("lines", "0"))
    assert (error.code, error.field, error.message) == (
        "INVOICE_LINE_NOT_FOUND",
        ("lines", "0"),
        "no such line on this invoice",
    )
    assert error.resource is Resource.INVOICE_LINE
    assert NotFound(Resource.WALLET).message == "wallet not found"


def test_not_found_with_a_message_keeps_the_plain_code_or_the_one_given():
    assert NotFound("no invoice with this id", field=("id",)).code == "NOT_FOUND"
    assert NotFound("gone", code="CUSTOMER_NOT_FOUND").code == "CUSTOMER_NOT_FOUND"
    with pytest.raises(TypeError):
        NotFound("a message", "twice")


def test_codes_are_their_strings_on_the_wire():
    assert json.dumps({"code": Invalid("x", code=CommonCode.REQUIRED).code}) == '{"code": "REQUIRED"}'
    assert MissingProperty("m").code == ChargeCode.MISSING_PROPERTY == "MISSING_PROPERTY"
    assert "code='MISSING_PROPERTY'" in repr(MissingProperty("m"))


def test_found_returns_the_row_or_raises_what_is_missing():
    assert found(3, NotFound(Resource.PLAN)) == 3
    with pytest.raises(NotFound) as raised:
        found(None, NotFound(Resource.PLAN, "no plan with code 'x'"))
    assert raised.value.code == "PLAN_NOT_FOUND"
