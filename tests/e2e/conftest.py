"""Browser tests: Debian's chromium driven by Playwright against the real API process of tests/stack.py,
which serves the frontend's static export. `make test` builds the export and installs chromium first;
without either these tests fail with what to do (they are never skipped)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from tests.client import Api
from tests.e2e.seed import PASSWORD, Tenant, build_tenant
from tests.stack import ROOT, Stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BUILD = ROOT / "frontend" / "out"
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ROOT / ".valueverse" / "e2e-artifacts"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def axe_source() -> str:
    """Chromium and the frontend build must be there: a missing one fails the tests, saying what to do."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: `make test` installs it with apt-get")
    if not (BUILD / "admin.html").exists() or not AXE.exists():
        pytest.fail("the frontend is not built: `make test` builds it (cd frontend && npm ci && npm run build)")
    return AXE.read_text()


@pytest.fixture(scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory, axe_source: str) -> AsyncIterator[Browser]:
    home = tmp_path_factory.mktemp("chromium-home")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS, env={**os.environ, "HOME": str(home)}
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def shop(stack: Stack) -> Tenant:
    """An organization and an ADMIN staff user made with the CLI, then a small catalogue through the API."""
    created = json.loads(stack.cli("create-org", "Acme Analytics").stdout)
    email = "ops@acme.example"
    stack.cli(
        "create-user", "--organization", created["organizationId"], "--email", email, "--role", "ADMIN",
        "--name", "Olive Ops", "--password", PASSWORD,
    )  # fmt: skip
    return await build_tenant(Api(stack.graphql_url, created["apiKey"]), created["organizationId"], email)


class Offline:
    """Every request the page makes must go to our own origin; anything else is refused and remembered."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.foreign: list[str] = []

    async def __call__(self, route: Route) -> None:
        url = route.request.url
        # The browser's own pages (its PDF viewer: chrome://, chrome-extension://) are not the network.
        if url.startswith(self.origin + "/") or not url.startswith(("http:", "https:", "ws:", "wss:")):
            await route.continue_()
        else:
            self.foreign.append(url)
            await route.abort()


async def new_context(browser: Browser, stack: Stack, **options) -> tuple[BrowserContext, Offline]:
    context = await browser.new_context(base_url=stack.api_url, **options)
    offline = Offline(stack.api_url)
    await context.route("**/*", offline)
    return context, offline


@pytest.fixture
async def context(browser: Browser, stack: Stack) -> AsyncIterator[tuple[BrowserContext, Offline]]:
    context, offline = await new_context(browser, stack, viewport=DESKTOP)
    yield context, offline
    await context.close()
    assert offline.foreign == [], f"the pages reached outside our origin: {offline.foreign}"


@pytest.fixture
async def page(context: tuple[BrowserContext, Offline]) -> Page:
    return await context[0].new_page()


async def sign_in(page: Page, shop: Tenant) -> None:
    await page.goto("/admin")
    await page.wait_for_url("**/admin/login?next=*")
    await page.get_by_label("Email").fill(shop.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin")


async def serious_violations(page: Page, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    await page.evaluate(axe_source + "\n;true")  # evaluated by the browser's debugger: no CSP applies
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def artifact(name: str) -> Path:
    """Where a screenshot is kept (not committed): .valueverse/e2e-artifacts/ unless E2E_ARTIFACTS says."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def clear_artifacts() -> None:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
