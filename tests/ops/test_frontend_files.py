"""The frontend's static export as the API serves it (valueverse/frontend.py), called as an ASGI app."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import shutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from valueverse.frontend import GraphiQLInFront, StaticExport

THEME = b'(function(){document.documentElement.dataset.theme="dark"})()'
FLIGHT = b'self.__next_f.push([1,"<b>\\u003c/script\\u003e"])'
PAGE = (
    b'<!DOCTYPE html><html><head><script src="/_next/static/chunks/app.js" async=""></script>'
    b"<script>" + THEME + b"</script></head><body><main>Overview</main>"
    b'<script id="_R_">' + FLIGHT + b"</script><script>" + THEME + b"</script></body></html>"
)
CHUNK = b"console.log('a hashed chunk');\n" * 200


def _export(root: Path, marker: str = "Overview") -> Path:
    files = {
        "admin.html": PAGE.replace(b"Overview", marker.encode()),
        "admin/customers.html": b"<html><body>Customers</body></html>",
        "admin/customers.txt": b"1:flight payload",
        "portal.html": b"<html><body>Customer portal</body></html>",
        "404.html": b"<html><body>Page not found</body></html>",
        "graphiql.html": b"<html><head><script>var g=1</script></head><body>GraphiQL</body></html>",
        "_next/static/chunks/app.js": CHUNK,
        "_next/static/media/codicon.ttf": b"\x00\x01font",
    }
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


async def _graphql(scope, receive, send) -> None:
    """Stands for the GraphQL API (an ASGI app)."""
    await JSONResponse({"api": scope["method"]})(scope, receive, send)


def _app(site: StaticExport) -> Starlette:
    graphql = Route("/graphql", GraphiQLInFront(site, _graphql), methods=["GET", "POST"])
    return Starlette(routes=[graphql, *site.routes()])


async def _call(app, path: str, *, method: str = "GET", headers: dict[str, str] | None = None, query: str = ""):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "state": {},
    }
    sent: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if requested:  # the client stays connected until the response is sent
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body, scope["state"]


async def test_without_a_build_the_portals_answer_how_to_build_them_and_the_api_still_works(tmp_path) -> None:
    app = _app(StaticExport(tmp_path / "missing"))
    for path in ("/admin", "/admin/customers", "/portal/some-token"):
        status, headers, body, _ = await _call(app, path)
        assert status == 503, path
        assert headers["content-type"].startswith("text/html")
        assert b"npm ci &amp;&amp; npm run build" in body and b"make run" in body
    status, _, body, _ = await _call(app, "/graphql", headers={"Accept": "text/html"})
    assert status == 503 and b"GraphiQL page" in body
    status, _, body, _ = await _call(app, "/graphql", method="POST", headers={"Accept": "application/json"})
    assert (status, body) == (200, b'{"api":"POST"}')


async def test_pages_are_found_by_name_with_types_and_revalidation(tmp_path) -> None:
    app = _app(StaticExport(_export(tmp_path)))
    status, headers, body, _ = await _call(app, "/admin")
    assert (status, headers["content-type"], headers["cache-control"]) == (200, "text/html; charset=utf-8", "no-cache")
    assert b"Overview" in body
    status, headers, _, _ = await _call(app, "/admin", headers={"If-None-Match": headers["etag"]})
    assert status == 304
    status, _, body, _ = await _call(app, "/admin/customers")
    assert (status, body) == (200, b"<html><body>Customers</body></html>")
    status, headers, body, _ = await _call(app, "/admin/customers.txt", query="_rsc=1x2y")
    assert (status, headers["content-type"], body) == (200, "text/plain; charset=utf-8", b"1:flight payload")
    status, headers, _, _ = await _call(app, "/admin/customers/", query="q=a%20b")
    assert (status, headers["location"]) == (308, "/admin/customers?q=a%20b")
    status, headers, _, _ = await _call(app, "/")
    assert (status, headers["location"]) == (307, "/admin")


async def test_hashed_assets_are_immutable_and_compressed_when_the_browser_accepts_it(tmp_path) -> None:
    app = _app(StaticExport(_export(tmp_path)))
    status, headers, body, _ = await _call(app, "/_next/static/chunks/app.js", headers={"Accept-Encoding": "gzip, br"})
    assert status == 200
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == CHUNK and len(body) < len(CHUNK) / 10
    status, headers, body, _ = await _call(app, "/_next/static/chunks/app.js")
    assert (status, body) == (200, CHUNK) and "content-encoding" not in headers
    status, headers, body, _ = await _call(app, "/_next/static/media/codicon.ttf", headers={"Accept-Encoding": "gzip"})
    assert (status, headers["content-type"], body) == (200, "font/ttf", b"\x00\x01font")


async def test_unknown_addresses_fall_back_by_section_and_nothing_outside_the_export_is_reachable(tmp_path) -> None:
    (tmp_path / "secret.txt").write_text("outside the export")
    app = _app(StaticExport(_export(tmp_path / "out")))
    status, _, body, _ = await _call(app, "/portal/eyJ0b2tlbiI6Im9uZSBjdXN0b21lciJ9")
    assert (status, body) == (200, b"<html><body>Customer portal</body></html>")  # the portal reads its link
    status, headers, body, _ = await _call(app, "/admin/no-such-page")
    assert (status, body) == (404, b"<html><body>Page not found</body></html>")
    assert headers["content-type"].startswith("text/html")
    for path in ("/_next/static/chunks/missing.js", "/_next/../secret.txt", "/_next/static/../../secret.txt"):
        status, _, body, _ = await _call(app, path)
        assert status == 404 and b"outside" not in body, path
    for path in ("/admin/../secret.txt", "/admin/..%2fsecret.txt", "/portal/../../secret.txt"):
        status, _, body, _ = await _call(app, path)
        assert b"outside" not in body, path
    status, _, _, _ = await _call(app, "/admin", method="POST")
    assert status == 405


def _script_sources(headers) -> list[str]:
    policy = headers["content-security-policy"]
    return next(d for d in policy.split("; ") if d.startswith("script-src ")).split()[1:]


async def test_each_page_is_served_with_a_csp_of_its_inline_scripts_hashes(tmp_path) -> None:
    site = StaticExport(_export(tmp_path))
    expected = tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'" for script in (THEME, FLIGHT)
    )
    assert site.script_hashes("admin.html") == expected  # in order, once each; never the src= script
    _, headers, _, _ = await _call(_app(site), "/admin")
    assert _script_sources(headers) == ["'self'", *expected]  # never 'unsafe-inline' for scripts
    _, headers, _, _ = await _call(_app(site), "/_next/static/chunks/app.js")
    assert "content-security-policy" not in headers  # not a document: the app-wide policy applies


async def test_browsers_get_graphiql_at_graphql_and_clients_get_the_api(tmp_path) -> None:
    app = _app(StaticExport(_export(tmp_path)))
    status, headers, body, _ = await _call(app, "/graphql", headers={"Accept": "text/html,application/xhtml+xml"})
    assert (status, body) == (200, b"<html><head><script>var g=1</script></head><body>GraphiQL</body></html>")
    assert headers["cache-control"] == "no-cache" and len(_script_sources(headers)) == 2
    for method, headers, query in [
        ("POST", {"Accept": "text/html"}, ""),
        ("GET", {"Accept": "application/json"}, ""),
        ("GET", {"Accept": "text/html"}, "query=%7B__typename%7D"),
    ]:
        status, _, body, _ = await _call(app, "/graphql", method=method, headers=headers, query=query)
        assert (status, body) == (200, f'{{"api":"{method}"}}'.encode()), (method, headers, query)


async def test_a_rebuild_is_served_without_a_restart(tmp_path) -> None:
    root = _export(tmp_path / "out", marker="First build")
    app = _app(StaticExport(root))
    assert b"First build" in (await _call(app, "/admin"))[2]
    shutil.rmtree(root)
    assert (await _call(app, "/admin"))[0] == 503  # between the removal and the new export
    _export(tmp_path / "out", marker="Second build")
    (root / "_next/static/chunks/app.js").unlink()
    assert b"Second build" in (await _call(app, "/admin"))[2]
    assert (await _call(app, "/_next/static/chunks/app.js"))[0] == 404
