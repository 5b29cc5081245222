"""Payment provider credentials sealed at rest: the one place that seals and opens them (AES-GCM through
`integrations/secrets.py`, bound to the organization and the provider, so a sealed value copied to another row
does not open)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from db.models import PaymentProviderConfig
from integrations.payments.config import PaymentConfig


def _context(organization_id: uuid.UUID, provider: str) -> str:
    return f"payment_provider_config:{organization_id}:{provider}"


def seal_credentials(config: PaymentConfig, organization_id: uuid.UUID, provider: str, secrets: dict[str, Any]) -> str:
    return config.box.seal(json.dumps(secrets), context=_context(organization_id, provider))


def open_credentials(config: PaymentConfig, row: PaymentProviderConfig) -> dict[str, Any]:
    return json.loads(config.box.open(row.credentials, context=_context(row.organization_id, row.provider)))
