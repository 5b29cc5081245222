"""The fakes also run by themselves (`python -m tests.fakes.stripe --port N`), for manual use and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import stripe

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def running(module: str, *args: str) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", "0", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        found = re.search(r"listening on (http://\S+)", line.decode())
        assert found, line
        yield found.group(1)
    finally:
        process.terminate()
        await process.wait()


async def test_fake_stripe_and_paypal_run_as_processes(receiver, stripe_http, http):
    async with (
        running("tests.fakes.stripe", "--webhook-url", f"{receiver.url}/stripe", "--webhook-secret", "whsec_cli") as s,
        running("tests.fakes.paypal") as p,
    ):
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": s}, http_client=stripe_http)
        intent = await client.v1.payment_intents.create_async(
            {
                "amount": 700,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "payment_method_types": ["card"],
                "confirm": True,
                "off_session": True,
            }
        )
        assert intent.status == "succeeded"
        delivery = await receiver.wait_for(lambda r: json.loads(r.body)["type"] == "payment_intent.succeeded")
        event = stripe.Webhook.construct_event(delivery.body, delivery.header("Stripe-Signature"), "whsec_cli")
        assert event.data.object.id == intent.id
        token = await http.post(
            f"{p}/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=("id", "secret")
        )
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
        assert (await http.get(f"{s}/_control/requests")).json()[0]["path"] == "/v1/payment_intents"


@pytest.mark.parametrize("module", ["tests.fakes.stripe", "tests.fakes.paypal"])
def test_fake_modules_document_how_to_run_them(module):
    __import__(module)
    assert "python -m " + module in sys.modules[module].__doc__
