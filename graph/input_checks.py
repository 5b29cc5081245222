"""Text that PostgreSQL can store, no longer than its column: every root field's arguments, checked once here.

Before a resolver runs, every string in its arguments (input fields, lists, IDs, JSON values and
keys) is checked for what no text column can hold (U+0000, lone surrogates), and every input field
stored in a bounded column for that column's length, read from the models (the database's own
definition). A mutation answers with `userErrors` (INVALID_TEXT, TOO_LONG) and writes nothing; a
query or subscription with an error of the same code.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from db.columns import column_lengths
from db.models import (
    ApiKey,
    BankTransaction,
    BillableMetric,
    Charge,
    Coupon,
    CreditNote,
    Customer,
    InvoiceLine,
    Organization,
    Plan,
    StaffUser,
    Subscription,
    TaxRate,
    UsageAlert,
)
from graph.errors import PublicError, UserError

# Each mutation input whose text is stored, and the table that stores it: a String field is bounded
# by the column of the same name (fields without one are lookups, secrets or JSON, and unbounded).
STORED_IN: dict[str, type] = {
    "CreateApiKeyInput": ApiKey,
    "CreateStaffUserInput": StaffUser,
    "UpdateOrganizationInput": Organization,
    "CreateBillableMetricInput": BillableMetric,
    "UpdateBillableMetricInput": BillableMetric,
    "CreatePlanInput": Plan,
    "UpdatePlanInput": Plan,
    "ChargeInput": Charge,
    "ChargeFilterInput": Charge,  # invoiceDisplayName, kept with the charge's filters
    "CreateCustomerInput": Customer,
    "UpdateCustomerInput": Customer,
    "CreateSubscriptionInput": Subscription,
    "UpdateSubscriptionInput": Subscription,
    "CreateTaxRateInput": TaxRate,
    "CreateCouponInput": Coupon,
    "CreateCreditNoteInput": CreditNote,
    "OneOffLineInput": InvoiceLine,
    "CreateUsageAlertInput": UsageAlert,
    "UpdateUsageAlertInput": UsageAlert,
    "IgnoreBankTransactionInput": BankTransaction,
}
# Input fields stored in a column of another name: input type → {field: column}.
STORED_AS: dict[str, dict[str, str]] = {"IgnoreBankTransactionInput": {"note": "ignore_note"}}
# Codes the use cases look up in their list (ISO 3166, ISO 4217), which says more than a length would.
CHECKED_AGAINST_A_LIST = frozenset({"country", "currency", "default_currency"})
# Root fields that check their own text, item by item (a bad event is rejected by itself).
CHECKED_BY_THEMSELVES = frozenset({"ingestUsage"})

INVALID_TEXT = "INVALID_TEXT"
TOO_LONG = "TOO_LONG"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _lengths(name: str, model: type) -> dict[str, int]:
    lengths = {field: n for field, n in column_lengths(model).items() if field not in CHECKED_AGAINST_A_LIST}
    for field, column in STORED_AS.get(name, {}).items():
        lengths[field] = lengths[column]
    return lengths


MAX_LENGTHS = {name: _lengths(name, model) for name, model in STORED_IN.items()}


@dataclass(frozen=True)
class Problem:
    path: tuple[str, ...]
    code: str
    message: str


def text_problem(value: str) -> str | None:
    bad = _UNSTORABLE.search(value)
    if bad is None:
        return None
    if bad.group() == "\x00":
        return "text must not contain U+0000 (NUL)"
    return f"text must be valid Unicode: a lone surrogate U+{ord(bad.group()):04X} cannot be stored"


def problems(arguments: dict[str, Any], names: dict[str, str]) -> list[Problem]:
    """What is wrong with these (converted) arguments, argument by argument; [] when nothing."""
    found: list[Problem] = []
    for python_name, value in arguments.items():
        found.extend(_walk(value, (names.get(python_name, python_name),), None))
    return found


@cache
def _input_fields(cls: type) -> tuple[tuple[str, str, int | None], ...] | None:
    """(python name, GraphQL name, maximum length) of an input type's fields; None if not an input type."""
    definition = getattr(cls, "__strawberry_definition__", None)
    if not getattr(definition, "is_input", False):
        return None
    lengths = MAX_LENGTHS.get(definition.name, {})
    return tuple(
        (f.python_name, f.graphql_name or to_camel_case(f.python_name), lengths.get(f.python_name))
        for f in definition.fields
    )


