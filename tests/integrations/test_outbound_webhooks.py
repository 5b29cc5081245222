"""Outbound webhooks: Standard Webhooks signatures, bounded delivery, and the guard against private targets."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from integrations.webhooks import (
    WebhookSender,
    check_target,
    generate_secret,
    is_public_address,
    signed_headers,
)

BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"number": "VV-1"}}).encode()


class HostsFile(AbstractResolver):
    """A resolver reading a fixed table, like /etc/hosts: names that resolve where a test says."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def open_sender():
    """A sender that may deliver to this machine, as the tests' setting WEBHOOK_ALLOW_PRIVATE_TARGETS=true."""
    sender = WebhookSender(allow_private_targets=True, timeout=2)
    yield sender
    await sender.aclose()


@pytest.fixture
async def guarded_sender():
    sender = WebhookSender(timeout=2)
    yield sender
    await sender.aclose()


def test_secret_has_the_standard_form_and_signs_verifiably():
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 32
    at = datetime(2025, 3, 4, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    headers = signed_headers(secret, message_id="msg_1", timestamp=at, body=BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp())) == "1741082400"
    assert headers["webhook-signature"].startswith("v1,")
    assert generate_secret() != secret
    with pytest.raises(ValueError):
        signed_headers(secret, message_id="m", timestamp=datetime(2025, 1, 1), body=BODY)


async def test_delivery_is_signed_per_standard_webhooks(open_sender, receiver):
    secret = generate_secret()
    result = await open_sender.deliver(
        f"{receiver.url}/hooks", secret=secret, message_id="msg_2", timestamp=datetime.now(UTC), body=BODY
    )
    assert (result.status_code, result.delivered, result.response_excerpt, result.error) == (200, True, "ok", None)
    arrived = await receiver.wait_for()
    assert arrived.body == BODY and arrived.header("content-type") == "application/json"
    assert Webhook(secret).verify(arrived.body, arrived.headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(arrived.body, arrived.headers)


@pytest.mark.parametrize("status", [500, 410, 302])
async def test_failing_answers_are_results(open_sender, receiver, status):
    receiver.status = status
    result = await open_sender.deliver(
        receiver.url, secret=generate_secret(), message_id="m", timestamp=datetime.now(UTC), body=BODY
    )
    assert (result.status_code, result.delivered, result.gone) == (status, False, status == 410)


async def test_response_excerpt_is_bounded(open_sender, receiver):
    receiver.reply = "é".encode() * 5_000
    result = await open_sender.deliver(
        receiver.url, secret=generate_secret(), message_id="m", timestamp=datetime.now(UTC), body=BODY
    )
    assert result.delivered and 0 < len(result.response_excerpt.encode()) <= 1024 + 3


async def test_hanging_endpoint_times_out(receiver):
    receiver.delay = 5
    sender = WebhookSender(allow_private_targets=True, timeout=0.2)
    try:
        result = await sender.deliver(
            receiver.url, secret=generate_secret(), message_id="m", timestamp=datetime.now(UTC), body=BODY
        )
    finally:
        await sender.aclose()
    assert (result.status_code, result.delivered, result.refused) == (None, False, False)
    assert result.error == "no answer within 0.2 s" and result.duration_ms < 2_000


async def test_closed_port_is_a_connection_error(open_sender):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await open_sender.deliver(
        f"http://127.0.0.1:{port}/", secret=generate_secret(), message_id="m", timestamp=datetime.now(UTC), body=BODY
    )
    assert result.status_code is None and result.error.startswith("could not connect") and not result.refused


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/hooks",
        "http://localhost:{port}/hooks",
        "http://[::1]:{port}/hooks",
        "http://[::ffff:127.0.0.1]:{port}/hooks",
        "http://10.0.0.1/hooks",
        "http://192.168.1.20/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hooks",
        "http://0.0.0.0:{port}/",
    ],
)
async def test_private_targets_are_refused_before_anything_is_sent(guarded_sender, receiver, target):
    port = receiver.url.rsplit(":", 1)[1]
    result = await guarded_sender.deliver(
        target.format(port=port), secret=generate_secret(), message_id="m", timestamp=datetime.now(UTC), body=BODY
    )
    assert (result.refused, result.status_code, result.delivered) == (True, None, False)
    assert "not a public address" in result.error
    assert receiver.received == []


async def test_names_are_judged_by_the_address_connected_to(receiver):
    port = receiver.url.rsplit(":", 1)[1]
    hosts = HostsFile({"hooks.acme.test": ["127.0.0.1"], "mixed.acme.test": ["93.184.216.34", "127.0.0.1"]})
    sender = WebhookSender(timeout=2, resolver=hosts)
    try:
        for name in ("hooks.acme.test", "mixed.acme.test"):
            result = await sender.deliver(
                f"http://{name}:{port}/",
                secret=generate_secret(),
                message_id="m",
                timestamp=datetime.now(UTC),
                body=BODY,
            )
            assert result.refused and "resolves to 127.0.0.1" in result.error
    finally:
        await sender.aclose()
    # one lookup per delivery, the one the connection uses: no earlier check a rebinding name could pass
    assert hosts.asked == ["hooks.acme.test", "mixed.acme.test"]
    assert receiver.received == []


async def test_allowed_private_targets_use_the_same_lookup(receiver):
    port = receiver.url.rsplit(":", 1)[1]
    hosts = HostsFile({"hooks.acme.test": ["127.0.0.1"]})
    sender = WebhookSender(timeout=2, resolver=hosts, allow_private_targets=True)
    try:
        result = await sender.deliver(
            f"http://hooks.acme.test:{port}/",
            secret=generate_secret(),
            message_id="m",
            timestamp=datetime.now(UTC),
            body=BODY,
        )
    finally:
        await sender.aclose()
    assert result.delivered and (await receiver.wait_for()).header("host") == f"hooks.acme.test:{port}"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::1", False),
        ("203.0.113.9", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.acme.test/", "https:// or http://"),
        ("https://", "no host"),
        ("https://hooks.acme.test:99999/", "not a URL"),
        ("hooks.acme.test/path", "https:// or http://"),
    ],
)
def test_bad_urls_are_refused(url, problem):
    assert problem in (check_target(url, allow_private_targets=True) or "")


def test_public_names_pass_the_static_check():
    assert check_target("https://hooks.acme.test/billing", allow_private_targets=False) is None
    assert check_target("https://8.8.8.8/", allow_private_targets=False) is None
