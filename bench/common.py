"""What the benchmarks share: a throw-away stack, a GraphQL client, a catalog, a load generator, stats.

A benchmark run owns everything it uses and removes it at the end:
  * a fresh database `vv_bench_<random>` on the server of --database-url (an admin URL),
  * an empty Redis db number that it claims (or the one given by --redis-url, used as is),
  * one `valueverse serve --no-worker` process on a free port (LOG_LEVEL=WARNING),
  * an organization made with `valueverse create-org`.

The load generator runs in its own process (multiprocessing, spawn) with an aiohttp client, so it
does not share the server's GIL nor the benchmark's; it is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402

from valueverse import devstack  # noqa: E402

DEFAULT_ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DEFAULT_REDIS_BASE = "redis://127.0.0.1:6379"
CLAIM_KEY = "valueverse:bench-run"
REGIONS = ("eu", "us", "apac")


class BenchError(RuntimeError):
    pass


# --- command line ------------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                   help="admin URL of a PostgreSQL server where the benchmark may CREATE/DROP DATABASE")
    p.add_argument("--redis-url", default=None,
                   help="a Redis db to use as is (never flushed); default: claim an empty db number on "
                        f"{DEFAULT_REDIS_BASE} and FLUSHDB it at the end")
    p.add_argument("--keep-logs", action="store_true", help="keep the server log directory")
    p.add_argument("--web-concurrency", type=int, default=None,
                   help="API processes of the server (WEB_CONCURRENCY); default: serve's own (the number of cores)")
    return p


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM ends the benchmark like Ctrl-C: the `finally` blocks tear the stack down."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, handler)


# --- the stack -----------------------------------------------------------------------------------


free_port = devstack.free_port
admin_sql = devstack.admin_sql


def claim_redis_db(base_url: str) -> devstack.RedisClaim:
    """An empty db number, claimed as ours so that concurrent runs (tests, other benchmarks) pick others."""
    try:
        return devstack.claim_redis_db(base_url, CLAIM_KEY)
    except devstack.NoFreeRedisDb:
        raise BenchError("no empty Redis db number to run the benchmark in") from None


@dataclass
class Org:
    organization_id: str
    api_key: str


class BenchStack:
    """Database, Redis db, API server and organization of one benchmark run. Use as a context manager."""

    def __init__(self, admin_url: str, redis_url: str | None = None, *, keep_logs: bool = False,
                 db_pool_size: int | None = None, processes: int | None = None) -> None:
        self.admin_url = admin_url
        self.given_redis_url = redis_url
        self.keep_logs = keep_logs
        self.db_pool_size = db_pool_size
        self.processes = processes  # WEB_CONCURRENCY of the server; None: serve's default (cores)
        self.server_root = ROOT  # whose code the server runs (another checkout: a before/after in one run)
        self.database = ""
        self.database_url = ""
        self.extra_databases: list[str] = []
        self.redis_url = ""
        self.redis_claim: devstack.RedisClaim | None = None
        self.server: subprocess.Popen | None = None
        self.port = 0
        self.log_dir = Path(tempfile.mkdtemp(prefix="vv_bench_logs_"))
        self.env: dict[str, str] = {}
        self.org: Org | None = None
        self.failed = False

    # URLs
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.api_url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def events_url(self) -> str:
        return f"{self.api_url}/v1/events"

    def __enter__(self) -> BenchStack:
        try:
            self.start()
        except BaseException:
            self.failed = True
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.failed = True
        self.stop()

    def start(self) -> None:
        t0 = time.monotonic()
        self.database = f"vv_bench_{secrets.token_hex(6)}"
        asyncio.run(admin_sql(self.admin_url, f'CREATE DATABASE "{self.database}"'))
        self.database_url = self.admin_url.rsplit("/", 1)[0] + "/" + self.database
        if self.given_redis_url:
            self.redis_url = self.given_redis_url
        else:
            self.redis_claim = claim_redis_db(DEFAULT_REDIS_BASE)
            self.redis_claim.keep_alive()
            self.redis_url = self.redis_claim.url
        from db.migrate import upgrade

        upgrade(self.database_url)
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(self.log_dir / "data"),
        }
        if self.db_pool_size:
            self.env["DB_POOL_SIZE"] = str(self.db_pool_size)
        self.start_server()
        created = subprocess.run([sys.executable, "-m", "valueverse.cli", "create-org", "Bench Org"],
                                 env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
        data = json.loads(created.stdout)
        self.org = Org(data["organizationId"], data["apiKey"])
        print(f"stack: database {self.database}, redis {self.redis_url}, server pid {self.server.pid} "
              f"on {self.api_url} (ready in {time.monotonic() - t0:.1f} s)", flush=True)

    def start_server(self, database_url: str | None = None) -> None:
        """(Re)start the API process, on this run's database or on another one of this run (a clone)."""
        env = {**self.env, "DATABASE_URL": database_url or self.database_url}
        if self.processes:
            env["WEB_CONCURRENCY"] = str(self.processes)
        log = (self.log_dir / "api.log").open("a")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "serve", "--port", str(self.port), "--no-worker"],
            env=env, cwd=self.server_root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=10)

    def clone_database(self, suffix: str) -> str:
        """A copy of this run's database (CREATE DATABASE … TEMPLATE; nobody may be connected to it: stop the
        server first). Dropped with the run. Returns its URL."""
        name = f"{self.database}_{suffix}"
        asyncio.run(admin_sql(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.database}"'))
        self.extra_databases.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def _wait_ready(self) -> None:
        assert self.server is not None
        try:
            devstack.wait_ready(self.api_url, self.server, self.server_log)
        except devstack.NotReady as exc:
            raise BenchError(str(exc)) from None

    def server_log(self) -> str:
        path = self.log_dir / "api.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def server_process(self) -> psutil.Process:
        assert self.server is not None
        return psutil.Process(self.server.pid)

    def server_rss(self) -> int:
        """Resident memory of the API process (and its children, none with --no-worker), in bytes."""
        if self.server is None or self.server.poll() is not None:
            return 0
        proc = self.server_process()
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def stop(self) -> None:
        self.stop_server()
        log = self.server_log()
        if "Traceback" in log or "ERROR" in log:
            print(f"--- server log (tail) ---\n{log[-3000:]}", file=sys.stderr)
        while self.extra_databases:
            name = self.extra_databases.pop()
            asyncio.run(admin_sql(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"teardown: dropped database {name}", flush=True)
        if self.database:
            asyncio.run(admin_sql(self.admin_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            print(f"teardown: dropped database {self.database}", flush=True)
            self.database = ""
        if self.redis_claim is not None:
            self.redis_claim.release()  # flushes the db: it was empty when we claimed it, all of it is ours
            print(f"teardown: flushed {self.redis_url}", flush=True)
            self.redis_claim = None
        if self.keep_logs or self.failed:
            print(f"server log kept in {self.log_dir}", flush=True)
        else:
            shutil.rmtree(self.log_dir, ignore_errors=True)


# --- GraphQL over aiohttp ------------------------------------------------------------------------


class Api:
    """`await api(query, **variables)` returns `data`; errors raise BenchError."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        async with self.http.post(self.url, data=orjson.dumps({"query": query, "variables": variables}),
                                  headers={"Authorization": f"Bearer {self.token}",
                                           "Content-Type": "application/json"}) as response:
            body = await response.read()
        payload = orjson.loads(body)
        if response.status != 200 or payload.get("errors"):
            raise BenchError(f"GraphQL {response.status}: {body[:500]!r}")
        return payload["data"]


CREATE_METRIC = """mutation($input: CreateBillableMetricInput!) { createBillableMetric(input: $input) {
  billableMetric { code aggregation } userErrors { field code message } } }"""
CREATE_PLAN = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { code } userErrors { field code message } } }"""
CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { externalId } userErrors { field code message } } }"""
CREATE_SUBSCRIPTION = """mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
  subscription { externalId status currentPeriodStart currentPeriodEnd } userErrors { field code message } } }"""


def _payload(data: dict[str, Any], name: str) -> dict[str, Any]:
    payload = data[name]
    if payload.get("userErrors"):
        raise BenchError(f"{name}: {payload['userErrors']}")
    return payload


async def create_metric(api: Api, code: str, aggregation: str, field_name: str | None,
                        filters: dict[str, Sequence[str]] | None = None) -> None:
    await api(CREATE_METRIC, input={
        "code": code, "name": code, "aggregation": aggregation, "fieldName": field_name,
        **({"filters": [{"key": k, "values": list(v)} for k, v in filters.items()]} if filters else {})})


async def create_plan(api: Api, code: str, charges: list[dict[str, Any]], *, amount: str = "0") -> None:
    _payload(await api(CREATE_PLAN, input={"code": code, "name": code, "interval": "MONTHLY", "currency": "USD",
                                           "amount": amount, "charges": charges}), "createPlan")


async def create_customers(api: Api, customers: Sequence[str], plan_code: str, *, started_at: datetime | None = None,
                           concurrency: int = 8) -> dict[str, dict[str, Any]]:
    """Each customer with one subscription (externalId `sub-<customer>`) on the plan; returns the subscriptions."""
    gate = asyncio.Semaphore(concurrency)
    subscriptions: dict[str, dict[str, Any]] = {}

    async def one(customer: str) -> None:
        async with gate:
            _payload(await api(CREATE_CUSTOMER, input={"externalId": customer, "name": customer}), "createCustomer")
            extra: dict[str, Any] = {}
            if started_at is not None:
                extra = {"startedAt": started_at.isoformat(), "billingTime": "ANNIVERSARY"}
            data = _payload(await api(CREATE_SUBSCRIPTION, input={
                "customerExternalId": customer, "planCode": plan_code, "externalId": f"sub-{customer}", **extra}),
                "createSubscription")
            subscriptions[customer] = data["subscription"]

    await asyncio.gather(*(one(c) for c in customers))
    return subscriptions


# --- events --------------------------------------------------------------------------------------


def event_value(n: int) -> str:
    """A decimal with three places, as a sender would write it: e.g. 17.413."""
    return f"{n % 50}.{(n * 7919) % 1000:03d}"


def batch_fields(prefix: str, conn: int, seq: int, size: int,
                 customers: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """(transaction id, customer, value as JSON number text, region) of the events of one request.

    Deterministic, so that the benchmark can rebuild exactly the rows the server accepted."""
    base = (conn * 1_000_003 + seq) * size
    n_customers = len(customers)
    out = []
    for i in range(size):
        n = base + i
        out.append((f"{prefix}-{conn}-{seq}-{i}", customers[(n * 31 + conn) % n_customers], event_value(n),
                    REGIONS[n % 3]))
    return out


INGEST_USAGE = ("mutation($input: IngestUsageInput!) { ingestUsage(input: $input) { accepted duplicates "
                "rejected { index code } userErrors { code message } } }")


def graphql_batch_body(events: bytes) -> bytes:
    """The same events as the variables of one ingestUsage mutation."""
    return b'{"query":' + orjson.dumps(INGEST_USAGE) + b',"variables":{"input":{"events":' + events + b"}}}"


def batch_body(fields: Sequence[tuple[str, str, str, str]], metric_code: str, timestamp: str) -> bytes:
    """A JSON array of events with the values written as JSON numbers (decoded as exact decimals)."""
    parts = [f'{{"transactionId":"{tx}","customerExternalId":"{c}","metricCode":"{metric_code}",'
             f'"timestamp":"{timestamp}","properties":{{"value":{v},"region":"{r}"}}}}'
             for tx, c, v, r in fields]
    return ("[" + ",".join(parts) + "]").encode()


# --- the load generator (its own process) --------------------------------------------------------


@dataclass
class LoadConfig:
    events_url: str
    api_key: str
    metric_code: str
    customers: list[str]
    batch: int = 1000
    connections: int = 8
    seconds: float = 30.0
    prefix: str = "lg"
    events_per_second: float | None = None  # pace across all connections; None: as fast as answered
    request_timeout: float = 60.0
    graphql: bool = False  # post the batches as the ingestUsage mutation (to events_url = the GraphQL URL)


@dataclass
class LoadResult:
    start: float  # time.monotonic() (CLOCK_MONOTONIC: comparable across processes on Linux)
    end: float
    pid: int
    # (conn, seq, size, status, accepted, duplicates, rejected, t_sent, t_answered)
    records: list[tuple[int, int, int, int, int, int, int, float, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return sum(r[4] for r in self.records)

    def window(self, start: float, end: float | None = None) -> list[tuple]:
        end = self.end if end is None else end
        return [r for r in self.records if start <= r[8] <= end]


async def _drive(cfg: LoadConfig, stop: Any) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=cfg.connections)
    timeout = aiohttp.ClientTimeout(total=cfg.request_timeout)
    headers = {"Authorization": f"Bearer {cfg.api_key}", "Content-Type": "application/json"}
    start = time.monotonic()
    deadline = start + cfg.seconds
    result = LoadResult(start, start, os.getpid())
    errors: Counter[str] = Counter()
    interval = cfg.connections * cfg.batch / cfg.events_per_second if cfg.events_per_second else 0.0

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as http:
        async def connection(conn: int) -> None:
            seq = 0
            next_at = start + interval * conn / cfg.connections
            while time.monotonic() < deadline and not stop.is_set():
                if interval:
                    wait = next_at - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    next_at = max(next_at + interval, time.monotonic())
                    if time.monotonic() >= deadline or stop.is_set():
                        break
                body = batch_body(batch_fields(cfg.prefix, conn, seq, cfg.batch, cfg.customers), cfg.metric_code,
                                  datetime.now(UTC).isoformat())
                if cfg.graphql:
                    body = graphql_batch_body(body)
                sent = time.monotonic()
                try:
                    async with http.post(cfg.events_url, data=body) as response:
                        payload = await response.read()
                    answered = time.monotonic()
                    if response.status == 200 and cfg.graphql:
                        data = orjson.loads(payload)
                        answer = (data.get("data") or {}).get("ingestUsage") or {}
                        if data.get("errors") or answer.get("userErrors") or "accepted" not in answer:
                            errors[f"GraphQL: {payload[:120]!r}"] += 1
                            answer = {"accepted": 0, "duplicates": 0, "rejected": []}
                    elif response.status == 200:
                        answer = orjson.loads(payload)
                    if response.status == 200:
                        result.records.append((conn, seq, cfg.batch, 200, answer["accepted"], answer["duplicates"],
                                               len(answer["rejected"]), sent, answered))
                        if answer["rejected"]:
                            errors[f"rejected {answer['rejected'][0]['code']}"] += len(answer["rejected"])
                    else:
                        result.records.append((conn, seq, cfg.batch, response.status, 0, 0, 0, sent, answered))
                        errors[f"HTTP {response.status}: {payload[:120]!r}"] += 1
                except Exception as exc:  # timeouts, resets: counted, never accepted
                    result.records.append((conn, seq, cfg.batch, 0, 0, 0, 0, sent, time.monotonic()))
                    errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
                seq += 1

        await asyncio.gather(*(connection(i) for i in range(cfg.connections)))
    result.end = time.monotonic()
    result.errors = dict(errors)
    return result


def _loadgen_child(cfg: LoadConfig, pipe: Any, stop: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    result = asyncio.run(_drive(cfg, stop))
    result.cpu_seconds = sum(os.times()[:2])
    pipe.send(result)
    pipe.close()


class LoadGenerator:
    """POST /v1/events from a separate process; bounded by cfg.seconds, or stopped earlier with stop()."""

    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        ctx = mp.get_context("spawn")
        self._receive, send = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self.process = ctx.Process(target=_loadgen_child, args=(cfg, send, self._stop), daemon=True,
                                   name="vv-bench-loadgen")

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self._stop.set()

    def result(self, timeout: float | None = None) -> LoadResult:
        timeout = self.cfg.seconds + self.cfg.request_timeout + 30 if timeout is None else timeout
        try:
            if not self._receive.poll(timeout):
                raise BenchError(f"the load generator did not finish within {timeout:.0f} s")
            return self._receive.recv()
        finally:
            self.kill()

    def kill(self) -> None:
        self._stop.set()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


# --- what the machine does meanwhile -------------------------------------------------------------


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds per PostgreSQL process, children included: a backend that exits (a pool closing an overflow
    connection) is reaped by the postmaster, whose children times then hold it. Compare sums, not pids."""
    out = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system + t.children_user + t.children_system
    return out


