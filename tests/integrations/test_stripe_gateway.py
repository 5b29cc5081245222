"""The Stripe gateway, with the official SDK talking HTTP to the fake Stripe; webhooks come back signed."""

from __future__ import annotations

import asyncio
import json

import pytest
import stripe

from integrations.payments.base import (
    ChargeRequest,
    ChargeStatus,
    PaymentGateway,
    ProviderConfigurationError,
    ProviderEventType,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
    WebhookRejected,
)
from integrations.payments.stripe import StripeGateway, is_test_key
from tests.fakes.receiver import Received, WebhookReceiver
from tests.fakes.server import Fault
from tests.fakes.stripe import FakeStripe, sign_payload

KEY = "sk_test_valueverse_acme"


@pytest.fixture
async def endpoint_secret(fake_stripe: FakeStripe, receiver: WebhookReceiver, stripe_http) -> str:
    """A webhook endpoint registered the way an operator would, through the SDK."""
    client = stripe.StripeClient(KEY, base_addresses={"api": fake_stripe.base_url}, http_client=stripe_http)
    endpoint = await client.v1.webhook_endpoints.create_async(
        {"url": f"{receiver.url}/stripe", "enabled_events": ["*"]}
    )
    return endpoint.secret or ""


@pytest.fixture
async def gateway(fake_stripe: FakeStripe, endpoint_secret: str, stripe_http):
    gateway = StripeGateway(
        KEY,
        endpoint_secret,
        api_base=fake_stripe.base_url,
        test_mode=True,
        max_network_retries=0,
        http_client=stripe_http,
    )
    yield gateway
    await gateway.aclose()


async def customer_with(gateway: StripeGateway, test_method: str, key: str = "cus-1"):
    customer = await gateway.create_customer(email="ap@acme.test", name="Acme", idempotency_key=key)
    method = await gateway.attach_payment_method(customer_id=customer.id, payment_method_id=test_method)
    return customer, method


def charge_of(customer, method, amount=1_000, key="invoice-1:attempt-1", **extra) -> ChargeRequest:
    return ChargeRequest(customer.id, method.id, amount, "USD", key, metadata={"invoice_id": "inv_1"}, **extra)


async def event_of(receiver: WebhookReceiver, kind: str) -> Received:
    return await receiver.wait_for(lambda r: json.loads(r.body)["type"] == kind)


def test_gateway_satisfies_the_provider_interface(gateway):
    assert isinstance(gateway, PaymentGateway)


def test_test_keys_are_told_from_live_keys():
    assert is_test_key("sk_test_123") and is_test_key("rk_test_123")
    assert not is_test_key("sk_live_123") and not is_test_key("pk_test_123")
    with pytest.raises(ProviderConfigurationError) as raised:
        StripeGateway("sk_live_123", None, test_mode=True)
    assert raised.value.code == "LIVE_KEY_IN_TEST_MODE"
    with pytest.raises(ProviderConfigurationError):
        StripeGateway("pk_test_123", None)


async def test_customer_gets_a_default_card_with_brand_last4_and_expiry(gateway, fake_stripe):
    customer, method = await customer_with(gateway, "pm_card_mastercard")
    assert (method.kind, method.brand, method.last4, method.expires_at) == ("card", "mastercard", "4444", "2034-12")
    assert method.id.startswith("pm_") and method.id != "pm_card_mastercard"
    stored = fake_stripe.account(KEY).objects[customer.id]
    assert stored["invoice_settings"]["default_payment_method"] == method.id
    assert (await gateway.get_payment_method(method.id)) == method


async def test_replayed_customer_creation_creates_one_customer(gateway, fake_stripe):
    first = await gateway.create_customer(email="a@acme.test", name="A", idempotency_key="customer:42")
    again = await gateway.create_customer(email="a@acme.test", name="A", idempotency_key="customer:42")
    assert first == again
    customers = [o for o in fake_stripe.account(KEY).objects.values() if o["object"] == "customer"]
    assert len(customers) == 1


