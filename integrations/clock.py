"""The one place that reads wall time: a `Clock` is passed in, tests move a `ManualClock`.

The machine's clock is part of the outside world, so it sits with the other integrations, behind a
small interface that every layer may import (db's unit of work carries one; domain/ never reads
time at all: its functions take it as an argument).

Every other module takes the time from a clock it is given (the unit of work's `uow.clock`, a
request's `info.context.clock`, a worker job's `ctx["clock"]`) or as an argument, so that
schedules (billing dates, grace periods, retries) are tested by moving time instead of waiting.
Monotonic timers that measure how long something took (`time.monotonic`, `time.perf_counter`)
are not wall time and stay where they are. A test (tests/integrations/test_clock.py) fails when wall
time is read anywhere else.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until it is set or advanced (tests, replays)."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by `delta` or by `timedelta(**parts)` (days=…, hours=…); returns the new time."""
        step = (delta or timedelta()) + timedelta(**parts)
        if step < timedelta():
            raise ValueError("a clock only moves forward")
        self._at += step
        return self._at


class TestClockTime(ManualClock):
    """A test clock's time during its advance: a manual clock that also names the test clock, so that what is
    scheduled from it (a webhook's retries) is scheduled on that clock, not on real time."""

    __test__ = False  # not a pytest class

    def __init__(self, at: datetime, test_clock_id: uuid.UUID) -> None:
        super().__init__(at)
        self.test_clock_id = test_clock_id


def test_clock_of(clock: Clock) -> uuid.UUID | None:
    """The test clock whose time `clock` is, if it is one."""
    return clock.test_clock_id if isinstance(clock, TestClockTime) else None


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a clock's time needs a UTC offset")
    return at.astimezone(UTC)


SYSTEM_CLOCK = SystemClock()


def utc_now() -> datetime:
    """The machine's time: for the composition root and defaults; code with a clock at hand asks it."""
    return SYSTEM_CLOCK.now()
