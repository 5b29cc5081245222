"""An organization's dunning campaign: its defaults, its text form and what it refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.dunning import (
    ACTIVE_STATUSES,
    DEFAULT_CAMPAIGN,
    DunningCampaign,
    DunningStatus,
    FinalAction,
    parse_duration,
)
from domain.errors import InvalidDuration, InvalidRetrySchedule


def test_the_default_campaign_retries_eight_times_within_fourteen_days_then_marks_uncollectible():
    assert DEFAULT_CAMPAIGN.enabled and DEFAULT_CAMPAIGN.reminder_emails
    assert DEFAULT_CAMPAIGN.final_action is FinalAction.MARK_UNCOLLECTIBLE
    assert [o.days for o in DEFAULT_CAMPAIGN.schedule.offsets()] == [0, 1, 3, 5, 7, 9, 11, 14]
    assert DEFAULT_CAMPAIGN.retry_intervals == ("P1D", "P2D", "P2D", "P2D", "P2D", "P2D", "P3D")


def test_new_intervals_without_a_count_make_one_attempt_more_than_gaps():
    campaign = DunningCampaign.parse(retry_intervals=["PT12H", "P1DT6H"])
    assert campaign.schedule.max_attempts == 3
    assert campaign.retry_intervals == ("PT12H", "P1DT6H")


@pytest.mark.parametrize(
    ("intervals", "attempts", "error"),
    [
        (["P1M"], None, InvalidDuration),
        (["P1Y"], None, InvalidDuration),
        (["1 day"], None, InvalidDuration),
        (["PT30S"], None, InvalidRetrySchedule),
        (["P91D"], None, InvalidRetrySchedule),
        (None, 0, InvalidRetrySchedule),
        (None, 21, InvalidRetrySchedule),
        ([], 2, InvalidRetrySchedule),
    ],
)
def test_bad_campaigns_are_refused(intervals, attempts, error):
    with pytest.raises(error):
        DunningCampaign.parse(retry_intervals=intervals, max_attempts=attempts)


def test_a_final_action_is_one_of_four():
    with pytest.raises(ValueError):
        DunningCampaign.parse(final_action="DELETE_CUSTOMER")
    assert DunningCampaign.parse(final_action="BOTH").final_action.cancels_subscription


def test_only_retrying_and_awaiting_a_method_are_in_dunning():
    assert ACTIVE_STATUSES == {DunningStatus.RETRYING, DunningStatus.AWAITING_METHOD}


@given(st.lists(st.integers(min_value=60, max_value=90 * 86_400), min_size=1, max_size=19))
def test_the_text_form_of_intervals_reads_back_the_same(seconds):
    campaign = DunningCampaign.parse(retry_intervals=[f"PT{s}S" for s in seconds])
    assert [parse_duration(t) for t in campaign.retry_intervals] == [timedelta(seconds=s) for s in seconds]
