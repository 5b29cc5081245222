"""The frontend's static export (`frontend/out`, built by `npm run build`) served from the API's origin.

`/admin…` (staff) and `/portal…` (customers) are pages of the export, `/_next/…` their assets, and a
browser's `GET /graphql` gets the export's offline GraphiQL page. Only files listed when the export
was indexed are ever served (no path from a request reaches the filesystem), and the index follows a
rebuild. Without a build, these addresses answer a page that says how to build it.

A strict Content-Security-Policy allows Next's inline scripts by hash: every HTML page's inline
`<script>` hashes are computed once, when the export is indexed, and each page is answered with the
base policy of `valueverse.security` plus exactly those hashes (`page_policy`).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import html
import mimetypes
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from valueverse.security import content_security_policy

DEFAULT_BUILD_DIR = Path(__file__).resolve().parent.parent / "frontend" / "out"
IMMUTABLE = "public, max-age=31536000, immutable"  # names under _next/static/ change with their content
REVALIDATE = "no-cache"  # pages and route payloads: always asked again, answered 304 while unchanged
GRAPHIQL_PAGE = "graphiql.html"
NOT_FOUND_PAGE = "404.html"
PORTAL_PAGE = "portal.html"
MARKER = "admin.html"  # an export without it is incomplete (or absent)
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml", "font/ttf")
MIN_COMPRESS = 1024
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",  # React Server Component payloads of client-side navigation
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".webp": "image/webp",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
}
INLINE_SCRIPT = re.compile(rb"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.S | re.I)
SRC_ATTRIBUTE = re.compile(rb"\ssrc\s*=", re.I)


def inline_script_hashes(page: bytes) -> tuple[str, ...]:
    """CSP sources (`'sha256-…'`) of the page's inline scripts, in order, without repeats."""
    hashes: list[str] = []
    for match in INLINE_SCRIPT.finditer(page):
        if SRC_ATTRIBUTE.search(match["attrs"]):
            continue
        source = "'sha256-" + base64.b64encode(hashlib.sha256(match["body"]).digest()).decode() + "'"
        if source not in hashes:
            hashes.append(source)
    return tuple(hashes)


def page_policy(script_hashes: tuple[str, ...]) -> str:
    """A page's CSP: its own inline scripts by hash (never 'unsafe-inline' scripts); React and GraphiQL set
    inline styles, and GraphiQL's editor runs web workers from our origin."""
    return content_security_policy(
        extra={"script-src": script_hashes, "style-src": ("'unsafe-inline'",), "worker-src": ("'self'",)}
    )


