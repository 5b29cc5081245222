"""POST /webhooks/stripe/{organizationId}: provider webhooks, verified before anything acts on them.

400 when the signature, its age (300 s) or the body do not hold, 404 for an organization without
Stripe, 200 once handled (a replayed event id is answered 200 and changes nothing).
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db.session import Database
from integrations.payments.base import WebhookRejected
from integrations.payments.config import PaymentConfig
from services import payments

MAX_BODY_BYTES = 1024 * 1024  # Stripe's events are a few kB


def stripe_webhook_endpoint(db: Database, config: PaymentConfig):  # type: ignore[no-untyped-def]
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
            outcome = await payments.handle_stripe_webhook(db, config, organization_id, body, request.headers)
        except payments.UnknownWebhookTarget as exc:
            return JSONResponse({"error": "NOT_FOUND", "message": str(exc)}, status_code=404)
        except WebhookRejected as exc:
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=400)
        return JSONResponse({"received": True, "outcome": outcome.value})

    return receive
