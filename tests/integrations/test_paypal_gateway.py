"""The PayPal gateway over httpx against the fake PayPal: OAuth, vault, orders, refunds, verified webhooks."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from integrations.payments.base import (
    ChargeRequest,
    ChargeStatus,
    PaymentGateway,
    ProviderConfigurationError,
    ProviderError,
    ProviderEventType,
    RefundRequest,
    RefundStatus,
    WebhookRejected,
)
from integrations.payments.paypal import LIVE_API_BASE, PayPalGateway, is_sandbox
from tests.fakes.paypal import FakePayPal
from tests.fakes.receiver import Received, WebhookReceiver
from tests.fakes.server import Fault

CLIENT_ID, SECRET = "AcmeClientId", "AcmeSecret"


@pytest.fixture
async def webhook_id(fake_paypal: FakePayPal, receiver: WebhookReceiver, http) -> str:
    """A webhook registered the way an operator would, through PayPal's REST API."""
    base = fake_paypal.base_url
    token = await http.post(
        f"{base}/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, SECRET)
    )
    answer = await http.post(
        f"{base}/v1/notifications/webhooks",
        json={"url": f"{receiver.url}/paypal", "event_types": [{"name": "*"}]},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    return answer.json()["id"]


@pytest.fixture
async def gateway(fake_paypal: FakePayPal, webhook_id: str, http):
    gateway = PayPalGateway(CLIENT_ID, SECRET, webhook_id, api_base=fake_paypal.base_url, test_mode=True, http=http)
    yield gateway
    await gateway.aclose()


def charge_of(
    token: str, amount: int = 1_000, key: str = "invoice-1:attempt-1", currency: str = "USD"
) -> ChargeRequest:
    return ChargeRequest("vv_customer", token, amount, currency, key, metadata={"invoice_id": "inv_1"})


async def event_of(receiver: WebhookReceiver, kind: str) -> Received:
    return await receiver.wait_for(lambda r: json.loads(r.body)["event_type"] == kind)


def test_gateway_satisfies_the_provider_interface(gateway):
    assert isinstance(gateway, PaymentGateway)


def test_sandbox_is_test_mode():
    assert is_sandbox("https://api-m.sandbox.paypal.com") and not is_sandbox(LIVE_API_BASE)
    with pytest.raises(ProviderConfigurationError):
        PayPalGateway(CLIENT_ID, SECRET, None, api_base=LIVE_API_BASE, test_mode=True)


async def test_access_token_is_cached_and_renewed_when_paypal_says_it_expired(gateway, fake_paypal):
    token = fake_paypal.vault(CLIENT_ID)
    await gateway.get_payment_method(token)
    await gateway.get_payment_method(token)
    assert len([r for r in fake_paypal.requests if r.path == "/v1/oauth2/token"]) == 2  # fixture's + gateway's
    fake_paypal.expire_tokens()
    method = await gateway.get_payment_method(token)
    assert method.id == token
    statuses = [r.status for r in fake_paypal.requests if r.path.startswith("/v3/vault/payment-tokens/")]
    assert statuses == [200, 200, 401, 200]
    assert len([r for r in fake_paypal.requests if r.path == "/v1/oauth2/token"]) == 3


async def test_wrong_client_secret_is_a_configuration_error(fake_paypal, gateway, http):
    await gateway.create_customer(email=None, name=None, idempotency_key="x")
    fake_paypal.vault(CLIENT_ID)
    wrong = PayPalGateway(CLIENT_ID, "not-the-secret", None, api_base=fake_paypal.base_url, http=http)
    try:
        with pytest.raises(ProviderConfigurationError) as raised:
            await wrong.get_payment_method("anything")
    finally:
        await wrong.aclose()
    assert raised.value.code == "PROVIDER_AUTHENTICATION"


async def test_payer_saves_paypal_on_the_hosted_page(gateway, fake_paypal, http):
    customer = await gateway.create_customer(email="ap@acme.test", name="Acme", idempotency_key="customer:1")
    assert customer == await gateway.create_customer(email=None, name=None, idempotency_key="customer:1")
    session = await gateway.create_setup_session(
        customer_id=customer.id, return_url="https://billing.test/paypal/return", cancel_url=None, idempotency_key="s1"
    )
    assert session.url.startswith(f"{fake_paypal.base_url}/agreements/approve?approval_session_id=")
    with pytest.raises(ProviderError) as early:
        await gateway.finish_setup(customer_id=customer.id, setup_reference=session.id)
    assert early.value.code == "SETUP_TOKEN_NOT_APPROVED"
    assert (await http.get(session.url)).status_code == 200
    back = await http.post(
        f"{fake_paypal.base_url}/agreements/approve",
        data={"approval_session_id": session.id, "email": "payer@acme.test"},
    )
    assert back.status_code == 303
    returned = httpx.URL(back.headers["location"])
    assert returned.path == "/paypal/return" and returned.params["approval_token_id"] == session.id
    method = await gateway.finish_setup(customer_id=customer.id, setup_reference=returned.params["approval_token_id"])
    assert (method.kind, method.brand, method.email) == ("paypal", "paypal", "payer@acme.test")
    assert method == await gateway.finish_setup(customer_id=customer.id, setup_reference=session.id)
    assert await gateway.attach_payment_method(customer_id=customer.id, payment_method_id=method.id) == method


async def test_vaulted_charge_is_captured_and_reported_by_a_verified_webhook(gateway, fake_paypal, receiver):
    token = fake_paypal.vault(CLIENT_ID)
    result = await gateway.charge(charge_of(token, 1_050))
    assert result.status is ChargeStatus.SUCCEEDED and result.payment_id and result.charge_id
    capture = fake_paypal.captures_of(CLIENT_ID)[0]
    assert capture["amount"] == {"currency_code": "USD", "value": "10.50"}
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "PAYMENT.CAPTURE.COMPLETED")))
    assert (event.type, event.payment_id, event.charge_id, event.amount, event.currency) == (
        ProviderEventType.PAYMENT_SUCCEEDED,
        result.payment_id,
        result.charge_id,
        1_050,
        "USD",
    )
    assert event.metadata == {"invoice_id": "inv_1"}


