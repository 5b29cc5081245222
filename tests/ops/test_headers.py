"""Security headers, CORS, HSTS and who may read /metrics, through HTTP.

The run's API has no PUBLIC_URL, no CORS_ORIGINS and a METRICS_TOKEN; two API processes of this module
show the other settings: https PUBLIC_URL + listed CORS origins + METRICS_ADDRESS, and a wildcard origin."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from multidict import CIMultiDict

from tests.ops.servers import api_process
from tests.stack import ROOT, Stack, _free_port
from valueverse.security import csp_for_html

ALLOWED = "https://app.example.com"
REFUSED = "https://evil.example.net"


async def _request(method: str, url: str, headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers, data=data) as response:
        return response.status, response.headers.copy(), await response.read()


@pytest.fixture(scope="module")
def configured(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An API at https PUBLIC_URL, CORS for ALLOWED, metrics on their own address (and no token): (api, metrics)."""
    metrics_address = f"127.0.0.1:{_free_port()}"
    log = tmp_path_factory.mktemp("configured") / "api.log"
    with api_process(stack, log, PUBLIC_URL="https://billing.example.com", CORS_ORIGINS=f"{ALLOWED}, https://b.example.com",
                     METRICS_ADDRESS=metrics_address, METRICS_TOKEN="") as api:
        yield api, f"http://{metrics_address}"


@pytest.fixture(scope="module")
def wildcard(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("wildcard") / "api.log"
    with api_process(stack, log, PUBLIC_URL="http://billing.internal", CORS_ORIGINS="*") as api:
        yield api


GRAPHQL_BODY = b'{"query": "{ __typename }"}'  # what an anonymous caller may ask
JSON = {"Content-Type": "application/json"}


def _responses(api: str) -> list[tuple[str, str, dict[str, str], bytes | None]]:
    """One request of each kind the API answers: probes, GraphQL (anonymous, bad key), events, PDFs, 404s."""
    return [
        ("GET", f"{api}/healthz", {}, None),
        ("GET", f"{api}/readyz", {}, None),
        ("GET", f"{api}/metrics", {}, None),
        ("POST", f"{api}/graphql", JSON, GRAPHQL_BODY),
        ("POST", f"{api}/graphql", {**JSON, "Authorization": "Bearer vv_wrong"}, GRAPHQL_BODY),
        ("GET", f"{api}/graphql", {"Accept": "text/html"}, None),
        ("POST", f"{api}/v1/events", JSON, b"[]"),
        ("GET", f"{api}/v1/invoices/{secrets.token_hex(4)}/pdf", {}, None),
        ("GET", f"{api}/v1/credit-notes/00000000-0000-0000-0000-000000000000/pdf?expires=1&signature=x", {}, None),
        ("GET", f"{api}/nowhere", {}, None),
        ("DELETE", f"{api}/graphql", {}, None),
    ]


async def test_every_response_carries_the_security_headers_and_no_server_banner(stack) -> None:
    for method, url, headers, data in _responses(stack.api_url):
        status, got, _ = await _request(method, url, headers, data)
        where = f"{method} {url} → {status}"
        csp = got.get("Content-Security-Policy", "")
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'",
                          "form-action 'self'", "script-src 'self'"):
            assert directive in csp, (where, csp)
        directives = dict(d.split(" ", 1) for d in csp.split("; "))
        assert "unsafe" not in directives["script-src"] and "unsafe-eval" not in csp, where
        page = got.get("Content-Type", "").startswith("text/html")  # GraphiQL, a page of the frontend's export
        # Only a page may allow inline styles (React's style attributes), and it may be revalidated.
        assert "unsafe-inline" not in csp or (page and directives["style-src"] == "'self' 'unsafe-inline'"), where
        assert got.get("X-Content-Type-Options") == "nosniff", where
        assert got.get("Referrer-Policy") == "no-referrer", where
        assert got.get("X-Frame-Options") == "DENY", where
        assert got.get("Cache-Control") == ("no-cache" if page else "no-store"), where
        assert "Server" not in got, (where, got.get("Server"))
        assert "Strict-Transport-Security" not in got, where  # no PUBLIC_URL: not known to be https
        assert "Access-Control-Allow-Origin" not in got, where  # no CORS_ORIGINS: no CORS at all


