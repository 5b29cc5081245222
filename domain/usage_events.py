"""What a usage event may hold: every limit an event is checked against before it is stored.

Ingestion (``services.usage.ingestion``) checks each event completely with these rules, so an event the
database could refuse, or that rating could not compute with, is rejected by itself with a
`Rejection` code and a reason, before it joins the group commit shared with other requests.
Rating (``services.usage.rating``) checks stored values with the same rules: a value stored before a
limit existed makes that customer's usage unrateable with a reason, not an internal error.

Each limit is decided here, once; docs/api.md ("Limits of usage events") states them.

- Text (transaction id, metric code, customer and subscription external ids, property keys and
  string values) is stored as PostgreSQL text: it may not hold U+0000 nor an unpaired surrogate
  (not UTF-8). Ids are no longer than their columns.
- Numbers anywhere in ``properties`` are exact decimals of at most `NUMBER_MAX_DIGITS` digits
  before and `NUMBER_MAX_PLACES` after the decimal point, as written (``1e999999`` is refused);
  the metric's own value (what SUM, MAX, LATEST and WEIGHTED_SUM aggregate) is tighter:
  ``|value| < 10^VALUE_MAX_DIGITS`` with at most `VALUE_MAX_PLACES` places, so that one value
  is exact within the 28 significant digits of decimal arithmetic.
- ``properties`` is an object nested at most `PROPERTIES_MAX_DEPTH` levels (the object itself is
  level 1) and at most `PROPERTIES_MAX_BYTES` bytes of JSON.
- A timestamp is ISO 8601 with a UTC offset or Unix seconds (0 to the end of year 9999), and
  lies between `MAX_AGE` before and `MAX_AHEAD` after the time the event was received.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NoReturn

from domain.aggregation import numeric_value
from domain.errors import BatchTooLarge, EventRejected, UnrateableUsage

MAX_EVENTS_PER_BATCH = 10_000
"""A larger batch is refused whole (BATCH_TOO_LARGE): nothing of it is stored."""

TRANSACTION_ID_MAX_LENGTH = 200  # usage_events.transaction_id, usage_event_keys.transaction_id
EXTERNAL_ID_MAX_LENGTH = 200  # customers.external_id, subscriptions.external_id, usage_events.*_external_id
METRIC_CODE_MAX_LENGTH = 100  # billable_metrics.code, usage_events.metric_code

PROPERTIES_MAX_BYTES = 8_192
PROPERTIES_MAX_DEPTH = 10

NUMBER_MAX_DIGITS = 38
NUMBER_MAX_PLACES = 38
VALUE_MAX_DIGITS = 15
VALUE_MAX_PLACES = 12

MAX_AGE = timedelta(days=35)
MAX_AHEAD = timedelta(minutes=5)  # a sender's clock slightly ahead is not "the future"
UNIX_SECONDS_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VALUE_BOUND = 10**VALUE_MAX_DIGITS
_NUMBER_BOUND = 10**NUMBER_MAX_DIGITS


class Rejection(enum.StrEnum):
    """Why one event of a batch was refused (`rejected[].code`); the others are stored all the same."""

    INVALID_EVENT = "INVALID_EVENT"  # POST /v1/events: the item is not an event object (or cannot be read)
    INVALID_TRANSACTION_ID = "INVALID_TRANSACTION_ID"
    UNKNOWN_METRIC = "UNKNOWN_METRIC"
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    CUSTOMER_MISMATCH = "CUSTOMER_MISMATCH"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    TIMESTAMP_TOO_OLD = "TIMESTAMP_TOO_OLD"
    TIMESTAMP_IN_FUTURE = "TIMESTAMP_IN_FUTURE"
    INVALID_PROPERTIES = "INVALID_PROPERTIES"
    PROPERTIES_TOO_DEEP = "PROPERTIES_TOO_DEEP"
    PROPERTIES_TOO_LARGE = "PROPERTIES_TOO_LARGE"
    INVALID_TEXT = "INVALID_TEXT"
    NUMBER_OUT_OF_RANGE = "NUMBER_OUT_OF_RANGE"
    MISSING_PROPERTY = "MISSING_PROPERTY"
    INVALID_PROPERTY = "INVALID_PROPERTY"
    STORAGE_REJECTED = "STORAGE_REJECTED"  # the database refused the event itself (see db/usage_writer.py)


def batch_size(count: int) -> None:
    """A batch holds at most MAX_EVENTS_PER_BATCH events (else it is refused whole: BATCH_TOO_LARGE)."""
    if count > MAX_EVENTS_PER_BATCH:
        raise BatchTooLarge(f"a batch holds at most {MAX_EVENTS_PER_BATCH:,} events, not {count:,}", field=("events",))


def _reject(code: Rejection, message: str) -> NoReturn:
    raise EventRejected(code, message)


def shown(value: object, limit: int = 60) -> str:
    """A value as it may be quoted back in a reason: short, whatever was sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- text -------------------------------------------------------------------------------


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (U+0000, or an unpaired surrogate: not UTF-8), or None."""
    if "\x00" in value:
        return "contains U+0000 (NUL)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (not UTF-8)"
    return None


def is_id(value: object, max_length: int) -> bool:
    """Whether `value` can be an id of at most `max_length` characters (what may be looked up)."""
    return isinstance(value, str) and 0 < len(value) <= max_length and text_problem(value) is None


def lookup_ids(values: Iterable[object]) -> set[str]:
    """The external ids among `values` as `external_id` reads them (spaces around dropped): what may be
    looked up; anything else matches no customer or subscription anyway."""
    found = set()
    for value in values:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped and len(value) <= EXTERNAL_ID_MAX_LENGTH and text_problem(stripped) is None:
                found.add(stripped)
    return found


def transaction_id(value: object) -> str:
    """The event's idempotency key, surrounding spaces removed."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped and len(value) <= TRANSACTION_ID_MAX_LENGTH:
            problem = text_problem(stripped) if "\x00" in stripped or not stripped.isascii() else None
            if problem is None:
                return stripped
            _reject(Rejection.INVALID_TRANSACTION_ID, f"transactionId {problem}")
    _reject(
        Rejection.INVALID_TRANSACTION_ID,
        f"transactionId is required: 1 to {TRANSACTION_ID_MAX_LENGTH} characters",
    )