async def test_card_charge_succeeds_and_a_replayed_key_charges_once(gateway, fake_stripe):
    customer, method = await customer_with(gateway, "pm_card_visa")
    first = await gateway.charge(charge_of(customer, method))
    again = await gateway.charge(charge_of(customer, method))
    assert first.status is ChargeStatus.SUCCEEDED and first.payment_id and first.charge_id
    assert again == first
    assert len(fake_stripe.charges_of(KEY)) == 1
    sent = [r for r in fake_stripe.requests if r.path == "/v1/payment_intents"]
    assert [(r.idempotency_key, r.replayed) for r in sent] == [
        ("invoice-1:attempt-1", False),
        ("invoice-1:attempt-1", True),
    ]


async def test_same_key_with_other_parameters_is_refused(gateway, fake_stripe):
    customer, method = await customer_with(gateway, "pm_card_visa")
    await gateway.charge(charge_of(customer, method, amount=1_000))
    conflict = await gateway.charge(charge_of(customer, method, amount=2_000))
    assert (conflict.status, conflict.error_code, conflict.retryable) == (
        ChargeStatus.FAILED,
        "IDEMPOTENCY_CONFLICT",
        False,
    )
    assert len(fake_stripe.charges_of(KEY)) == 1


@pytest.mark.parametrize(
    ("test_method", "decline_code", "hard"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", False),
        ("pm_card_chargeDeclined", "generic_decline", False),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", False),
        ("pm_card_chargeDeclinedStolenCard", "stolen_card", True),
        ("pm_card_chargeDeclinedLostCard", "lost_card", True),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", True),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", True),
    ],
)
async def test_declines_carry_their_code_and_hardness(gateway, test_method, decline_code, hard):
    customer, method = await customer_with(gateway, test_method)
    result = await gateway.charge(charge_of(customer, method))
    assert (result.status, result.decline_code, result.hard_decline, result.retryable) == (
        ChargeStatus.FAILED,
        decline_code,
        hard,
        False,
    )
    assert result.declined and result.payment_id and result.message


async def test_card_error_is_shaped_as_stripe_shapes_it(fake_stripe, http):
    answer = await http.post(
        f"{fake_stripe.base_url}/v1/payment_intents",
        headers={"Authorization": f"Bearer {KEY}"},
        data={
            "amount": "500",
            "currency": "usd",
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            "payment_method_types[0]": "card",
            "confirm": "true",
            "off_session": "true",
        },
    )
    assert answer.status_code == 402
    error = answer.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["last_payment_error"]["decline_code"] == "insufficient_funds"
    assert error["charge"].startswith("ch_")


async def test_decline_webhook_reports_the_failure(gateway, receiver):
    customer, method = await customer_with(gateway, "pm_card_chargeDeclinedStolenCard")
    await gateway.charge(charge_of(customer, method))
    delivery = await event_of(receiver, "payment_intent.payment_failed")
    event = await gateway.parse_webhook(delivery.body, delivery.headers)
    assert (event.type, event.decline_code, event.hard_decline) == (
        ProviderEventType.PAYMENT_FAILED,
        "stolen_card",
        True,
    )
    assert event.metadata == {"invoice_id": "inv_1"}


async def test_3d_secure_requires_action_then_succeeds_by_webhook(gateway, fake_stripe, receiver, http):
    customer, method = await customer_with(gateway, "pm_card_authenticationRequired")
    result = await gateway.charge(charge_of(customer, method, return_url="https://billing.test/pay/inv_1"))
    assert result.status is ChargeStatus.REQUIRES_ACTION and result.decline_code == "authentication_required"
    assert result.action_url == f"{fake_stripe.base_url}/3ds/{result.payment_id}"
    page = await http.get(result.action_url)
    assert page.status_code == 200 and "Authenticate" in page.text
    done = await http.post(result.action_url, data={"outcome": "succeed"})
    assert done.status_code == 303
    assert done.headers["location"].startswith("https://billing.test/pay/inv_1?payment_intent=")
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "payment_intent.succeeded")))
    assert (event.type, event.payment_id, event.amount, event.currency) == (
        ProviderEventType.PAYMENT_SUCCEEDED,
        result.payment_id,
        1_000,
        "USD",
    )
    assert len([c for c in fake_stripe.charges_of(KEY) if c["status"] == "succeeded"]) == 1


