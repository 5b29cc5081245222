"""POST /webhooks/stripe/{organizationId} and /webhooks/paypal/{organizationId}: verified before anything acts.

400 when the proof does not hold (Stripe: the signature, its age (300 s) or the body; PayPal:
`verify-webhook-signature` did not answer SUCCESS, or the transmission is older than 300 s),
404 for an organization without the provider, 503 when the provider could not be asked (it
sends the event again), 200 once handled (a replayed event id is answered 200 and changes nothing).
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db.session import Database
from domain.payments import PaymentProvider
from integrations.payments.base import ProviderError, WebhookRejected
from integrations.payments.config import PaymentConfig
from services import payments, provider_webhooks

MAX_BODY_BYTES = 1024 * 1024  # Stripe's and PayPal's events are a few kB


def provider_webhook_endpoint(db: Database, config: PaymentConfig, provider: PaymentProvider):  # type: ignore[no-untyped-def]
    async def receive(request: Request) -> Response:
        try:
            organization_id = uuid.UUID(request.path_params["organization_id"])
        except ValueError:
            return JSONResponse({"error": "NOT_FOUND", "message": "no such organization"}, status_code=404)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse({"error": "PAYLOAD_TOO_LARGE", "message": "the body is too large"}, 413)
        try:
            outcome = await provider_webhooks.handle_webhook(
                db, config, provider, organization_id, body, request.headers
            )
        except payments.UnknownWebhookTarget as exc:
            return JSONResponse({"error": "NOT_FOUND", "message": str(exc)}, status_code=404)
        except WebhookRejected as exc:
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=400)
        except payments.TooEarly as exc:  # before the charge's own answer: the provider sends the event again
            return JSONResponse({"error": "TOO_EARLY", "message": f"{exc}: send the event again later"}, 409)
        except ProviderError as exc:  # the provider could not verify or answer now: it sends the event again
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=503)
        return JSONResponse({"received": True, "outcome": outcome.value})

    return receive


def stripe_webhook_endpoint(db: Database, config: PaymentConfig):  # type: ignore[no-untyped-def]
    return provider_webhook_endpoint(db, config, PaymentProvider.STRIPE)


def paypal_webhook_endpoint(db: Database, config: PaymentConfig):  # type: ignore[no-untyped-def]
    return provider_webhook_endpoint(db, config, PaymentProvider.PAYPAL)
