"""The outbound webhooks' retry schedule: the documented delays, a tenth of jitter, fixed per attempt."""

from __future__ import annotations

from services.webhooks import RETRY_DELAYS, retry_delay


def test_the_retry_schedule_is_the_documented_one_with_a_tenth_of_jitter() -> None:
    assert [d.total_seconds() for d in RETRY_DELAYS] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempt, base in enumerate(RETRY_DELAYS, start=1):
        delays = {retry_delay(f"endpoint:{n}", attempt) for n in range(50)}
        assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
        assert len(delays) > 40  # spread, so that receivers coming back are not hit all at once
        assert retry_delay("endpoint:1", attempt) == retry_delay("endpoint:1", attempt)  # the same for an attempt
    assert retry_delay("endpoint:1", len(RETRY_DELAYS) + 1) is None
