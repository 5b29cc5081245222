"""Posting usage to /v1/events as a high-volume sender does."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson


async def post_events(stack, token: str | None, body: Any, *, content_type: str = "application/json",
                      raw: bytes | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else orjson.dumps(body)
    async with aiohttp.ClientSession() as http, http.post(f"{stack.api_url}/v1/events", data=data,
                                                          headers=headers) as response:
        return response.status, await response.json(content_type=None)
