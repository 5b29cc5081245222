"""Fixtures: the fake providers and a webhook receiver, each on a free local port, started per test.

HTTP clients are shared by the whole run: building a TLS context costs a good part of a
second on a busy machine, and the fakes speak plain HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import stripe

from tests.fakes.paypal import FakePayPal
from tests.fakes.receiver import WebhookReceiver
from tests.fakes.stripe import FakeStripe


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=False, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
async def stripe_http() -> AsyncIterator[stripe.HTTPClient]:
    client = stripe.HTTPXClient(verify_ssl_certs=False, timeout=10)
    yield client
    await client.close_async()


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
async def fake_paypal() -> AsyncIterator[FakePayPal]:
    async with FakePayPal() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as running:
        yield running
