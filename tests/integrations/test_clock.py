"""One clock: `integrations/clock.py` is the only module that reads wall time; a `ManualClock` moves only when told."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrations.clock import Clock, ManualClock, SystemClock, utc_now

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("valueverse", "services", "graph", "workers", "db", "integrations", "domain")
CLOCK_MODULE = ROOT / "integrations" / "clock.py"
# (module, function) pairs that read the wall clock; monotonic timers (durations) are not among them.
WALL_TIME = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
    ("time", "asctime"),
    ("time", "strftime"),
}
WALL_TIME_NAMES = {name for _, name in WALL_TIME if name not in ("today",)}


def _wall_time_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = getattr(owner, "id", None) or getattr(owner, "attr", None)
            if (owner_name, node.func.attr) in WALL_TIME:
                found.append(f"{path}:{node.lineno}: {owner_name}.{node.func.attr}()")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if alias.name in WALL_TIME_NAMES:
                    found.append(f"{path}:{node.lineno}: from time import {alias.name}")
    return found


def test_wall_time_is_read_only_by_the_clock_module() -> None:
    reads = [
        read
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != CLOCK_MODULE and "migrations" not in path.parts
        for read in _wall_time_reads(path)
    ]
    assert reads == [], "read the time from a Clock (uow.clock, info.context.clock, ctx['clock']):\n" + "\n".join(
        reads
    )


def test_the_check_finds_a_wall_time_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom datetime import datetime, UTC\nx = datetime.now(UTC)\ny = time.time()\n")
    assert [r.split(": ", 1)[1] for r in _wall_time_reads(sample)] == ["datetime.now()", "time.time()"]


def test_a_manual_clock_stands_still_until_moved() -> None:
    start = datetime(2031, 1, 31, 23, 30, tzinfo=UTC)
    clock: Clock = ManualClock(start)
    assert clock.now() == clock.now() == start
    assert clock.advance(hours=1) == datetime(2031, 2, 1, 0, 30, tzinfo=UTC) == clock.now()
    clock.advance(timedelta(days=3), minutes=5)
    assert clock.now() == datetime(2031, 2, 4, 0, 35, tzinfo=UTC)
    clock.set(start)
    assert clock.now() == start


def test_a_manual_clock_needs_an_offset_and_only_moves_forward() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2031, 1, 1))
    clock = ManualClock(datetime(2031, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.advance(days=-1)


def test_the_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC and utc_now().tzinfo is UTC
