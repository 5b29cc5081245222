"""Every limit of the GraphQL endpoint, decided here and checked before the work it protects.

The numbers are documented in docs/api.md (Limits); tests/graph/test_limits.py holds them to it.
Page sizes are the repositories' (db/repositories/pagination.py); text lengths are the columns'
(graph/input_checks.py).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec
from graphql import GraphQLError, parse
from graphql.language import FieldNode, OperationDefinitionNode, OperationType

from db.repositories.pagination import DEFAULT_PAGE, MAX_PAGE

__all__ = ["DEFAULT_PAGE", "MAX_PAGE"]

KIB = 1024
MIB = 1024 * KIB

# HTTP bodies of POST /graphql. 2 MiB holds a full ingestUsage batch (10,000 events) of usual size;
# bigger senders use POST /v1/events.
MAX_BODY_BYTES = 2 * MIB
ANONYMOUS_MAX_BODY_BYTES = 8 * KIB  # a login
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in a body, the body itself being 1

# GraphQL documents (the `query` text), enforced while parsing.
MAX_DOCUMENT_CHARS = 50_000
MAX_TOKENS = 3_000
MAX_COMMENTS = 300
ANONYMOUS_MAX_DOCUMENT_CHARS = 2_000
ANONYMOUS_MAX_TOKENS = 100
ANONYMOUS_ROOT_FIELDS = frozenset({"login", "completeLogin", "__typename"})

# GraphQL operations, checked before graphql-core validates them (fragments expanded where spread).
MAX_DEPTH = 12  # nested fields with selections; introspection's `ofType` wrappers do not count
MAX_NESTING = 36  # nested selection sets of any kind: fields, inline fragments, fragment spreads
MAX_ALIASES = 30
MAX_FIELDS = 500
MAX_REPEATS = 10  # the same response name in one selection set (validation compares every pair)
MAX_INTROSPECTION_LISTS = 3  # nested list fields under __schema/__type (GraphiQL asks types → fields → args)

# Query cost: see docs/api.md, Limits. Leaves cost nothing; an object or list field costs its price
# once per parent object; a connection's `edges`/`nodes` hold `first` (default DEFAULT_PAGE) items,
# any other list of objects is counted as LIST_SIZE items.
MAX_COST = 5_000
LIST_SIZE = 10
DEFAULT_PRICE = 1
MUTATION_PRICE = 10
SUBSCRIPTION_PRICE = 10
PRICES = {
    ("Query", "verifyAuditChain"): 1_000,  # recomputes the organization's whole audit hash chain
    ("Query", "customerUsage"): 100,  # rates the current period from the events
    ("Query", "revenueMetrics"): 100,  # reads every subscription and invoice of the organization when not cached
    ("Live", "usageUpdated"): 100,  # rates the period once now and again after every burst of usage
    ("Mutation", "runBilling"): 500,  # bills every customer of the organization
    ("Mutation", "advanceTestClock"): 500,  # runs every billing date, threshold check and grace period in between
}

# Error codes of requests refused by a limit before any work (HTTP 400 on POST /graphql).
DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
FRAGMENT_CYCLE = "FRAGMENT_CYCLE"
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
BAD_PAGINATION = "BAD_PAGINATION"
LIMIT_CODES = frozenset(
    {DOCUMENT_TOO_LARGE, TOO_MANY_TOKENS, QUERY_TOO_DEEP, TOO_MANY_ALIASES, TOO_MANY_FIELDS, FRAGMENT_CYCLE,
     QUERY_TOO_COSTLY, BAD_PAGINATION}
)


def limit_error(message: str, code: str, **details: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **details})


def refused_by_a_limit(response: Any) -> bool:
    """A GraphQL answer without data whose errors name a limit: the request did no work."""
    if not isinstance(response, dict) or response.get("data") is not None:
        return False
    errors = response.get("errors") or []
    return any((e.get("extensions") or {}).get("code") in LIMIT_CODES for e in errors if isinstance(e, dict))


# --- bodies ---------------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    def __init__(self, limit: int, anonymous: bool) -> None:
        who = "an anonymous request (a login; authenticate for more)" if anonymous else "a request"
        super().__init__(f"the body is over {_size(limit)}, the most {who} may send to /graphql")
        self.reason = str(self)


class BadJSON(json.JSONDecodeError):
    """A body that is not JSON we take (a JSONDecodeError, so WebSocket messages close with 4400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit // KIB} KiB"


def body_limit(authorization: str | None) -> tuple[int, bool]:
    """(limit, anonymous). A request reaching the body with an Authorization header passed authentication."""
    anonymous = not authorization
    return (ANONYMOUS_MAX_BODY_BYTES if anonymous else MAX_BODY_BYTES), anonymous


async def read_body(content_length: str | None, chunks: Any, limit: int, anonymous: bool) -> bytes:
    """The body, refused as soon as it is known to exceed `limit`: by its Content-Length, or while reading."""
    if content_length is not None:
        if not content_length.isascii() or not content_length.isdigit() or len(content_length) > 18:
            raise ValueError("Content-Length is not a number of bytes")
        if int(content_length) > limit:
            raise BodyTooLarge(limit, anonymous)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit, anonymous)
    return bytes(body)