class Monitor:
    """Peak RSS of the server, and CPU seconds of the server and of all PostgreSQL processes, over a window."""

    def __init__(self, stack: BenchStack, interval: float = 0.25) -> None:
        self.stack, self.interval = stack, interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu(self) -> float:
        """The server's CPU seconds: serve itself and its API processes (several with WEB_CONCURRENCY > 1)."""
        proc = self.stack.server_process()
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def start(self) -> Monitor:
        self.t0 = time.monotonic()
        self.server_cpu0, self.pg_cpu0 = self._cpu(), _postgres_cpu()
        self.machine_cpu0 = psutil.cpu_times()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.stack.server_rss())

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self.t0
        pg_now = _postgres_cpu()
        machine = psutil.cpu_times()
        busy = lambda t: t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0)  # noqa: E731
        self.peak_rss = max(self.peak_rss, self.stack.server_rss())
        return {
            "elapsed": elapsed,
            "server_cpu": self._cpu() - self.server_cpu0,
            "postgres_cpu": sum(pg_now.values()) - sum(self.pg_cpu0.values()),
            "machine_cpu": busy(machine) - busy(self.machine_cpu0),
            "peak_rss": float(self.peak_rss),
        }


def print_cpu(usage: dict[str, float], loadgen_cpu: float | None = None) -> None:
    e = usage["elapsed"]
    line = (f"CPU over {e:.1f} s (2 cores = 200 %): server {100 * usage['server_cpu'] / e:.0f} %, "
            f"PostgreSQL (all backends) {100 * usage['postgres_cpu'] / e:.0f} %")
    if loadgen_cpu is not None:
        line += f", load generator {100 * loadgen_cpu / e:.0f} %"
    line += f", whole machine {100 * usage['machine_cpu'] / e:.0f} %"
    print(line)