async def test_3d_secure_without_return_url_still_asks_for_action(gateway):
    customer, method = await customer_with(gateway, "pm_card_authenticationRequired")
    result = await gateway.charge(charge_of(customer, method))
    assert (result.status, result.action_url, result.hard_decline) == (ChargeStatus.REQUIRES_ACTION, None, True)


async def test_ach_debit_processes_then_settles_by_webhook(gateway, fake_stripe, receiver, http):
    customer, method = await customer_with(gateway, "pm_usBankAccount_success")
    assert (method.kind, method.brand, method.last4) == ("us_bank_account", "STRIPE TEST BANK", "6789")
    result = await gateway.charge(charge_of(customer, method, amount=25_000))
    assert result.status is ChargeStatus.PROCESSING
    processing = await gateway.parse_webhook(*_parts(await event_of(receiver, "payment_intent.processing")))
    assert processing.type is ProviderEventType.PAYMENT_PROCESSING
    settled = await http.post(f"{fake_stripe.base_url}/_control/payment_intents/{result.payment_id}/settle", json={})
    assert settled.json()["status"] == "succeeded"
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "payment_intent.succeeded")))
    assert (event.type, event.amount, event.charge_id) == (
        ProviderEventType.PAYMENT_SUCCEEDED,
        25_000,
        result.charge_id,
    )


async def test_ach_debit_that_bounces_fails_by_webhook(gateway, fake_stripe, receiver):
    customer, method = await customer_with(gateway, "pm_usBankAccount_insufficientFunds")
    result = await gateway.charge(charge_of(customer, method))
    assert result.status is ChargeStatus.PROCESSING
    fake_stripe.settle(result.payment_id)
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "payment_intent.payment_failed")))
    assert (event.type, event.decline_code, event.hard_decline) == (
        ProviderEventType.PAYMENT_FAILED,
        "insufficient_funds",
        False,
    )
    closed = await customer_with(gateway, "pm_usBankAccount_accountClosed", key="cus-2")
    second = await gateway.charge(charge_of(*closed, key="invoice-2:attempt-1"))
    fake_stripe.settle(second.payment_id)
    await fake_stripe.drain()
    failures = [json.loads(r.body) for r in receiver.received if json.loads(r.body)["type"].endswith("payment_failed")]
    assert failures[-1]["data"]["object"]["last_payment_error"]["code"] == "account_closed"


async def test_ach_return_days_later_arrives_as_a_returned_payment(gateway, fake_stripe, receiver, http):
    customer, method = await customer_with(gateway, "pm_usBankAccount_success")
    result = await gateway.charge(charge_of(customer, method))
    fake_stripe.settle(result.payment_id)
    answer = await http.post(
        f"{fake_stripe.base_url}/_control/payment_intents/{result.payment_id}/return", json={"code": "R01"}
    )
    assert (answer.json()["reason"], answer.json()["status"]) == ("insufficient_funds", "lost")
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "charge.dispute.created")))
    assert (event.type, event.payment_id, event.charge_id, event.amount, event.decline_code) == (
        ProviderEventType.PAYMENT_RETURNED,
        result.payment_id,
        result.charge_id,
        1_000,
        "insufficient_funds",
    )


async def test_partial_refunds_are_bounded_by_the_charge(gateway, receiver):
    customer, method = await customer_with(gateway, "pm_card_visa")
    paid = await gateway.charge(charge_of(customer, method, amount=1_000))
    partial = await gateway.refund(
        RefundRequest(paid.charge_id, 300, "USD", "refund-1", reason="requested_by_customer")
    )
    assert (partial.status, partial.amount) == (RefundStatus.SUCCEEDED, 300)
    assert await gateway.refund(RefundRequest(paid.charge_id, 300, "USD", "refund-1")) != partial  # other params
    replay = await gateway.refund(RefundRequest(paid.charge_id, 300, "USD", "refund-1", reason="requested_by_customer"))
    assert replay == partial
    too_much = await gateway.refund(RefundRequest(paid.charge_id, 800, "USD", "refund-2"))
    assert (too_much.status, too_much.code, too_much.retryable) == (RefundStatus.FAILED, "amount_too_large", False)
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "charge.refunded")))
    assert (event.type, event.charge_id, event.amount) == (ProviderEventType.PAYMENT_REFUNDED, paid.charge_id, 300)


