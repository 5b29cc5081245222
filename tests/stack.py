"""The servers a test run talks to: its own database and Redis db, a real API process and worker.

PostgreSQL: TEST_DATABASE_URL, else the local server at 127.0.0.1:5432, else an embedded one.
Redis: TEST_REDIS_URL, else 127.0.0.1:6379, else an embedded one. Each run creates a fresh
database and claims an empty Redis db number (valueverse/devstack.py, shared with bench/); at the
end it removes exactly those.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import redis

from valueverse import devstack

ROOT = Path(__file__).resolve().parent.parent
CLAIM_KEY = "valueverse:test-run"
# Tried after TEST_DATABASE_URL / TEST_REDIS_URL and before starting embedded servers.
LOCAL_POSTGRES = ["postgresql://postgres@127.0.0.1:5432/postgres"]
LOCAL_REDIS = ["redis://127.0.0.1:6379/0"]


_free_port = devstack.free_port  # the names the tests import


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    devstack.wait_ready(url, process, log)


def postgres_admin_url(embedded: list) -> str:
    """A URL to a maintenance database on a server where we may create databases."""
    for url in filter(None, [os.environ.get("TEST_DATABASE_URL"), *LOCAL_POSTGRES]):
        if asyncio.run(devstack.reachable_postgres(url)):
            return url
    from valueverse.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(ROOT / ".valueverse" / "test")
    url = pg.start()
    embedded.append(pg)
    return url.rsplit("/", 1)[0] + "/postgres"


def redis_base_url(embedded: list) -> str:
    for url in filter(None, [os.environ.get("TEST_REDIS_URL"), *LOCAL_REDIS]):
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
            return url
        except Exception:
            continue
    from valueverse.embedded import EmbeddedRedis

    server = EmbeddedRedis(ROOT / ".valueverse" / "test")
    url = server.start()
    embedded.append(server)
    return url


def claim_redis_db(base_url: str, claim_key: str = CLAIM_KEY) -> tuple[str, redis.Redis]:
    """An empty db number, marked as ours so that concurrent runs (tests, benchmarks) pick others."""
    claim = devstack.claim_redis_db(base_url, claim_key)
    return claim.url, claim.client


@dataclass
class Stack:
    api_url: str
    database_url: str
    redis_url: str
    secret_key: str
    env: dict[str, str]
    log_dir: Path  # api.log and worker.log: what the processes wrote to stdout and stderr
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def graphql_url(self) -> str:
        return f"{self.api_url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")

    @property
    def stripe_url(self) -> str:
        """The fake Stripe of the run (its /_control routes inject faults and list requests)."""
        return self.env["STRIPE_API_BASE"]

    @property
    def paypal_url(self) -> str:
        """The fake PayPal of the run (tests/fakes/paypal.py; /_control routes as on the fake Stripe)."""
        return self.env["PAYPAL_API_BASE"]

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "valueverse.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=input,
            check=check,
            timeout=120,
        )


@dataclass
class ApiProcess:
    """One more API process of the run (own settings, same database), for tests that need other settings."""

    url: str
    process: subprocess.Popen
    log: Path

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_api(stack: Stack, name: str, **settings: str) -> ApiProcess:
    """`valueverse serve --no-worker` on a free port with the stack's environment plus `settings`."""
    port = devstack.free_port()
    log = stack.log_dir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "valueverse.cli", "serve", "--port", str(port), "--no-worker"],
        env={**stack.env, **settings},
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    api = ApiProcess(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(api.url, process, log)
    except BaseException:
        api.stop()
        raise
    return api


class StackManager:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.embedded: list = []
        self.admin_url = ""
        self.database = ""
        self.redis_claim: devstack.RedisClaim | None = None
        self.stack: Stack | None = None

    def start(self) -> Stack:
        self.admin_url = postgres_admin_url(self.embedded)
        self.database = f"vv_test_{secrets.token_hex(6)}"
        asyncio.run(self._sql(f'CREATE DATABASE "{self.database}"'))
        database_url = self.admin_url.rsplit("/", 1)[0] + "/" + self.database
        self.redis_claim = devstack.claim_redis_db(redis_base_url(self.embedded), CLAIM_KEY)
        self.redis_claim.keep_alive()
        redis_url = self.redis_claim.url
        secret = secrets.token_urlsafe(32)
        # The fake Stripe (tests/fakes/stripe.py) the API and the worker talk to through the real SDK.
        stripe_port = devstack.free_port()
        stripe_log = self.log_dir / "fake_stripe.log"
        fake_stripe = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.stripe", "--port", str(stripe_port)],
            cwd=ROOT,
            stdout=stripe_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.fake_stripe = fake_stripe
        # The fake PayPal (tests/fakes/paypal.py) the PayPal gateway talks to over httpx.
        paypal_port = devstack.free_port()
        fake_paypal = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.paypal", "--port", str(paypal_port)],
            cwd=ROOT,
            stdout=(self.log_dir / "fake_paypal.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secret,
            "LOG_LEVEL": "INFO",
            "DATA_DIR": str(self.log_dir / "data"),
            # Tests queue the jobs they need; the hourly schedule would bill their customers behind their back.
            "WORKER_CRON": "false",
            "METRICS_TOKEN": secrets.token_urlsafe(16),
            # Every test logs in from 127.0.0.1: failed logins of some tests must not lock the others out
            # (tests of the per-IP brakes send X-Forwarded-For, or start an API process of their own).
            "LOGIN_IP_DELAY_AFTER": "100000",
            "LOGIN_IP_LOCK_AFTER": "200000",
            # Two API processes behind one port, as `serve` runs in production: a test passes whichever answers.
            "WEB_CONCURRENCY": os.environ.get("TEST_WEB_CONCURRENCY", "2"),
            "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
            "PAYPAL_API_BASE": f"http://127.0.0.1:{paypal_port}",
            # Outbound webhooks go to local receivers (tests/fakes/receiver.py); a hanging one is let go soon.
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_TIMEOUT_SECONDS": "3",
        }
        from db.migrate import upgrade

        upgrade(database_url)
        port = devstack.free_port()
        api_log = self.log_dir / "api.log"
        api = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "serve", "--port", str(port), "--no-worker"],
            env=env,
            cwd=ROOT,
            stdout=api_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=(self.log_dir / "worker.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        self.stack = Stack(
            f"http://127.0.0.1:{port}", database_url, redis_url, secret, env, self.log_dir, [api, worker, fake_stripe, fake_paypal]
        )
        _wait_ready(self.stack.api_url, api, api_log)
        return self.stack

    async def _sql(self, statement: str) -> None:
        await devstack.admin_sql(self.admin_url, statement)

    def stop(self) -> None:
        if self.stack:
            for process in self.stack.processes:
                process.terminate()
            for process in self.stack.processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        if self.database:
            asyncio.run(self._sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        if self.redis_claim is not None:
            self.redis_claim.release()  # flushes the db: it was empty when we claimed it, all of it is ours
        for server in reversed(self.embedded):
            server.stop()
