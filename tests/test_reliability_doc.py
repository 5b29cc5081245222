"""docs/reliability.md names, for each promise about bad input and faults, the tests that hold it: each exists."""

from __future__ import annotations

import re

from tests.stack import ROOT

NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def test_every_test_the_reliability_guide_names_exists() -> None:
    guide = (ROOT / "docs" / "reliability.md").read_text()
    named = NAMED.findall(guide)
    assert len(named) > 50
    for path, name in named:
        source = (ROOT / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{path}::{name} is not a test"