async def test_setup_session_saves_a_method_on_the_hosted_page(gateway, fake_stripe, receiver, http):
    customer = await gateway.create_customer(email=None, name=None, idempotency_key="cus-setup")
    session = await gateway.create_setup_session(
        customer_id=customer.id, return_url="https://billing.test/done", cancel_url=None, idempotency_key="setup-1"
    )
    assert session.url == f"{fake_stripe.base_url}/checkout/{session.id}"
    answer = await http.post(
        f"{fake_stripe.base_url}/_control/checkout/sessions/{session.id}/complete",
        json={"payment_method": "pm_card_visa"},
    )
    assert answer.json()["status"] == "complete"
    event = await gateway.parse_webhook(*_parts(await event_of(receiver, "checkout.session.completed")))
    assert (event.type, event.customer_id, event.setup_reference) == (
        ProviderEventType.SETUP_COMPLETED,
        customer.id,
        session.id,
    )
    method = await gateway.finish_setup(customer_id=customer.id, setup_reference=event.setup_reference)
    assert (method.brand, method.last4, method.customer_id) == ("visa", "4242", customer.id)


async def test_forged_stale_and_foreign_webhooks_are_rejected(gateway, fake_stripe, receiver, endpoint_secret):
    customer, method = await customer_with(gateway, "pm_card_visa")
    await gateway.charge(charge_of(customer, method))
    genuine = await event_of(receiver, "payment_intent.succeeded")
    event_id = json.loads(genuine.body)["id"]
    assert (await gateway.parse_webhook(*_parts(genuine))).id == event_id

    tampered = genuine.body.replace(b'"amount": 1000', b'"amount": 1')
    with pytest.raises(WebhookRejected):
        await gateway.parse_webhook(tampered, genuine.headers)
    with pytest.raises(WebhookRejected):
        await gateway.parse_webhook(genuine.body, {"Stripe-Signature": sign_payload(genuine.body, "whsec_other")})
    with pytest.raises(WebhookRejected):
        await gateway.parse_webhook(genuine.body, {})

    count = len(receiver.received)
    fake_stripe.resend(event_id, timestamp_offset=-600)
    await fake_stripe.drain()
    stale = receiver.received[count]
    with pytest.raises(WebhookRejected):
        await gateway.parse_webhook(stale.body, stale.headers)
    fresh = {"Stripe-Signature": sign_payload(b"not json", endpoint_secret)}
    with pytest.raises(WebhookRejected) as raised:
        await gateway.parse_webhook(b"not json", fresh)
    assert raised.value.code == "WEBHOOK_MALFORMED"


async def test_unreachable_stripe_is_retryable_and_never_a_decline(gateway, fake_stripe):
    customer, method = await customer_with(gateway, "pm_card_visa")
    fake_stripe.faults.add(Fault(kind="error", status=500, path_prefix="/v1/payment_intents"))
    outage = await gateway.charge(charge_of(customer, method))
    fake_stripe.faults.add(Fault(kind="drop", path_prefix="/v1/payment_intents"))
    dropped = await gateway.charge(charge_of(customer, method))
    for result in (outage, dropped):
        assert (result.status, result.retryable, result.decline_code, result.error_code) == (
            ChargeStatus.FAILED,
            True,
            None,
            "PROVIDER_UNAVAILABLE",
        )
    assert fake_stripe.charges_of(KEY) == []
    fake_stripe.faults.add(Fault(kind="error", status=503, path_prefix="/v1/customers"))
    with pytest.raises(ProviderUnavailable):
        await gateway.create_customer(email=None, name=None, idempotency_key="cus-down")


