"""The admin portal's list of webhook event types (frontend/src/lib/webhooks.ts) is the API's, in its order."""

from __future__ import annotations

import re
from pathlib import Path

from services.webhook_events import EVENT_TYPES

LIST = Path(__file__).resolve().parents[1] / "frontend" / "src" / "lib" / "webhooks.ts"


def test_the_admin_portal_offers_exactly_the_event_types_the_api_accepts() -> None:
    source = LIST.read_text()
    body = source.split("WEBHOOK_EVENT_TYPES: string[] = [", 1)[1].split("];", 1)[0]
    assert tuple(re.findall(r'"([a-z_.]+)"', body)) == EVENT_TYPES