_HIGH, _LOW = rb"\\u[dD][89abAB][0-9a-fA-F]{2}", rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_LONE_SURROGATE = re.compile(_HIGH + b"(?!" + _LOW + b")|(?<!" + _HIGH + b")" + _LOW)
_decoder = msgspec.json.Decoder(float_hook=Decimal)  # numbers exactly as written: 0.1 is one tenth


def decode_json(data: str | bytes) -> object:
    """A request body (or a WebSocket message) as Python values: strict UTF-8 and JSON, bounded nesting."""
    try:
        value = _decoder.decode(data)
    except UnicodeError:
        raise BadJSON(_not_utf8(data)) from None
    except RecursionError:
        raise BadJSON(f"the body nests arrays or objects more than {MAX_JSON_DEPTH} deep") from None
    except msgspec.DecodeError as exc:
        if _LONE_SURROGATE.search(data if isinstance(data, bytes | bytearray) else data.encode("utf-8", "replace")):
            raise BadJSON("the body is not valid JSON: a \\u escape is a lone surrogate (not Unicode text)") from None
        raise BadJSON(f"the body is not valid JSON: {str(exc).replace('JSON is malformed: ', '')}") from None
    if not _nesting_within(value, MAX_JSON_DEPTH):
        raise BadJSON(f"the body nests arrays or objects more than {MAX_JSON_DEPTH} deep")
    return value


def _not_utf8(data: str | bytes) -> str:
    if isinstance(data, str):
        return "the text is not valid Unicode (a lone surrogate)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
    return "the body is not valid UTF-8"


def _nesting_within(value: object, limit: int) -> bool:
    level, depth = [value], 1
    while level:
        containers = [v for v in level if type(v) is dict or type(v) is list]
        if not containers:
            return True
        if depth > limit:
            return False
        level = [x for v in containers for x in (v.values() if type(v) is dict else v)]
        depth += 1
    return True


# --- anonymous requests ---------------------------------------------------------------------------

ANONYMOUS_REFUSAL = (
    "authentication required: send 'Authorization: Bearer <API key or session token>'; "
    "an anonymous request may only log in"
)


# Strings, spreads, punctuators, and runs of name or number characters; comments and commas are not tokens.
_ROUGH_TOKEN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|\.\.\.|[!$&():=@\[\]{|}]|[\w.+-]+')


@lru_cache(maxsize=256)
def anonymous_refusal(query: object) -> str | None:
    """Why an anonymous request may not run, or None for a small document asking only for `login`.

    Decided on a short, token-capped parse, before the document reaches graphql-core's validation."""
    if not isinstance(query, str) or not query:
        return None  # no document: the view answers 400
    if len(query) > ANONYMOUS_MAX_DOCUMENT_CHARS or len(_ROUGH_TOKEN.findall(query)) > ANONYMOUS_MAX_TOKENS:
        return ANONYMOUS_REFUSAL  # counted by a regular expression first: a bomb costs microseconds, not a parse
    try:
        document = parse(query, no_location=True, max_lexical_tokens=ANONYMOUS_MAX_TOKENS, max_comments=20)
    except GraphQLError as error:
        if "Parsing aborted" in error.message:
            return ANONYMOUS_REFUSAL
        return None  # a short syntax error: answered as such, with nothing to validate
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.operation is OperationType.SUBSCRIPTION:
            return ANONYMOUS_REFUSAL
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value not in ANONYMOUS_ROOT_FIELDS:
                return ANONYMOUS_REFUSAL
            if selection.name.value != "__typename" and definition.operation is not OperationType.MUTATION:
                return ANONYMOUS_REFUSAL
    return None