# --- profiling the server with py-spy ------------------------------------------------------------


class Profiler:
    """`py-spy record` of the server for a while; summarised as self and inclusive time per function."""

    def __init__(self, pid: int, out: Path, seconds: float, rate: int = 100, subprocesses: bool = True) -> None:
        exe = Path(sys.executable).parent / "py-spy"
        self.available = exe.exists() or shutil.which("py-spy") is not None
        # --subprocesses: serve's API processes are its children when WEB_CONCURRENCY > 1
        self.cmd = [str(exe) if exe.exists() else "py-spy", "record", "-p", str(pid), "-r", str(rate),
                    "-d", str(max(1, int(seconds))), "-f", "raw", "-o", str(out), "--nonblocking",
                    *(["--subprocesses"] if subprocesses else [])]
        self.out = out
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if not self.available:
            print("py-spy is not installed (.venv/bin/pip install py-spy): no profile")
            return
        self.process = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def finish(self, top: int = 25) -> None:
        if self.process is None:
            return
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if not self.out.exists():
            print(f"py-spy wrote no profile: {err.strip()[-500:]}")
            return
        print_profile(self.out, top)


def _frame(name: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)": keep function and file, drop the line
    func, _, where = name.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{func} ({where})"


_LAYERS = (
    ("(sqlalchemy/", "SQLAlchemy"), ("(asyncpg/", "asyncpg"), ("(strawberry/", "GraphQL"), ("(graphql/", "GraphQL"),
    ("(starlette/", "HTTP"), ("(uvicorn/", "HTTP"), ("(asgi_correlation_id/", "HTTP"), ("(redis/", "Redis client"),
    ("(services/", "project"), ("(domain/", "project"), ("(db/", "project"), ("(graph/", "project"),
    ("(valueverse/", "project"), ("(workers/", "project"), ("(arq/", "arq"), ("(msgspec", "project"),
    ("(<sqlalchemy generated", "SQLAlchemy"), ("(greenlet", "SQLAlchemy"),
)