def external_id(value: object, name: str, missing: Rejection) -> str | None:
    """A customer's or subscription's external id as sent (None when left out or blank)."""
    if value is None:
        return None
    if not isinstance(value, str):
        _reject(missing, f"{name} must be a string, not {shown(value)}")
    stripped = value.strip()
    if not stripped:
        return None
    if len(value) > EXTERNAL_ID_MAX_LENGTH:
        _reject(missing, f"{name} is longer than {EXTERNAL_ID_MAX_LENGTH} characters: no such id exists")
    if "\x00" in stripped or not stripped.isascii():
        problem = text_problem(stripped)
        if problem is not None:
            _reject(missing, f"{name} {problem}: no such id exists")
    return stripped


# --- time -------------------------------------------------------------------------------


def _unix_seconds(value: int | Decimal) -> datetime:
    if isinstance(value, Decimal) and not value.is_finite():
        _reject(Rejection.INVALID_TIMESTAMP, "a Unix timestamp is a finite number of seconds")
    if not 0 <= value <= UNIX_SECONDS_MAX:
        _reject(
            Rejection.INVALID_TIMESTAMP,
            f"a Unix timestamp is 0 to {UNIX_SECONDS_MAX} seconds (the end of year 9999), not {shown(value)}",
        )
    micros = (Decimal(value) * 1_000_000).to_integral_value(ROUND_HALF_EVEN)
    return _EPOCH + timedelta(microseconds=int(micros))


def timestamp(value: object, received_at: datetime) -> datetime:
    """When the event happened, in UTC: `received_at` when left out; within the accepted window."""
    if value is None:
        return received_at
    kind = type(value)
    if kind is str:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))  # type: ignore[attr-defined]
        except ValueError:
            _reject(
                Rejection.INVALID_TIMESTAMP, "timestamp is not ISO 8601 (e.g. 2026-11-23T10:00:00Z) nor Unix seconds"
            )
    elif isinstance(value, datetime):
        moment = value
    elif kind is int or kind is Decimal or (isinstance(value, int | Decimal) and not isinstance(value, bool)):
        moment = _unix_seconds(value)  # type: ignore[arg-type]
    else:
        _reject(Rejection.INVALID_TIMESTAMP, "timestamp is not ISO 8601 nor Unix seconds")
    if moment.tzinfo is None or moment.utcoffset() is None:
        _reject(Rejection.INVALID_TIMESTAMP, "timestamp needs a UTC offset (e.g. Z or +01:00)")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before the first representable instant
        _reject(Rejection.INVALID_TIMESTAMP, "timestamp is out of range")
    if moment < received_at - MAX_AGE:
        _reject(Rejection.TIMESTAMP_TOO_OLD, f"events may be at most {MAX_AGE.days} days old")
    if moment > received_at + MAX_AHEAD:
        _reject(
            Rejection.TIMESTAMP_IN_FUTURE,
            f"the timestamp is in the future (more than {MAX_AHEAD.seconds // 60} minutes ahead)",
        )
    return moment


