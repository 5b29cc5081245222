"""Fixtures: the fake providers and a webhook receiver, each on a free local port, started per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.receiver import WebhookReceiver
from tests.fakes.stripe import FakeStripe


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as running:
        yield running
