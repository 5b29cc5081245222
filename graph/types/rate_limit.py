from __future__ import annotations

import strawberry


@strawberry.type(description="The rate limit of each API key and each staff user of the organization (a token "
                             "bucket: `burst` requests at once, refilled at `requestsPerSecond`; 0: no limit).")
class RateLimit:
    requests_per_second: int
    burst: int
    is_default: bool = strawberry.field(description="The server's default (no override for this organization).")
