"""Outbound webhooks: telling an organization's endpoints what changed.

What comes here: endpoints per organization (URL, secret, the events they want), one message per
committed change (invoice created, finalized, paid, voided; payment succeeded or failed; …)
written to the outbox in the change's transaction, and its delivery by a worker job with
backoff, signed and sent by `integrations/webhooks.py` (Standard Webhooks, no private targets).
A message id is deterministic, so a redelivery is recognisable by the receiver.

For now: the id and the body of a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson


def message_id(event_type: str, object_id: object, version: int | str) -> str:
    """One message per version of an object's event: `msg_<type>_<object>_<version>`."""
    return f"msg_{event_type.replace('.', '_')}_{object_id}_{version}"


def message_body(event_type: str, data: Mapping[str, Any], *, at: datetime) -> bytes:
    """`{"type", "timestamp", "data"}` as JSON (decimals and ids as strings, as the API shows them)."""
    if at.tzinfo is None:
        raise ValueError("the timestamp must carry a time zone")
    return orjson.dumps({"type": event_type, "timestamp": at.astimezone(UTC).isoformat(), "data": data}, default=str)