def _walk(value: Any, path: tuple[str, ...], max_length: int | None) -> Iterator[Problem]:
    if isinstance(value, str):
        if (reason := text_problem(value)) is not None:
            yield Problem(path, INVALID_TEXT, reason)
        elif max_length is not None and len(value) > max_length:
            yield Problem(path, TOO_LONG, f"at most {max_length} characters ({len(value)} given)")
        return
    fields = _input_fields(type(value))
    if fields is not None:
        for python_name, name, max_length in fields:
            item = getattr(value, python_name, None)
            if item is not None and item is not strawberry.UNSET:
                yield from _walk(item, (*path, name), max_length)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, str(index)), max_length)
    elif isinstance(value, dict):  # JSON: keys and values
        for key, item in value.items():
            if isinstance(key, str) and (reason := text_problem(key)) is not None:
                yield Problem((*path, key), INVALID_TEXT, f"key: {reason}")
            yield from _walk(item, (*path, str(key)), None)


class InvalidInput(PublicError):
    code = INVALID_TEXT


class CheckedArguments(FieldExtension):
    """Refuses a root field's arguments before its resolver runs (see the module docstring)."""

    def __init__(self, mutation: bool) -> None:
        self.mutation = mutation

    def apply(self, field: StrawberryField) -> None:
        self.names = {a.python_name: a.graphql_name or to_camel_case(a.python_name) for a in field.arguments}
        self.payload = _payload_factory(field) if self.mutation else None

    def refusal(self, kwargs: dict[str, Any]) -> Any:
        found = problems({k: v for k, v in kwargs.items() if k in self.names}, self.names)
        if not found:
            return None
        if self.payload is not None:
            return self.payload([UserError(field=list(p.path), message=p.message, code=p.code) for p in found])
        first = found[0]
        raise InvalidInput(f"{'.'.join(first.path)}: {first.message}", first.code)

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        refused = self.refusal(kwargs)
        return refused if refused is not None else next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        refused = self.refusal(kwargs)
        if refused is not None:
            return refused
        result = next_(source, info, **kwargs)
        return await result if inspect.isawaitable(result) else result


def _payload_factory(field: StrawberryField) -> Any:
    """A mutation's payload holding only these userErrors (its object null, its lists empty), if it has them."""
    payload = field.type
    definition = getattr(payload, "__strawberry_definition__", None)
    if definition is None or not any(f.python_name == "user_errors" for f in definition.fields):
        return None
    empty: dict[str, Any] = {}
    for f in definition.fields:
        if f.base_resolver is not None or f.python_name == "user_errors":
            continue
        if isinstance(f.type, StrawberryList):
            empty[f.python_name] = []
        elif isinstance(f.type, StrawberryOptional):
            empty[f.python_name] = None
        elif f.default is not dataclasses.MISSING and f.default is not strawberry.UNSET:
            continue  # its default says "nothing happened" (LoginPayload.secondFactorRequired: false)
        else:
            return None  # a payload that cannot be empty: the refusal is an error instead

    def build(errors: list[UserError]) -> Any:
        return payload(**{k: list(v) if isinstance(v, list) else v for k, v in empty.items()}, user_errors=errors)

    return build


def install(query: type, mutation: type, subscription: type) -> None:
    """Adds the check to every root field taking arguments (once: building the schema again is harmless)."""
    for root in (query, mutation, subscription):
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            name = field.graphql_name or to_camel_case(field.python_name)
            if not field.arguments or name in CHECKED_BY_THEMSELVES:
                continue
            if not any(isinstance(e, CheckedArguments) for e in field.extensions):
                field.extensions.append(CheckedArguments(mutation=root is mutation))