async def test_repeated_request_id_captures_once(gateway, fake_paypal):
    token = fake_paypal.vault(CLIENT_ID)
    first = await gateway.charge(charge_of(token))
    again = await gateway.charge(charge_of(token))
    assert again == first and len(fake_paypal.captures_of(CLIENT_ID)) == 1
    orders = [r for r in fake_paypal.requests if r.path == "/v2/checkout/orders"]
    assert [(r.idempotency_key, r.replayed) for r in orders] == [
        ("invoice-1:attempt-1", False),
        ("invoice-1:attempt-1", True),
    ]


async def test_order_left_approved_is_captured_under_a_derived_request_id(gateway, fake_paypal):
    fake_paypal.single_step = False
    token = fake_paypal.vault(CLIENT_ID)
    result = await gateway.charge(charge_of(token))
    assert result.status is ChargeStatus.SUCCEEDED and result.charge_id
    captures = [r for r in fake_paypal.requests if r.path.endswith("/capture")]
    assert [r.idempotency_key for r in captures] == ["invoice-1:attempt-1:capture"]


async def test_amounts_follow_the_currency_exponent(gateway, fake_paypal):
    token = fake_paypal.vault(CLIENT_ID)
    await gateway.charge(charge_of(token, 1_500, currency="JPY"))
    assert fake_paypal.captures_of(CLIENT_ID)[0]["amount"] == {"currency_code": "JPY", "value": "1500"}


@pytest.mark.parametrize(("issue", "hard"), [("INSTRUMENT_DECLINED", False), ("PAYER_CANNOT_PAY", True)])
async def test_declines_carry_paypals_issue_and_hardness(gateway, fake_paypal, issue, hard):
    token = fake_paypal.vault(CLIENT_ID, decline=issue)
    result = await gateway.charge(charge_of(token))
    assert (result.status, result.decline_code, result.hard_decline, result.retryable) == (
        ChargeStatus.FAILED,
        issue,
        hard,
        False,
    )
    assert fake_paypal.captures_of(CLIENT_ID) == []


async def test_pending_capture_settles_or_is_denied_by_webhook(gateway, fake_paypal, receiver):
    token = fake_paypal.vault(CLIENT_ID, pending=True)
    cleared = await gateway.charge(charge_of(token))
    denied = await gateway.charge(charge_of(token, key="invoice-2:attempt-1"))
    assert cleared.status is ChargeStatus.PROCESSING and denied.status is ChargeStatus.PROCESSING
    fake_paypal.settle(cleared.charge_id)
    fake_paypal.settle(denied.charge_id, "deny")
    succeeded = await gateway.parse_webhook(*_parts(await event_of(receiver, "PAYMENT.CAPTURE.COMPLETED")))
    failed = await gateway.parse_webhook(*_parts(await event_of(receiver, "PAYMENT.CAPTURE.DENIED")))
    assert (succeeded.type, succeeded.charge_id) == (ProviderEventType.PAYMENT_SUCCEEDED, cleared.charge_id)
    assert (failed.type, failed.charge_id, failed.decline_code) == (
        ProviderEventType.PAYMENT_FAILED,
        denied.charge_id,
        "DECLINED",
    )