def _layer(frame: str) -> str:
    """Which layer a leaf frame belongs to; `Runner.run` self time is the event loop's native work and idling."""
    if frame.startswith("Runner.run ") or frame.startswith("BaseEventLoop.") or frame.startswith("_run_once"):
        return "event loop"
    for marker, layer in _LAYERS:
        if marker in frame:
            return layer
    return "stdlib/other"


def print_profile(path: Path, top: int = 25) -> None:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        print("empty profile")
        return
    print(f"profile: {total} samples of the server's busy threads (py-spy, {path})")
    layers: Counter[str] = Counter()
    for name, n in self_time.items():
        layers[_layer(name)] += n
    print("  self time by layer: " + ", ".join(f"{what} {100 * n / total:.0f} %" for what, n in layers.most_common()))
    print("  self time:")
    for name, n in self_time.most_common(top):
        print(f"    {100 * n / total:5.1f} %  {name}")
    print("  inclusive time:")
    for name, n in inclusive.most_common(top + 15):
        print(f"    {100 * n / total:5.1f} %  {name}")


# --- numbers -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def budget_line(what: str, measured: str, budget: str, ok: bool) -> str:
    line = f"BUDGET {'PASS' if ok else 'FAIL'}  {what}: {measured}  (budget {budget})"
    print(line, flush=True)
    return line


def load_summary() -> str:
    """How busy the machine is right now (other sessions' tests share it): load average and CPU over 1 s."""
    busy = psutil.cpu_percent(interval=1.0) * (os.cpu_count() or 1)
    return f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}, machine CPU {busy:.0f} % (of 200 %) before"


def machine_summary(database_url: str | None = None) -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = ""
    if database_url:
        async def version() -> str:
            conn = await asyncpg.connect(database_url)
            try:
                return await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()

        with contextlib.suppress(Exception):
            pg = f", PostgreSQL {asyncio.run(version())}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} CPUs ({cpu}), {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
            f"Python {platform.python_version()}{pg}; load average {load}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
