"""Security headers of every HTTP response, and the Content-Security-Policy of pages with inline scripts.

One middleware (`SecurityHeaders`) sets them all, outside everything else (`SecuredStarlette`), so that
Starlette's own answers (a 500, a body over its size limit) carry them too. A header a route already set
wins, so a page that needs a different policy (an HTML page with inline scripts, a cacheable asset) sets
its own:

    html = Path("graphiql.html").read_text()
    Response(html, media_type="text/html", headers={"Content-Security-Policy": csp_for_html(html)})
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What every response may do unless its route says otherwise: load only our own scripts, styles, images,
# fonts and connections (fetch, WebSocket); no plugins, no <base>, forms post only to us, never framed.
BASE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'", "data:"),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}
HSTS = "max-age=31536000; includeSubDomains"


def source_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script or style: 'sha256-<base64>'."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def content_security_policy(
    *,
    scripts: Iterable[str] = (),
    styles: Iterable[str] = (),
    extra: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The base policy, plus the given inline scripts and styles allowed by their sha256 (their text as it
    stands between the tags), plus `extra` sources per directive (e.g. {"worker-src": ["'self'", "blob:"]})."""
    policy = {name: list(sources) for name, sources in BASE_POLICY.items()}
    policy["script-src"] += sorted({source_hash(s) for s in scripts})
    policy["style-src"] += sorted({source_hash(s) for s in styles})
    for name, sources in (extra or {}).items():
        policy.setdefault(name, list(policy["default-src"]))
        policy[name] += [s for s in sources if s not in policy[name]]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if (tag == "script" and "src" not in names) or tag == "style":
            self._open = []
            self._tag = tag

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == self._tag:
            (self.scripts if tag == "script" else self.styles).append("".join(self._open))
            self._open = None


def csp_for_html(html: str, *, extra: Mapping[str, Sequence[str]] | None = None) -> str:
    """The policy of a static HTML page: the base policy plus the hashes of its inline <script> and <style>
    elements (compute it once per page, when the page is loaded, not per request)."""
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    scripts = [s for s in parser.scripts if s.strip()]
    return content_security_policy(scripts=scripts, styles=parser.styles, extra=extra)


DEFAULT_CSP = content_security_policy()


class SecurityHeaders:
    """Adds the security headers to every HTTP response that does not set them itself.

    `Strict-Transport-Security` only when the public origin is https (`hsts=True`): sent over plain
    http it would be ignored, and a browser that cached it could no longer reach a plain-http deployment."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers: list[tuple[str, str]] = [
            ("Content-Security-Policy", DEFAULT_CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
            # API answers and PDFs are per caller and change: never stored by a browser or a proxy.
            ("Cache-Control", "no-store"),
        ]
        if hsts:
            self.headers.append(("Strict-Transport-Security", HSTS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", ()))
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SecuredStarlette(Starlette):
    """Starlette with `SecurityHeaders` around its whole middleware stack, error handling included."""

    def __init__(self, *, hsts: bool = False, **kwargs: Any) -> None:
        self.hsts = hsts
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), hsts=self.hsts)


class ListedOriginsCORS(CORSMiddleware):
    """Starlette's CORS, except that a request from an origin that is not allowed gets no CORS header at all
    (Starlette would still add Access-Control-Allow-Credentials and the exposed headers)."""

    async def simple_response(self, scope: Scope, receive: Receive, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is not None and not self.is_allowed_origin(origin):
            await self.app(scope, receive, send)
            return
        await super().simple_response(scope, receive, send, request_headers)


def cors_middleware(origins: Sequence[str]) -> list[Middleware]:
    """CORS for the configured origins only (none configured: no CORS headers at all). A listed origin may
    send credentials; the wildcard "*" never allows them (any site could then act with a user's cookies)."""
    if not origins:
        return []
    wildcard = "*" in origins
    return [
        Middleware(
            ListedOriginsCORS,
            allow_origins=["*"] if wildcard else list(origins),
            allow_credentials=not wildcard,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    ]