# --- numbers ----------------------------------------------------------------------------


def _exponent(number: Decimal) -> int:
    """The exponent of a finite Decimal as written ("12.50" → -2, "1E+3" → 3), read from its text:
    `as_tuple()` costs several times more, and this runs for every event."""
    mantissa, e, power = str(number).partition("E")
    point = mantissa.find(".")
    places = len(mantissa) - point - 1 if point >= 0 else 0
    return (int(power) if e else 0) - places


def _decimal_problem(number: Decimal, max_digits: int, max_places: int) -> str | None:
    if not number.is_finite():
        return "is not a finite number"
    if _exponent(number) < -max_places:
        return f"has more than {max_places} digits after the decimal point"
    if number.adjusted() >= max_digits:
        return f"has more than {max_digits} digits before the decimal point"
    return None


def number_problem(value: object) -> str | None:
    """Why a JSON number anywhere in properties cannot be kept, or None (other values: None)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -_NUMBER_BOUND < value < _NUMBER_BOUND else (
            f"has more than {NUMBER_MAX_DIGITS} digits before the decimal point"
        )
    if isinstance(value, Decimal):
        return _decimal_problem(value, NUMBER_MAX_DIGITS, NUMBER_MAX_PLACES)
    if isinstance(value, float):  # only NaN or ±Infinity reach us as floats (decoders read decimals exactly)
        return "is not a finite number" if not math.isfinite(value) else "is not an exact decimal number"
    return None


def value_problem(number: Decimal) -> str | None:
    """Why a metric's value cannot be aggregated exactly, or None."""
    return _decimal_problem(number, VALUE_MAX_DIGITS, VALUE_MAX_PLACES)


def _number_in(value: object) -> Decimal | None:
    """The number a property value holds, read as rating reads it (`aggregation.numeric_value`)."""
    return None if isinstance(value, float) else numeric_value(value)


def metric_value(properties: Mapping[str, Any], field_name: str, *, numeric: bool) -> Decimal | None:
    """The value an event gives its metric (`properties[field_name]`), checked.

    `numeric`: the metric aggregates numbers (SUM, MAX, LATEST, WEIGHTED_SUM); otherwise
    (UNIQUE_COUNT) any value counts as it is, and the number it holds, if any, is returned."""
    raw = properties.get(field_name)
    if raw is None:
        _reject(Rejection.MISSING_PROPERTY, f"the metric aggregates properties.{field_name}")
    if type(raw) is Decimal and raw.is_finite():  # the common case, as JSON numbers are read
        number: Decimal | None = raw
    else:
        number = _number_in(raw)
    if not numeric:
        return number
    if number is None:
        if isinstance(raw, float) or (isinstance(raw, Decimal) and not raw.is_finite()):
            _reject(Rejection.NUMBER_OUT_OF_RANGE, f"properties.{field_name} is not a finite number")
        _reject(Rejection.INVALID_PROPERTY, f"properties.{field_name} must be a number (or a numeric string)")
    problem = value_problem(number)
    if problem is not None:
        _reject(
            Rejection.NUMBER_OUT_OF_RANGE,
            f"properties.{field_name} {problem}: a metric's value is below 10^{VALUE_MAX_DIGITS} "
            f"with at most {VALUE_MAX_PLACES} decimal places",
        )
    return number


# --- properties -------------------------------------------------------------------------


def _where(path: str, key: object) -> str:
    if isinstance(key, str):
        return f"{path}.{key}" if len(key) <= 40 else f"{path}.{key[:39]}…"
    return f"{path}[{key}]"