async def test_partial_refunds_are_bounded_by_the_capture(gateway, fake_paypal, receiver):
    token = fake_paypal.vault(CLIENT_ID)
    paid = await gateway.charge(charge_of(token, 1_000))
    partial = await gateway.refund(RefundRequest(paid.charge_id, 300, "USD", "refund-1", reason="goodwill"))
    assert (partial.status, partial.amount) == (RefundStatus.SUCCEEDED, 300)
    assert await gateway.refund(RefundRequest(paid.charge_id, 300, "USD", "refund-1", reason="goodwill")) == partial
    too_much = await gateway.refund(RefundRequest(paid.charge_id, 800, "USD", "refund-2"))
    assert (too_much.status, too_much.code, too_much.retryable) == (
        RefundStatus.FAILED,
        "REFUND_AMOUNT_EXCEEDED",
        False,
    )
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "PAYMENT.CAPTURE.REFUNDED")))
    assert (event.type, event.charge_id, event.amount) == (ProviderEventType.PAYMENT_REFUNDED, paid.charge_id, 300)


async def test_reversal_arrives_as_a_returned_payment(gateway, fake_paypal, receiver):
    paid = await gateway.charge(charge_of(fake_paypal.vault(CLIENT_ID)))
    fake_paypal.reverse(paid.charge_id)
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "PAYMENT.CAPTURE.REVERSED")))
    assert (event.type, event.charge_id, event.amount) == (ProviderEventType.PAYMENT_RETURNED, paid.charge_id, 1_000)


async def test_forged_stale_and_foreign_webhooks_are_rejected(gateway, fake_paypal, receiver, http):
    await gateway.charge(charge_of(fake_paypal.vault(CLIENT_ID)))
    genuine = await event_of(receiver, "PAYMENT.CAPTURE.COMPLETED")
    assert (await gateway.parse_webhook(*_parts(genuine))).type is ProviderEventType.PAYMENT_SUCCEEDED
    tampered = genuine.body.replace(b'"value": "10.00"', b'"value": "0.01"')
    assert tampered != genuine.body
    with pytest.raises(WebhookRejected):
        await gateway.parse_webhook(tampered, genuine.headers)
    with pytest.raises(WebhookRejected):
        await gateway.parse_webhook(genuine.body, {})
    with pytest.raises(WebhookRejected) as malformed:
        await gateway.parse_webhook(b"[]", genuine.headers)
    assert malformed.value.code == "WEBHOOK_MALFORMED"
    other = PayPalGateway(CLIENT_ID, SECRET, "SOME-OTHER-WEBHOOK", api_base=fake_paypal.base_url, http=http)
    try:
        with pytest.raises(WebhookRejected):
            await other.parse_webhook(*_parts(genuine))
    finally:
        await other.aclose()
    count = len(receiver.received)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake_paypal.resend(json.loads(genuine.body)["id"], transmitted_at=old)
    await fake_paypal.drain()
    with pytest.raises(WebhookRejected) as stale:
        await gateway.parse_webhook(*_parts(receiver.received[count]))
    assert stale.value.code == "WEBHOOK_STALE"


async def test_unreachable_paypal_is_retryable_and_a_lost_answer_is_replayed(gateway, fake_paypal):
    token = fake_paypal.vault(CLIENT_ID)
    await gateway.get_payment_method(token)  # holds a token already
    fake_paypal.faults.add(Fault(kind="error", status=503, path_prefix="/v2/checkout/orders"))
    outage = await gateway.charge(charge_of(token))
    fake_paypal.faults.add(Fault(kind="drop", path_prefix="/v2/checkout/orders"))
    dropped = await gateway.charge(charge_of(token))
    for result in (outage, dropped):
        assert (result.status, result.retryable, result.decline_code) == (ChargeStatus.FAILED, True, None)
    assert fake_paypal.captures_of(CLIENT_ID) == []
    fake_paypal.faults.add(Fault(kind="drop_after", path_prefix="/v2/checkout/orders"))
    lost = await gateway.charge(charge_of(token))
    assert lost.retryable and len(fake_paypal.captures_of(CLIENT_ID)) == 1
    retried = await gateway.charge(charge_of(token))
    assert retried.status is ChargeStatus.SUCCEEDED
    assert len(fake_paypal.captures_of(CLIENT_ID)) == 1


def _parts(received: Received) -> tuple[bytes, dict[str, str]]:
    return received.body, received.headers
