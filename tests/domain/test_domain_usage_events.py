"""The limits of usage events: what is stored, what is rejected by itself and why (domain.usage_events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import usage_events as rules
from domain.aggregation import numeric_value
from domain.errors import BatchTooLarge, EventRejected, UnrateableUsage
from domain.usage_events import Rejection

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(EventRejected) as caught:
        call(*args, **kwargs)
    assert caught.value.message
    return caught.value.code


# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "ok\ud800", "\udfff"])
def test_text_with_nul_or_an_unpaired_surrogate_cannot_be_stored(value):
    assert rules.text_problem(value) is not None
    assert not rules.is_id(value, 200)
    assert _code(rules.transaction_id, value) == Rejection.INVALID_TRANSACTION_ID


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1))
def test_any_other_text_can_be_stored(value):
    assert rules.text_problem(value) is None
    value.encode("utf-8")  # what PostgreSQL text takes


def test_transaction_ids_are_1_to_200_characters_spaces_around_ignored():
    assert rules.transaction_id("  tx-1 ") == "tx-1"
    assert rules.transaction_id("x" * rules.TRANSACTION_ID_MAX_LENGTH) == "x" * 200
    for bad in ["", "   ", None, 5, "x" * 201]:
        assert _code(rules.transaction_id, bad) == Rejection.INVALID_TRANSACTION_ID


def test_external_ids_longer_than_their_column_or_unstorable_match_no_customer():
    missing = Rejection.CUSTOMER_NOT_FOUND
    assert rules.external_id(None, "customerExternalId", missing) is None
    assert rules.external_id("  ", "customerExternalId", missing) is None
    assert rules.external_id(" acme ", "customerExternalId", missing) == "acme"
    for bad in ["x" * 201, "ac\x00me", 42]:
        assert _code(rules.external_id, bad, "customerExternalId", missing) == missing


def test_limits_of_ids_are_those_of_their_columns():
    from db.models import usage

    columns = usage.usage_events.c
    assert columns.transaction_id.type.length == rules.TRANSACTION_ID_MAX_LENGTH
    assert columns.customer_external_id.type.length == rules.EXTERNAL_ID_MAX_LENGTH
    assert columns.subscription_external_id.type.length == rules.EXTERNAL_ID_MAX_LENGTH
    assert columns.metric_code.type.length == rules.METRIC_CODE_MAX_LENGTH
    assert usage.usage_event_keys.c.transaction_id.type.length == rules.TRANSACTION_ID_MAX_LENGTH


# --- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        10**20,
        D("1E+999999"),
        D("NaN"),
        -1,
        rules.UNIX_SECONDS_MAX + 1,
        "10000-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before the first instant a datetime holds, in UTC
        "2026-11-23T10:00:00",  # no offset
        "yesterday",
        "2026-11-23\x00",
        [],
    ],
)
def test_timestamps_out_of_range_or_malformed_are_invalid(value):
    assert _code(rules.timestamp, value, NOW) == Rejection.INVALID_TIMESTAMP


def test_timestamps_are_accepted_within_35_days_back_and_5_minutes_ahead():
    assert rules.timestamp(None, NOW) == NOW
    assert rules.timestamp("2026-11-23T11:00:00+01:00", NOW) == NOW
    assert rules.timestamp(int(NOW.timestamp()), NOW) == NOW
    assert rules.timestamp(D(int(NOW.timestamp())) + D("0.25"), NOW) == NOW + timedelta(milliseconds=250)
    assert rules.timestamp(NOW - timedelta(days=35), NOW) == NOW - timedelta(days=35)
    assert rules.timestamp(NOW + timedelta(minutes=5), NOW) == NOW + timedelta(minutes=5)
    assert _code(rules.timestamp, NOW - timedelta(days=35, seconds=1), NOW) == Rejection.TIMESTAMP_TOO_OLD
    assert _code(rules.timestamp, NOW + timedelta(minutes=5, seconds=1), NOW) == Rejection.TIMESTAMP_IN_FUTURE


@given(st.one_of(st.integers(), st.decimals(allow_nan=True, allow_infinity=True), st.text()))
def test_any_timestamp_is_a_moment_or_a_rejection_never_an_error(value):
    try:
        moment = rules.timestamp(value, NOW)
    except EventRejected as exc:
        assert exc.code in {Rejection.INVALID_TIMESTAMP, Rejection.TIMESTAMP_TOO_OLD, Rejection.TIMESTAMP_IN_FUTURE}
    else:
        assert NOW - rules.MAX_AGE <= moment <= NOW + rules.MAX_AHEAD


# --- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (D("1E+999999"), Rejection.NUMBER_OUT_OF_RANGE),
        ("1e999999", Rejection.NUMBER_OUT_OF_RANGE),
        (int("9" * 4000), Rejection.NUMBER_OUT_OF_RANGE),
        ("9" * 4000, Rejection.NUMBER_OUT_OF_RANGE),
        (10**15, Rejection.NUMBER_OUT_OF_RANGE),
        (D("-1E+15"), Rejection.NUMBER_OUT_OF_RANGE),
        (D("1E-13"), Rejection.NUMBER_OUT_OF_RANGE),
        (D("0E-999999"), Rejection.NUMBER_OUT_OF_RANGE),
        (D("0E+999999"), Rejection.NUMBER_OUT_OF_RANGE),
        ("NaN", Rejection.INVALID_PROPERTY),
        ("Infinity", Rejection.INVALID_PROPERTY),
        ("-inf", Rejection.INVALID_PROPERTY),
        (D("NaN"), Rejection.NUMBER_OUT_OF_RANGE),
        (float("inf"), Rejection.NUMBER_OUT_OF_RANGE),
        ("1_000", Rejection.INVALID_PROPERTY),
        ("lots", Rejection.INVALID_PROPERTY),
        (True, Rejection.INVALID_PROPERTY),
        ({"n": 1}, Rejection.INVALID_PROPERTY),
    ],
)
def test_a_metric_value_beyond_its_limits_or_not_a_number_is_rejected(value, code):
    assert _code(rules.metric_value, {"v": value}, "v", numeric=True) == code


@pytest.mark.parametrize(
    "value",
    [D("999999999999999.999999999999"), -(10**15) + 1, D("-0.000000000001"), "  12.5 ", 0, D("1.5E+3"), D("-0")],
)
def test_metric_values_within_the_limits_are_read_exactly(value):
    assert rules.metric_value({"v": value}, "v", numeric=True) == numeric_value(value)


def test_a_missing_value_is_rejected_and_unique_count_takes_any_value():
    assert _code(rules.metric_value, {}, "v", numeric=True) == Rejection.MISSING_PROPERTY
    assert _code(rules.metric_value, {"v": None}, "v", numeric=False) == Rejection.MISSING_PROPERTY
    assert rules.metric_value({"v": "user-7"}, "v", numeric=False) is None
    assert rules.metric_value({"v": 7}, "v", numeric=False) == D(7)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_every_value_within_the_limits_is_accepted_and_fits_decimal_precision(value):
    assert rules.metric_value({"v": value}, "v", numeric=True) == value
    assert len(value.as_tuple().digits) <= 28  # exact in the default context of decimal arithmetic


@given(st.one_of(st.integers(), st.decimals(), st.text(max_size=50)))
def test_a_value_accepted_at_ingestion_is_rateable_when_stored(value):
    try:
        rules.metric_value({"v": value}, "v", numeric=True)
    except EventRejected:
        return
    rules.stored_value(value, "tx", "m")  # no UnrateableUsage


def test_a_stored_value_beyond_the_limits_makes_usage_unrateable_with_a_reason():
    with pytest.raises(UnrateableUsage) as caught:
        rules.stored_value(D("9" * 4000), "tx-huge", "api_calls")
    assert "'tx-huge'" in caught.value.message and "api_calls" in caught.value.message
    rules.stored_value("not a number", "tx", "m")  # skipped by aggregations, as before
    rules.stored_value(None, "tx", "m")


def test_stored_hourly_totals_are_checked_against_their_event_count():
    rules.stored_rollup(3, D("2999999999999999.5"), D("999999999999999"), "m")
    with pytest.raises(UnrateableUsage):
        rules.stored_rollup(1, D("9" * 4000), D("9" * 4000), "m")
    with pytest.raises(UnrateableUsage):
        rules.stored_rollup(3, D(3 * 10**15), None, "m")


# --- properties -------------------------------------------------------------------------


def _nested(depth: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(depth - 1):
        node = {"n": node}
    return node


@pytest.mark.parametrize(
    ("properties", "code"),
    [
        ([1, 2], Rejection.INVALID_PROPERTIES),
        ("text", Rejection.INVALID_PROPERTIES),
        ({"region": "e\x00u"}, Rejection.INVALID_TEXT),
        ({"re\x00gion": "eu"}, Rejection.INVALID_TEXT),
        ({"deep": {"er": ["\x00"]}}, Rejection.INVALID_TEXT),
        ({"s": "\ud800"}, Rejection.INVALID_TEXT),
        ({"id": D("1E+999999")}, Rejection.NUMBER_OUT_OF_RANGE),
        ({"id": 10**38}, Rejection.NUMBER_OUT_OF_RANGE),
        ({"ratio": D("1E-39")}, Rejection.NUMBER_OUT_OF_RANGE),
        ({"list": [1, D("NaN")]}, Rejection.NUMBER_OUT_OF_RANGE),
        ({"x": float("nan")}, Rejection.NUMBER_OUT_OF_RANGE),
        ({"x": float("inf")}, Rejection.NUMBER_OUT_OF_RANGE),
        (_nested(rules.PROPERTIES_MAX_DEPTH + 1), Rejection.PROPERTIES_TOO_DEEP),
        (_nested(1000), Rejection.PROPERTIES_TOO_DEEP),
    ],
)
def test_properties_that_cannot_be_stored_are_rejected(properties, code):
    assert _code(rules.properties, properties) == code


def test_properties_within_the_limits_are_kept_as_sent():
    kept = {"region": "eu", "snowflake": 1234567890123456789012345, "ratio": D("0.30000000000000004"), "ok": True,
            "none": None, "list": [1, "a", {"b": []}], "deep": _nested(rules.PROPERTIES_MAX_DEPTH - 1)}
    assert rules.properties(kept) is kept
    assert rules.properties(None) == {}
    assert _code(rules.properties_size, rules.PROPERTIES_MAX_BYTES + 1) == Rejection.PROPERTIES_TOO_LARGE
    rules.properties_size(rules.PROPERTIES_MAX_BYTES)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=4), _json, max_size=4))
def test_any_properties_are_kept_or_rejected_with_a_code_never_an_error(properties):
    try:
        assert rules.properties(properties) is properties
    except EventRejected as exc:
        assert exc.code in set(Rejection)


def test_a_batch_holds_at_most_10000_events():
    rules.batch_size(rules.MAX_EVENTS_PER_BATCH)
    with pytest.raises(BatchTooLarge) as caught:
        rules.batch_size(rules.MAX_EVENTS_PER_BATCH + 1)
    assert caught.value.code == "BATCH_TOO_LARGE" and caught.value.field == ("events",)


def test_every_rejection_code_is_upper_snake_and_distinct():
    assert len({str(r) for r in Rejection}) == len(Rejection)
    assert all(str(r) == r.name for r in Rejection)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_the_exponent_of_a_number_is_read_as_written(number):
    assert rules._exponent(number) == number.as_tuple().exponent


def test_only_what_can_be_an_external_id_is_looked_up_as_it_will_be_read():
    sent = [" acme ", "acme", "x" * 201, "nul\x00", "", "   ", None, 7, ["a"], "\ud800"]
    assert rules.lookup_ids(sent) == {"acme"}
    for value in sent:
        try:
            read = rules.external_id(value, "customerExternalId", Rejection.CUSTOMER_NOT_FOUND)
        except EventRejected:
            continue
        assert read is None or read in rules.lookup_ids([value])