async def test_a_response_lost_after_charging_is_replayed_not_charged_again(gateway, fake_stripe):
    customer, method = await customer_with(gateway, "pm_card_visa")
    fake_stripe.faults.add(Fault(kind="drop_after", path_prefix="/v1/payment_intents"))
    lost = await gateway.charge(charge_of(customer, method))
    assert lost.retryable
    retried = await gateway.charge(charge_of(customer, method))
    assert retried.status is ChargeStatus.SUCCEEDED
    assert [c["payment_intent"] for c in fake_stripe.charges_of(KEY)] == [retried.payment_id]


async def test_sdk_network_retries_reuse_the_idempotency_key(fake_stripe, endpoint_secret, stripe_http):
    """The SDK retries a dropped answer itself (after half a second), with the same key: Stripe replays it."""
    gateway = StripeGateway(
        KEY, endpoint_secret, api_base=fake_stripe.base_url, max_network_retries=1, http_client=stripe_http
    )
    try:
        customer, method = await customer_with(gateway, "pm_card_visa")
        fake_stripe.faults.add(Fault(kind="drop_after", path_prefix="/v1/payment_intents"))
        result = await gateway.charge(charge_of(customer, method))
    finally:
        await gateway.aclose()
    assert result.status is ChargeStatus.SUCCEEDED
    assert len(fake_stripe.charges_of(KEY)) == 1
    sent = [r for r in fake_stripe.requests if r.path == "/v1/payment_intents"]
    assert [r.idempotency_key for r in sent] == ["invoice-1:attempt-1"] * 2 and sent[1].replayed


async def test_a_bad_key_is_a_configuration_error(fake_stripe, stripe_http):
    gateway = StripeGateway(
        "sk_live_unknown", None, api_base=fake_stripe.base_url, max_network_retries=0, http_client=stripe_http
    )
    try:
        with pytest.raises(ProviderConfigurationError) as raised:
            await gateway.create_customer(email=None, name=None, idempotency_key="k")
    finally:
        await gateway.aclose()
    assert raised.value.code == "PROVIDER_AUTHENTICATION"


async def test_unknown_payment_method_is_refused_with_stripes_code(gateway):
    customer = await gateway.create_customer(email=None, name=None, idempotency_key="cus-x")
    with pytest.raises(Exception) as raised:
        await gateway.attach_payment_method(customer_id=customer.id, payment_method_id="pm_does_not_exist")
    assert getattr(raised.value, "code", None) == "RESOURCE_MISSING"
    assert not getattr(raised.value, "retryable", True)


async def until(condition, within: float = 5.0) -> None:
    """Poll `condition` until it holds, for at most `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


def _parts(received: Received) -> tuple[bytes, dict[str, str]]:
    return received.body, received.headers


async def test_confirming_without_a_return_url_needs_redirects_ruled_out(fake_stripe, stripe_http):
    """As Stripe: automatic payment methods may redirect, so confirming needs a return_url or allow_redirects=never."""
    client = stripe.StripeClient(KEY, base_addresses={"api": fake_stripe.base_url}, http_client=stripe_http)
    params = {"amount": 500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True, "off_session": True}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async(params)
    assert raised.value.param == "return_url"
    never = {"automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}
    assert (await client.v1.payment_intents.create_async({**params, **never})).status == "succeeded"


async def test_a_concurrent_request_with_the_same_key_is_told_to_wait(gateway, fake_stripe):
    customer, method = await customer_with(gateway, "pm_card_visa")
    fake_stripe.faults.add(Fault(kind="delay", seconds=0.3, path_prefix="/v1/payment_intents"))
    first = asyncio.create_task(gateway.charge(charge_of(customer, method)))
    await until(lambda: any(r.path == "/v1/payment_intents" for r in fake_stripe.requests))
    second = await gateway.charge(charge_of(customer, method))
    assert (second.status, second.retryable) == (ChargeStatus.FAILED, True)  # 409 idempotency_key_in_use
    assert (await first).status is ChargeStatus.SUCCEEDED
    assert (await gateway.charge(charge_of(customer, method))) == await first
    assert len(fake_stripe.charges_of(KEY)) == 1
