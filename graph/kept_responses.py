"""Whole answers to the portals' hottest reads, kept per API process while what they follow from is unchanged.

A portal page asks the same question again and again: the dashboard's `revenueMetrics`, a customer's invoices,
its `customerUsage`. Once the data is read, most of such a request's cost is GraphQL's work on each of a few hundred
fields (resolving, completing, serializing); a kept answer skips it. The answer given is always the one executing the
request again would give, because a response is kept, and then reused, only when:

* the request is the same: the document's text, the operation's name, the variables, the URL the API is reached
  at (PDF links name it) and the caller's scope (organization, role, and a portal link's customer);
* every field the operation selects is in `KEPT_TYPES`, whose values follow only from
  - the organization's audited rows: every change to them writes an audit entry in its transaction, and the chain
    is linked in commit order (services/audit.py), so the organization's last audit sequence number moves when
    they change (`AUDITED`: `invoices`, `revenueMetrics`; services/analytics.py relies on the same), or
  - a customer's kept usage answer (db/usage_answers.py), read back as it is (`USAGE`: `customerUsage`);
* the versions read for the request equal those read before the response was computed (read before, so a change
  committed meanwhile gives a miss, never a stale answer kept under a newer version);
* now is in [kept at, valid until): a resolver names the first moment at which time alone could change what it
  answers (`Context.not_after`): revenueMetrics its next change point, a PDF link `PDF_LINK_REUSE` after it was
  signed; `MAX_AGE` bounds every answer.

Answers with errors are never kept; nor are mutations, subscriptions, batches, or documents that name anything
else. docs/performance.md tells what it saves.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    parse,
)
from graphql.error import GraphQLError
from prometheus_client import Counter

from db.session import Database
from services import reads
from services.actors import Actor
from services.usage import cache

log = logging.getLogger("valueverse.kept_responses")

AUDITED = "audited"
USAGE = "usage"

ROOTS = {"invoices": AUDITED, "revenueMetrics": AUDITED, "customerUsage": USAGE}
"""The root fields whose answers may be kept, and what each follows from."""

KEPT_TYPES = frozenset({
    # invoices: the page, its invoices, their lines and tax rates, and the customer's own fields (its subscriptions,
    # payment methods, payments, attempts and credit notes are other types: a document naming them is not kept)
    "InvoiceConnection", "InvoiceEdge", "PageInfo", "Invoice", "InvoiceLine", "InvoiceTaxRate", "Customer",
    "RevenuePoint",
    # customerUsage: every field is read from the kept usage answer
    "CustomerUsage", "ChargeUsage", "ChargeFilterUsage", "FeeBreakdown",
})
"""The object types whose fields (leaf fields, and object fields of these types) a kept answer may select."""

UNANSWERED = b""
"""The version of a customer's usage while it has no kept answer (never one an answer is kept under)."""

MAX_AGE = timedelta(minutes=10)
PDF_LINK_REUSE = timedelta(minutes=5)
"""A kept invoice list hands out PDF links signed up to this long before: valid for the rest of their hour."""

MAX_DOCUMENT_CHARS = 8_000  # longer documents are never looked at (nor kept)
MAX_SHAPES = 512  # documents looked at, kept per process
MAX_CHARS = 64 * 1024 * 1024  # answers kept per process, in characters of their bodies; least recently used go first
MAX_BODY_CHARS = 256 * 1024
_MAX_NESTING = 24
FLIGHT_WAIT_SECONDS = 5.0  # a request waits this long at most for the same answer another request is computing

KEPT = Counter("valueverse_graphql_kept_responses_total", "Kept GraphQL answers looked up", ["outcome"])


@dataclass(frozen=True, slots=True)
class _Root:
    source: str  # AUDITED or USAGE
    arguments: tuple[tuple[str, Any], ...]  # (name, a literal string or VariableNode) of USAGE's customer fields


@dataclass(frozen=True, slots=True)
class _Shape:
    roots: tuple[_Root, ...] | None  # None: not a document whose answer may be kept


@dataclass(slots=True)
class _Entry:
    versions: tuple[Any, ...]
    kept_at: datetime
    valid_until: datetime
    body: str


@dataclass(slots=True)
class Pending:
    """A request whose answer will be kept if it has no errors: under these versions, read before it ran."""

    key: bytes
    versions: tuple[Any, ...]
    kept_at: datetime
    flight: asyncio.Future[_Entry | None] | None = None  # what requests asking the same meanwhile wait for
    # USAGE roots: (position in `versions`, (customer, subscription)): kept under the usage answer they answered from
    usage: tuple[tuple[int, tuple[str, str | None]], ...] = ()


class KeptResponse:
    """A kept answer, already encoded: the view writes `body` as it is (valueverse/app.py)."""

    errors = None

    def __init__(self, body: str) -> None:
        self.body = body