@dataclass
class Asset:
    path: Path
    content_type: str
    cache_control: str
    etag: str
    body: bytes | None = None  # pages are kept in memory
    script_hashes: tuple[str, ...] = ()
    gzipped: bytes | None = field(default=None, repr=False)


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _index(root: Path) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            content_type = _content_type(name)
            cache = IMMUTABLE if relative.startswith("_next/static/") else REVALIDATE
            if content_type.startswith("text/html"):
                body = path.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                assets[relative] = Asset(path, content_type, cache, etag, body, inline_script_hashes(body))
            else:
                stat = path.stat()
                assets[relative] = Asset(path, content_type, cache, f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"')
    return assets


def _missing_page(what: str, root: Path) -> Response:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(what)} is not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem">
<h1>The {html.escape(what)} is not built yet</h1>
<p>The API is running, but the web pages (the admin portal, the customer portal and GraphiQL) come from the
frontend build in <code>{html.escape(str(root))}</code>, which does not exist.</p>
<p>Build it with Node.js 20 or newer, then reload this page:</p>
<pre style="background: #f3f4f6; color: #111; padding: 0.75rem; border-radius: 6px">make run
# or, by hand:
cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>The GraphQL API itself works without it: <code>POST /graphql</code> with
<code>Authorization: Bearer &lt;your API key&gt;</code>.</p>
</body></html>"""
    return Response(body, status_code=503, media_type="text/html", headers={"Cache-Control": "no-store"})


class StaticExport:
    """The export's files by path, re-indexed when the build directory is replaced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._assets: dict[str, Asset] | None = None
        self._identity: tuple[int, int] | None = None

    def _current_identity(self) -> tuple[int, int] | None:
        try:
            stat = self.root.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns)

    def assets(self) -> dict[str, Asset] | None:
        """The index, or None while there is no complete build (checked again on every call)."""
        identity = self._current_identity()
        if identity is None or not (self.root / MARKER).is_file():
            self._assets, self._identity = None, None
            return None
        if self._assets is None or identity != self._identity:
            self._assets, self._identity = _index(self.root), identity
        return self._assets

    def script_hashes(self, relative_path: str) -> tuple[str, ...]:
        """The inline-script CSP sources of one page of the export (e.g. "admin.html")."""
        asset = (self.assets() or {}).get(relative_path)
        return asset.script_hashes if asset else ()

    def lookup(self, url_path: str) -> tuple[Asset | None, dict[str, Asset] | None]:
        assets = self.assets()
        if assets is None:
            return None, None
        relative = url_path.lstrip("/")
        asset = assets.get(relative) or (assets.get(relative + ".html") if relative else None)
        return asset, assets

    async def serve(self, request: Request, asset: Asset, status_code: int = 200) -> Response:
        headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag}
        if asset.content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = page_policy(asset.script_hashes)
        if status_code == 200 and asset.etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        compress = asset.content_type.startswith(COMPRESSIBLE) and "gzip" in request.headers.get("accept-encoding", "")
        if compress or asset.body is not None:
            body = asset.body if asset.body is not None else await asyncio.to_thread(asset.path.read_bytes)
            if compress and len(body) >= MIN_COMPRESS:
                if asset.gzipped is None:  # once per file and process; off the event loop (Monaco is ~2 MB)
                    asset.gzipped = await asyncio.to_thread(gzip.compress, body, 6, mtime=0)
                headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
                body = asset.gzipped
            elif asset.content_type.startswith(COMPRESSIBLE):
                headers["Vary"] = "Accept-Encoding"
            return Response(body, status_code=status_code, media_type=asset.content_type, headers=headers)
        return FileResponse(asset.path, status_code=status_code, media_type=asset.content_type, headers=headers)

    async def page(self, request: Request) -> Response:
        """/admin…, /portal… and /_next/…: the file, the page of that name, or the section's fallback."""
        path = request.url.path
        if path != "/" and path.endswith("/"):  # one address per page: the export's, without the slash
            target = path.rstrip("/") or "/"
            query = request.url.query
            return RedirectResponse(target + ("?" + query if query else ""), status_code=308)
        asset, assets = self.lookup(path)
        if assets is None:
            return _missing_page("admin portal" if not path.startswith("/portal") else "customer portal", self.root)
        if asset is not None:
            return await self.serve(request, asset)
        if path == "/portal" or path.startswith("/portal/"):
            # Portal links carry their token in the address: the portal's page reads it in the browser.
            fallback = assets.get(PORTAL_PAGE)
            if fallback is not None:
                return await self.serve(request, fallback)
        if not path.startswith("/_next/") and (not_found := assets.get(NOT_FOUND_PAGE)) is not None:
            return await self.serve(request, not_found, status_code=404)
        return Response("not found", status_code=404, media_type="text/plain")

    async def graphiql(self, request: Request) -> Response:
        asset, assets = self.lookup(GRAPHIQL_PAGE)
        if assets is None or asset is None:
            return _missing_page("GraphiQL page", self.root)
        return await self.serve(request, asset)

    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "HEAD"]

        async def home(_: Request) -> Response:
            return RedirectResponse("/admin", status_code=307)

        return [
            Route("/", home, methods=methods),
            Route("/admin", self.page, methods=methods),
            Route("/admin/{rest:path}", self.page, methods=methods),
            Route("/portal", self.page, methods=methods),
            Route("/portal/{rest:path}", self.page, methods=methods),
            Route("/_next/{rest:path}", self.page, methods=methods),
        ]


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def wants_graphiql(scope: Scope) -> bool:
    """A browser opening /graphql (Strawberry's own rule: a GET without `query` that accepts HTML)."""
    if scope["method"] not in ("GET", "HEAD"):
        return False
    if "query" in parse_qs(scope.get("query_string", b"").decode("latin-1")):
        return False
    accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
    return "text/html" in accept or "*/*" in accept


class GraphiQLInFront:
    """/graphql over HTTP: the offline GraphiQL page for browsers, the GraphQL API for everything else."""

    def __init__(self, site: StaticExport, graphql_app: ASGIApp) -> None:
        self.site = site
        self.graphql_app = graphql_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and wants_graphiql(scope):
            response = await self.site.graphiql(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.graphql_app(scope, receive, send)