async def test_a_pdf_is_not_stored_by_browsers_or_proxies(tenant) -> None:
    await tenant.api("mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { userErrors { code } } }",
                     i={"externalId": "pdf-headers", "name": "PDF headers"})
    made = await tenant.api(
        """mutation($i: CreateOneOffInvoiceInput!) { createOneOffInvoice(input: $i) {
             invoice { pdfUrl } userErrors { code message } } }""",
        i={"customerExternalId": "pdf-headers", "lines": [{"description": "Setup", "amount": "10"}]},
    )
    assert made["createOneOffInvoice"]["userErrors"] == [], made
    status, headers, body = await _request("GET", made["createOneOffInvoice"]["invoice"]["pdfUrl"])
    assert status == 200 and body.startswith(b"%PDF")
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_graphiql_is_still_served_to_a_browser(stack) -> None:
    status, headers, body = await _request("GET", stack.graphql_url, {"Accept": "text/html"})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"graphiql" in body.lower()
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_a_pages_policy_allows_its_inline_scripts_and_styles_by_hash_and_nothing_else() -> None:
    script, style = "window.__boot = {'a': 1};", "body { margin: 0 }"
    html = (f"<!doctype html><html><head><style>{style}</style><script src='/app.js'></script>"
            f"<script>{script}</script></head><body></body></html>")
    policy = csp_for_html(html)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == f"'self' {sha(script)}"
    assert directives["style-src"] == f"'self' {sha(style)}"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy


async def test_hsts_only_when_the_public_url_is_https(configured, wildcard) -> None:
    api, _ = configured
    _, headers, _ = await _request("GET", f"{api}/healthz")
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    _, headers, _ = await _request("GET", f"{wildcard}/healthz")  # PUBLIC_URL is http
    assert "Strict-Transport-Security" not in headers


def _preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}


async def test_cors_answers_a_listed_origin_with_credentials(configured) -> None:
    api, _ = configured
    status, headers, _ = await _request("OPTIONS", f"{api}/graphql", _preflight(ALLOWED))
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "authorization" in headers["Access-Control-Allow-Headers"].lower()
    assert headers["X-Content-Type-Options"] == "nosniff"  # a preflight is a response too
    status, headers, _ = await _request("POST", f"{api}/graphql", {**JSON, "Origin": ALLOWED}, GRAPHQL_BODY)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "x-request-id" in headers["Access-Control-Expose-Headers"].lower()


async def test_cors_refuses_an_origin_that_is_not_listed(configured) -> None:
    api, _ = configured
    status, headers, _ = await _request("OPTIONS", f"{api}/graphql", _preflight(REFUSED))
    assert status == 400
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = await _request("POST", f"{api}/graphql", {**JSON, "Origin": REFUSED}, GRAPHQL_BODY)
    assert "Access-Control-Allow-Origin" not in headers
    assert "Access-Control-Allow-Credentials" not in headers


async def test_without_cors_origins_there_is_no_cors(stack) -> None:
    status, headers, _ = await _request("OPTIONS", stack.graphql_url, _preflight(ALLOWED))
    assert status >= 400 and not any(name.lower().startswith("access-control-") for name in headers)
    _, headers, _ = await _request("POST", stack.graphql_url, {**JSON, "Origin": ALLOWED}, GRAPHQL_BODY)
    assert not any(name.lower().startswith("access-control-") for name in headers)


async def test_a_wildcard_origin_never_allows_credentials(wildcard) -> None:
    status, headers, _ = await _request("OPTIONS", f"{wildcard}/graphql", _preflight(REFUSED))
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers
    _, headers, _ = await _request("POST", f"{wildcard}/graphql", {**JSON, "Origin": REFUSED}, GRAPHQL_BODY)
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


async def test_metrics_need_the_token_on_the_api_port(stack) -> None:
    url, token = f"{stack.api_url}/metrics", stack.env["METRICS_TOKEN"]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": f"Bearer {token}x"}):
        status, got, body = await _request("GET", url, headers)
        assert status == 401, headers
        assert got["WWW-Authenticate"].startswith("Bearer") and b"valueverse_" not in body
    status, got, body = await _request("GET", url, {"Authorization": f"Bearer {token}"})
    assert status == 200 and got["Content-Type"].startswith("text/plain")
    assert b"valueverse_http_requests_total" in body


async def test_metrics_on_their_own_address_and_absent_from_the_api_port_without_a_token(configured) -> None:
    api, metrics = configured
    status, _, body = await _request("GET", f"{api}/metrics", {"Authorization": "Bearer anything"})
    assert status == 404 and b"valueverse_" not in body
    await _request("POST", f"{api}/graphql", JSON, GRAPHQL_BODY)
    status, headers, body = await _request("GET", f"{metrics}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    # Both API processes' figures (WEB_CONCURRENCY=2), summed: each one's live hub is connected.
    assert b"valueverse_http_requests_total" in body and b"valueverse_live_connected 2.0" in body


def test_a_bad_origin_metrics_address_or_public_url_stops_serve_with_a_message(stack) -> None:
    for name, value in [("CORS_ORIGINS", "https://app.example.com/path"), ("METRICS_ADDRESS", "9100"),
                        ("PUBLIC_URL", "billing.example.com")]:
        result = subprocess.run(
            [sys.executable, "-m", "valueverse.cli", "serve", "--no-worker", "--port", str(_free_port())],
            env={**stack.env, name: value}, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.startswith(f"error: {name}: ") and value in result.stderr
        assert "Traceback" not in result.stderr
