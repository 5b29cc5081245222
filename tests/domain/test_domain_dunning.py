"""Dunning: retry schedule, hard vs soft declines, what follows a failed attempt."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import dunning
from domain.dunning import DeclineKind, DunningStepKind, FinalAction, RetrySchedule
from domain.errors import InvalidDuration, InvalidRetrySchedule, NaiveDatetime

quick = settings(max_examples=150, deadline=None, database=None)
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1D", timedelta(days=1)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT6H", timedelta(days=1, hours=6)),
        ("PT30M", timedelta(minutes=30)),
        ("PT90S", timedelta(seconds=90)),
        ("P2W", timedelta(weeks=2)),
        ("P1W2DT3H4M5S", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_parse_iso_8601_durations(text, expected):
    assert dunning.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1D", "P1DT", "P-1D", "p1d", "P1.5D", "PT1H1D", "P1D "])
def test_malformed_durations_are_refused(text):
    with pytest.raises(InvalidDuration) as raised:
        dunning.parse_duration(text, field=("retryIntervals", "0"))
    assert raised.value.code == "INVALID_DURATION" and raised.value.field == ("retryIntervals", "0")


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2D", "P1M1D"])
def test_months_and_years_are_refused_with_a_hint(text):
    with pytest.raises(InvalidDuration, match="P30D"):
        dunning.parse_duration(text)


@pytest.mark.parametrize("text", ["P1D", "PT12H", "P1DT6H", "PT30M", "PT1M30S", "P14D"])
def test_format_duration_round_trips(text):
    assert dunning.format_duration(dunning.parse_duration(text)) == text


def test_default_schedule_is_8_attempts_within_14_days():
    schedule = RetrySchedule()
    assert schedule.max_attempts == 8
    assert [offset.days for offset in schedule.offsets()] == [0, 1, 3, 5, 7, 9, 11, 14]
    assert schedule.window == timedelta(days=14)
    assert RetrySchedule.parse() == schedule


def test_configured_intervals_are_gaps_and_the_last_repeats():
    schedule = RetrySchedule.parse(["P1D", "P3D"], max_attempts=5)
    assert [o.days for o in schedule.offsets()] == [0, 1, 4, 7, 10]
    assert RetrySchedule.parse(["P1D", "P3D"]).max_attempts == 3


def test_next_attempt_after_attempt_n_counts_from_the_first_attempt():
    schedule = RetrySchedule()
    assert schedule.next_attempt_at(T0, 1) == T0 + timedelta(days=1)
    assert schedule.next_attempt_at(T0, 2) == T0 + timedelta(days=3)
    assert schedule.next_attempt_at(T0, 7) == T0 + timedelta(days=14)
    assert schedule.next_attempt_at(T0, 8) is None


def test_naive_times_are_refused():
    with pytest.raises(NaiveDatetime):
        RetrySchedule().next_attempt_at(datetime(2025, 3, 1), 1)


@pytest.mark.parametrize(
    ("intervals", "max_attempts", "field"),
    [
        (["PT30S"], 2, ("retryIntervals", "0")),
        (["P1D", "P91D"], 3, ("retryIntervals", "1")),
        ([], 2, ("retryIntervals",)),
        (["P1D"], 0, ("maxAttempts",)),
        (["P1D"], 21, ("maxAttempts",)),
    ],
)
def test_bad_schedules_are_refused(intervals, max_attempts, field):
    with pytest.raises(InvalidRetrySchedule) as raised:
        RetrySchedule.parse(intervals, max_attempts)
    assert raised.value.field == field


def test_a_single_attempt_needs_no_interval():
    assert RetrySchedule.parse([], 1).offsets() == (timedelta(0),)


durations = st.integers(60, 90 * 86_400).map(lambda s: dunning.format_duration(timedelta(seconds=s)))


@quick
@given(intervals=st.lists(durations, min_size=1, max_size=10), max_attempts=st.integers(1, 20))
def test_schedule_is_increasing_and_within_its_window(intervals, max_attempts):
    schedule = RetrySchedule.parse(intervals, max_attempts)
    times = [schedule.planned_at(T0, n) for n in range(1, max_attempts + 1)]
    assert times[0] == T0
    assert all(a < b for a, b in pairwise(times))
    assert times[-1] == schedule.ends_at(T0) <= T0 + timedelta(days=90) * (max_attempts - 1)
    for made in range(1, max_attempts + 1):
        due = schedule.next_attempt_at(T0, made)
        assert due is None if made == max_attempts else T0 < due <= schedule.ends_at(T0)


@pytest.mark.parametrize(
    "code",
    [
        "stolen_card",
        "lost_card",
        "pickup_card",
        "incorrect_number",
        "authentication_required",
        "transaction_not_allowed",
        "card_not_supported",
        "expired_card",
        "fraudulent",
        "account_closed",
        "debit_not_authorized",
    ],
)
def test_stripe_hard_declines(code):
    assert dunning.classify_decline("STRIPE", code) is DeclineKind.HARD


@pytest.mark.parametrize(
    "code", ["insufficient_funds", "generic_decline", "processing_error", "try_again_later", "do_not_honor", None, "x"]
)
def test_stripe_soft_declines_and_unknown_codes(code):
    assert dunning.classify_decline("STRIPE", code) is DeclineKind.SOFT


def test_paypal_declines():
    assert dunning.classify_decline("PAYPAL", "PAYER_CANNOT_PAY") is DeclineKind.HARD
    assert dunning.classify_decline("PAYPAL", "transaction_refused") is DeclineKind.HARD
    assert dunning.classify_decline("PAYPAL", "INSTRUMENT_DECLINED") is DeclineKind.SOFT


def test_hard_and_soft_lists_do_not_overlap():
    assert not dunning.STRIPE_HARD_DECLINES & dunning.STRIPE_SOFT_DECLINES
    assert not dunning.PAYPAL_HARD_DECLINES & dunning.PAYPAL_SOFT_DECLINES


def test_soft_decline_retries_on_schedule_then_the_final_action_applies():
    schedule = RetrySchedule()
    step = dunning.after_failed_attempt(
        schedule, first_attempt_at=T0, attempts_made=1, decline=DeclineKind.SOFT, final_action=FinalAction.BOTH
    )
    assert (step.kind, step.at) == (DunningStepKind.RETRY, T0 + timedelta(days=1))
    step = dunning.after_failed_attempt(
        schedule, first_attempt_at=T0, attempts_made=8, decline=DeclineKind.SOFT, final_action=FinalAction.BOTH
    )
    assert (step.kind, step.at, step.final_action) == (DunningStepKind.FINAL_ACTION, None, FinalAction.BOTH)


def test_hard_decline_stops_retries_until_the_window_ends():
    step = dunning.after_failed_attempt(
        RetrySchedule(),
        first_attempt_at=T0,
        attempts_made=2,
        decline=DeclineKind.HARD,
        final_action=FinalAction.MARK_UNCOLLECTIBLE,
    )
    assert (step.kind, step.at) == (DunningStepKind.AWAIT_NEW_METHOD, T0 + timedelta(days=14))


def test_final_action_parts():
    assert FinalAction.BOTH.marks_uncollectible and FinalAction.BOTH.cancels_subscription
    assert not FinalAction.NONE.marks_uncollectible and not FinalAction.NONE.cancels_subscription
    assert FinalAction.CANCEL_SUBSCRIPTION.cancels_subscription