def _walk(node: Mapping[str, Any] | list[Any], depth: int, path: str, value_field: str | None = None) -> None:
    """Every key, string and number of `node`, at most PROPERTIES_MAX_DEPTH levels down (`value_field`:
    the metric's value, whose number `metric_value` checks against its own, tighter limits).

    On the hot path of ingestion: the common kinds are told apart by `type(...) is`, and the path of a
    value is only spelled out for a rejection."""
    items = node.items() if type(node) is dict or isinstance(node, Mapping) else enumerate(node)
    for key, value in items:
        if type(key) is str and ("\x00" in key or not key.isascii()):
            problem = text_problem(key)
            if problem is not None:
                _reject(Rejection.INVALID_TEXT, f"a key of {path} {problem}")
        kind = type(value)
        if kind is str:
            if "\x00" in value or not value.isascii():
                problem = text_problem(value)
                if problem is not None:
                    _reject(Rejection.INVALID_TEXT, f"{_where(path, key)} {problem}")
        elif kind is Decimal or kind is int:
            if key != value_field:
                problem = number_problem(value)
                if problem is not None:
                    _reject(
                        Rejection.NUMBER_OUT_OF_RANGE,
                        f"{_where(path, key)} {problem}: numbers in properties have at most {NUMBER_MAX_DIGITS} "
                        f"digits before and {NUMBER_MAX_PLACES} after the decimal point",
                    )
        elif value is None or kind is bool:
            continue
        elif kind is dict or kind is list or isinstance(value, Mapping | list):
            if depth >= PROPERTIES_MAX_DEPTH:
                _reject(
                    Rejection.PROPERTIES_TOO_DEEP,
                    f"properties may nest at most {PROPERTIES_MAX_DEPTH} levels (the object itself is the first)",
                )
            _walk(value, depth + 1, _where(path, key))
        elif isinstance(value, str):  # a str subclass: checked as text
            problem = text_problem(value)
            if problem is not None:
                _reject(Rejection.INVALID_TEXT, f"{_where(path, key)} {problem}")
        else:
            problem = number_problem(value) if key != value_field or kind is float else None
            if problem is not None:
                _reject(Rejection.NUMBER_OUT_OF_RANGE, f"{_where(path, key)} {problem}")
            if not isinstance(value, int | Decimal | float):
                _reject(Rejection.INVALID_PROPERTIES, f"{_where(path, key)} is not a JSON value")


def properties(value: object, value_field: str | None = None) -> Mapping[str, Any]:
    """The event's properties ({} when left out), every key, string and number in them storable.

    `value_field`: the property a numeric metric aggregates; its number is left to `metric_value`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        _reject(Rejection.INVALID_PROPERTIES, "properties must be a JSON object")
    _walk(value, 1, "properties", value_field)
    return value


def properties_size(json_bytes: int) -> None:
    """The stored JSON of the properties is small enough."""
    if json_bytes > PROPERTIES_MAX_BYTES:
        _reject(Rejection.PROPERTIES_TOO_LARGE, f"properties may take at most {PROPERTIES_MAX_BYTES} bytes of JSON")


# --- stored usage -----------------------------------------------------------------------


def stored_value(value: object, transaction_id: str, metric_code: str) -> None:
    """A stored event's value can be rated (it may predate a limit): else UnrateableUsage."""
    number = _number_in(value)
    problem = None if number is None else value_problem(number)  # not a number: aggregations skip it
    if problem is not None:
        raise UnrateableUsage(
            f"the stored event {shown(transaction_id)} of metric {metric_code!r} holds a value that {problem} "
            f"(a metric's value is below 10^{VALUE_MAX_DIGITS} with at most {VALUE_MAX_PLACES} decimal places)"
        )


def stored_rollup(events: int, value_sum: Decimal, value_max: Decimal | None, metric_code: str) -> None:
    """Hourly totals (of `events` events) are what events within the limits can add up to: else UnrateableUsage."""
    bound = max(events, 1) * _VALUE_BOUND
    for number in (value_sum, value_max):
        if number is None:
            continue
        if _decimal_problem(number, NUMBER_MAX_DIGITS, VALUE_MAX_PLACES) is not None or abs(number) >= bound:
            raise UnrateableUsage(
                f"the stored hourly totals of metric {metric_code!r} are beyond what their events can add up to "
                f"(a metric's value is below 10^{VALUE_MAX_DIGITS} with at most {VALUE_MAX_PLACES} decimal places)"
            )