class KeptResponses:
    def __init__(self, schema: GraphQLSchema, db: Database) -> None:
        self.schema = schema
        self.db = db
        self._shapes: OrderedDict[tuple[str, str | None], _Shape] = OrderedDict()
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._chars = 0  # of the bodies kept
        # The answers being computed, by key: concurrent misses of one question under the same versions wait for the
        # first one's answer instead of each computing it (a dashboard many staff open at once).
        self._flights: dict[bytes, tuple[tuple[Any, ...], asyncio.Future[_Entry | None]]] = {}
        self._waiting: dict[bytes, int] = {}  # requests waiting for each flight

    # --- the document -------------------------------------------------------------------------------------------

    def _shape(self, text: str, operation_name: str | None) -> _Shape:
        key = (text, operation_name)
        shape = self._shapes.get(key)
        if shape is None:
            try:
                shape = _Shape(self._roots(text, operation_name))
            except Exception:  # a guard: looking at a document never fails its request, which runs as it would
                log.warning("a document could not be looked at for a kept answer", exc_info=True)
                shape = _Shape(None)
            self._shapes[key] = shape
            while len(self._shapes) > MAX_SHAPES:
                self._shapes.popitem(last=False)
        return shape

    def _roots(self, text: str, operation_name: str | None) -> tuple[_Root, ...] | None:
        if len(text) > MAX_DOCUMENT_CHARS:
            return None
        try:
            document = parse(text, no_location=True)
        except GraphQLError:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        if operation_name is None:
            if len(operations) != 1:
                return None
            operation = operations[0]
        else:
            named = [o for o in operations if o.name is not None and o.name.value == operation_name]
            if len(named) != 1:
                return None
            operation = named[0]
        query_type = self.schema.query_type
        if operation.operation != OperationType.QUERY or query_type is None or operation.directives:
            return None
        roots: list[_Root] = []
        for node in _fields(operation.selection_set, fragments, 0):
            if node is None:
                return None
            if node.name.value == "__typename":
                continue
            source = ROOTS.get(node.name.value)
            field = query_type.fields.get(node.name.value)
            if source is None or field is None or _has_other_directives(node):
                return None
            named_type = get_named_type(field.type)
            if not isinstance(named_type, GraphQLObjectType) or not self._kept(named_type, node.selection_set,
                                                                                  fragments, 0):
                return None
            arguments: tuple[tuple[str, Any], ...] = ()
            if source == USAGE:
                found = {a.name.value: a.value for a in node.arguments or ()}
                if not all(isinstance(v, StringValueNode | VariableNode) for v in found.values()):
                    return None
                arguments = tuple(
                    (name, v.value if isinstance(v, StringValueNode) else v)
                    for name, v in found.items()
                    if name in ("customerExternalId", "subscriptionExternalId")
                )
            roots.append(_Root(source, arguments))
        return tuple(roots) if roots else None

    def _kept(self, parent: GraphQLObjectType, selections: SelectionSetNode | None,
              fragments: dict[str, FragmentDefinitionNode], depth: int) -> bool:
        if parent.name not in KEPT_TYPES or selections is None or depth > _MAX_NESTING:
            return False
        for node in _fields(selections, fragments, depth):
            if node is None or _has_other_directives(node):
                return False
            if node.name.value == "__typename":
                continue
            field = parent.fields.get(node.name.value)
            if field is None:
                return False
            named_type = get_named_type(field.type)
            if is_leaf_type(named_type):
                if node.selection_set is not None:
                    return False
            elif not isinstance(named_type, GraphQLObjectType) or not self._kept(
                named_type, node.selection_set, fragments, depth + 1
            ):
                return False
        return True

    # --- the answers --------------------------------------------------------------------------------------------

    async def look_up(self, actor: Actor, text: str, operation_name: str | None, variables: dict[str, Any] | None,
                      base_url: str, now: datetime,
                      usage_lookups: dict[tuple[str, str | None], Any] | None = None) -> KeptResponse | Pending | None:
        """The kept answer to this request if it still holds; else what to keep its answer under (`Pending`), or
        None when it is not one to keep (or its versions could not be read: the request runs as it would).
        `usage_lookups` receives what was read of each customer's kept usage answer (`cache.look_up`): customerUsage
        answers from it rather than reading it again (`Context.usage_lookups`)."""
        roots = self._shape(text, operation_name).roots
        if roots is None:
            return None
        try:
            key = _key(actor, text, operation_name, variables, base_url)
        except TypeError:  # variables orjson cannot write: not one to keep
            return None
        usage: list[tuple[int, tuple[str, str | None]]] = []
        try:
            versions = await self._versions(actor, roots, variables or {}, now,
                                            {} if usage_lookups is None else usage_lookups, usage)
        except Exception:  # the request runs as it would, and meets the same trouble itself
            log.debug("the versions of a kept answer could not be read", exc_info=True)
            return None
        if versions is None:
            return None
        entry = self._entries.get(key)
        if entry is not None and entry.versions == versions and entry.kept_at <= now < entry.valid_until:
            self._entries.move_to_end(key)
            KEPT.labels("hit").inc()
            return KeptResponse(entry.body)
        flight = self._flights.get(key)
        if flight is not None and flight[0] == versions:
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                entry = await asyncio.wait_for(asyncio.shield(flight[1]), FLIGHT_WAIT_SECONDS)
            except TimeoutError:
                entry = None
            finally:
                if (left := self._waiting.pop(key, 1) - 1) > 0:
                    self._waiting[key] = left
            if entry is not None and entry.kept_at <= now < entry.valid_until:
                KEPT.labels("hit").inc()
                return KeptResponse(entry.body)
            KEPT.labels("miss").inc()
            return Pending(key, versions, now, usage=tuple(usage))  # computed by this request alone
        KEPT.labels("miss").inc()
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._flights[key] = (versions, future)
        return Pending(key, versions, now, future, tuple(usage))

    def keep(self, pending: Pending, body: str, valid_until: datetime | None,
             usage_answered: dict[tuple[str, str | None], bytes | None] | None = None) -> None:
        """Keep the answer to `pending`'s request. `usage_answered`: the kept usage answer each customerUsage field
        answered from (`Context.usage_answered`); the answer is kept under those, which it follows from alone."""
        until = pending.kept_at + MAX_AGE
        if valid_until is not None:
            until = min(until, valid_until)
        versions = list(pending.versions)
        for position, customer in pending.usage:
            versions[position] = (usage_answered or {}).get(customer)
        if len(body) > MAX_BODY_CHARS or until <= pending.kept_at or any(v is None for v in versions):
            self.abandon(pending)
            return
        replaced = self._entries.pop(pending.key, None)
        if replaced is not None:
            self._chars -= len(replaced.body)
        entry = self._entries[pending.key] = _Entry(tuple(versions), pending.kept_at, until, body)
        self._chars += len(body)
        while self._chars > MAX_CHARS:
            _, dropped = self._entries.popitem(last=False)
            self._chars -= len(dropped.body)
        self._land(pending, entry)

    def waiting_for(self, pending: Pending) -> int:
        """How many requests wait for this one's answer."""
        return self._waiting.get(pending.key, 0)

    def abandon(self, pending: Pending) -> None:
        """The request ends without an answer to keep (errors, or it failed): those waiting compute their own."""
        self._land(pending, None)

    def _land(self, pending: Pending, entry: _Entry | None) -> None:
        if pending.flight is None:
            return
        if not pending.flight.done():
            pending.flight.set_result(entry)
        current = self._flights.get(pending.key)
        if current is not None and current[1] is pending.flight:
            del self._flights[pending.key]

    async def _versions(self, actor: Actor, roots: tuple[_Root, ...], variables: dict[str, Any], now: datetime,
                        lookups: dict[tuple[str, str | None], Any],
                        usage: list[tuple[int, tuple[str, str | None]]]) -> tuple[Any, ...] | None:
        """One version per root field, read on one connection: the organization's last audit sequence number, or the
        customer's kept usage answer itself (`UNANSWERED` if it has none now: the request computes and keeps one,
        and its answer is kept under that one). `lookups` receives what was read of each customer's usage answer,
        `usage` the positions of the USAGE roots."""
        found: list[Any] = []
        audited: int | None = None
        async with self.db.driver_read() as conn:
            for root in roots:
                if root.source == AUDITED:
                    if audited is None:
                        audited = await reads.audit_version(conn, actor.organization_id)
                    found.append(audited)
                    continue
                arguments = {
                    name: variables.get(value.name.value) if isinstance(value, VariableNode) else value
                    for name, value in root.arguments
                }
                customer, subscription = arguments.get("customerExternalId"), arguments.get("subscriptionExternalId")
                if not isinstance(customer, str) or not (subscription is None or isinstance(subscription, str)):
                    return None
                lookup = lookups[(customer, subscription)] = await cache.look_up(
                    conn, actor.organization_id, customer, subscription, now)
                usage.append((len(found), (customer, subscription)))
                found.append(UNANSWERED if lookup.answer is None else bytes(lookup.answer))
        return tuple(found)


def _fields(selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode],
            depth: int) -> list[FieldNode | None]:
    """The fields of a selection set, through its fragments (None for anything that makes it one not to keep:
    an unknown fragment, a type condition, too deep a nesting)."""
    found: list[FieldNode | None] = []
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif depth > _MAX_NESTING or selection.directives:
            return [None]
        elif isinstance(selection, InlineFragmentNode):
            if selection.type_condition is not None:
                return [None]
            found.extend(_fields(selection.selection_set, fragments, depth + 1))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                return [None]
            found.extend(_fields(fragment.selection_set, fragments, depth + 1))
    return found


def _has_other_directives(node: FieldNode) -> bool:
    return any(d.name.value not in ("include", "skip") for d in node.directives or ())


def _key(actor: Actor, text: str, operation_name: str | None, variables: dict[str, Any] | None,
         base_url: str) -> bytes:
    scope = (str(actor.organization_id), actor.role.value, actor.is_portal,
             str(actor.customer_id) if actor.customer_id else None, actor.customer_external_id)
    digest = hashlib.blake2b(digest_size=20)
    digest.update(orjson.dumps([scope, text, operation_name, base_url]))
    digest.update(orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=str))
    return digest.digest()
