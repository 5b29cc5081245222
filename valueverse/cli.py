"""`valueverse`: serve, worker, migrate, create-org, create-user, demo, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from valueverse.settings import Settings


@contextlib.contextmanager
def servers(settings: Settings, *, embedded_allowed: bool = True, redis: bool = True) -> Iterator[tuple[str, str]]:
    """The database and Redis URLs: from the environment, or embedded servers we start and stop."""
    from valueverse.embedded import EmbeddedPostgres, EmbeddedRedis

    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        database_url, redis_url = settings.database_url, settings.redis_url
        if not database_url:
            if not embedded_allowed:
                raise SystemExit("DATABASE_URL is not set")
            pg = EmbeddedPostgres(settings.data_dir)
            database_url = pg.start()
            started.append(pg)
            print(f"embedded PostgreSQL: {database_url}", file=sys.stderr)
        if not redis_url and redis:
            if not embedded_allowed:
                raise SystemExit("REDIS_URL is not set")
            embedded_redis = EmbeddedRedis(settings.data_dir)
            redis_url = embedded_redis.start()
            started.append(embedded_redis)
            print(f"embedded Redis: {redis_url}", file=sys.stderr)
        yield database_url, redis_url or ""
    finally:
        for server in reversed(started):
            server.stop()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    with servers(settings, redis=False) as (database_url, _):
        upgrade(database_url)
    print("migrations applied", file=sys.stderr)
    return 0


async def create_org_async(
    database_url: str, name: str, currency: str, timezone: str, test: bool = False
) -> dict[str, str]:
    from db.session import Database
    from services.organizations import create_organization

    db = Database(database_url, pool_size=1)
    try:
        async with db.unit_of_work() as uow:
            created = await create_organization(uow, name=name, default_currency=currency, timezone=timezone, test=test)
        return {"organizationId": str(created.organization.id), "apiKey": created.api_key.secret}
    finally:
        await db.dispose()


def _create_org(database_url: str, name: str, currency: str, timezone: str, test: bool = False) -> dict[str, str]:
    return asyncio.run(create_org_async(database_url, name, currency, timezone, test))


def cmd_create_org(settings: Settings, args: argparse.Namespace) -> int:
    from domain.errors import DomainError

    with servers(settings, redis=False) as (database_url, _):
        try:
            print(json.dumps(_create_org(database_url, args.name, args.currency, args.timezone, args.test)))
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    import uuid

    from db.models import Role
    from db.repositories.organizations import OrganizationRepository
    from db.session import Database
    from domain.errors import DomainError
    from services.actors import system_actor
    from services.auth import create_staff_user

    try:
        organization_id = uuid.UUID(args.organization)
    except ValueError:
        print(f"error: --organization must be an organization id (a UUID), not {args.organization!r}", file=sys.stderr)
        return 2
    password = args.password or os.environ.get("VALUEVERSE_PASSWORD")
    if not password:
        import getpass

        password = getpass.getpass("password: ")

    async def run(database_url: str) -> dict[str, str] | None:
        db = Database(database_url, pool_size=1)
        try:
            async with db.unit_of_work() as uow:
                if await OrganizationRepository(uow.session).get(organization_id) is None:
                    return None
                actor = system_actor(organization_id, name="cli")
                user = await create_staff_user(
                    uow, actor, email=args.email, name=args.name or "", role=Role(args.role), password=password
                )
            return {"userId": str(user.id), "email": user.email, "role": user.role.value}
        finally:
            await db.dispose()

    with servers(settings, redis=False) as (database_url, _):
        try:
            created = asyncio.run(run(database_url))
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        if created is None:
            print(f"error: there is no organization {organization_id}", file=sys.stderr)
            return 2
        print(json.dumps(created))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from db.migrate import upgrade
    from valueverse import demo

    if not 1 <= args.customers <= 5000:
        print("error: --customers is between 1 and 5000", file=sys.stderr)
        return 2
    with servers(settings) as (database_url, redis_url):
        upgrade(database_url)
        return demo.run(settings, database_url, redis_url, args.customers, args.seed, args.email)


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from graph.schema import printed_schema

    text = printed_schema()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from valueverse.logs import configure_logging
    from workers.runner import run

    configure_logging(settings.log_level, settings.log_format)
    with servers(settings) as (database_url, redis_url):
        run(
            database_url,
            redis_url,
            scheduled=settings.worker_cron,
            payments=settings.payment_config(),
            webhooks=settings.webhook_config(),
            email=settings.email_config(),
        )
    return 0


def _local_api_key(settings: Settings, database_url: str) -> dict[str, str]:
    """The local organization of `make run`, created once; its key is kept in the data dir."""
    path = settings.data_dir / "local-organization.json"
    if path.exists():
        return json.loads(path.read_text())
    created = _create_org(database_url, "Local", "USD", "UTC")
    path.write_text(json.dumps(created))
    path.chmod(0o600)
    return created


def _demo_hint(settings: Settings) -> str:
    """The demo tenant's sign-in once `valueverse demo` has loaded it, else how to load it."""
    path = settings.data_dir / "demo.json"
    if path.exists():
        with contextlib.suppress(OSError, ValueError, KeyError):
            demo = json.loads(path.read_text())
            return f"  Demo:      sign in as {demo['adminEmail']} / {demo['adminPassword']}, then open Revenue\n"
    return "  Demo data: make run DEMO=1 (or valueverse demo): a TEST organization with a year of billing\n"


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (docker stop, systemd, kill) ends `serve` like Ctrl-C: exit 0 after cleaning up.

    uvicorn catches SIGTERM, shuts down gracefully, then re-raises it to the handler it found; with the
    default handler the process would die right there, skipping the `finally` blocks that stop the
    worker and the embedded servers (and exiting -15)."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def _metrics_directory(processes: int) -> Iterator[None]:
    """Several API processes count into files of one fresh directory that /metrics of any of them sums up
    (prometheus_client's multiprocess mode); removed when `serve` ends. One process keeps its figures in memory."""
    if processes == 1:
        yield
        return
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="valueverse-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def _run_api(host: str, port: int, processes: int) -> int:
    """uvicorn with `processes` API processes on one listening socket, each building its own app (writer, live hub,
    pools) with `valueverse.app:app_from_environment`. One process runs in this one."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "valueverse.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # uvicorn's supervisor kills a process that has not answered its ping for this long (default 5 s): on a
        # loaded 2-core machine a process still importing, or busy, took longer, and was killed and restarted in
        # a loop. A process that is truly stuck is still replaced, half a minute later.
        timeout_worker_healthcheck=30,
        ws="websockets-sansio",
        server_header=False,
    )
    if processes == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    # What uvicorn.run does for workers > 1, keeping the supervisor to learn whether a process failed to start
    # (the supervisor then stops the others, and `serve` exits with uvicorn's start-up failure status).
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        print("error: an API process failed to start (its log is above)", file=sys.stderr)
        return STARTUP_FAILURE
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from db.migrate import upgrade
    from valueverse.logs import configure_logging
    from valueverse.metrics import serve_metrics

    configure_logging(settings.log_level, settings.log_format)
    _exit_cleanly_on_sigterm()
    host, port = args.host or settings.host, args.port or settings.port
    processes = settings.api_processes()
    with servers(settings) as (database_url, redis_url), _metrics_directory(processes):
        upgrade(database_url)  # once, before any API process starts
        settings.resolved_secret_key()  # generated here if need be, so that every API process reads the same one
        # The API processes (and the worker) read their settings from the environment, embedded servers included.
        os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
        worker = None
        if not args.no_worker:
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}  # the API's figures only
            worker = subprocess.Popen([sys.executable, "-m", "valueverse.cli", "worker"], env=env)
        try:
            if args.local_org:
                local = _local_api_key(settings, database_url)
                print(
                    f"\n  Admin:     http://{host}:{port}/admin   (staff sign-in; add yourself with\n"
                    f"             valueverse create-user --organization {local['organizationId']}"
                    " --email you@example.com --role OWNER)\n"
                    f"  GraphiQL:  http://{host}:{port}/graphql\n"
                    f"  API key:   {local['apiKey']}   (organization {local['organizationId']})\n"
                    f"  Try:       curl -s http://{host}:{port}/graphql -H 'Authorization: Bearer "
                    f"{local['apiKey']}' -H 'Content-Type: application/json' "
                    '-d \'{"query":"{ viewer { name role organization { name } } }"}\'\n' + _demo_hint(settings),
                    file=sys.stderr,
                    flush=True,
                )
            serve_metrics(settings.metrics_address)  # once per `serve`, not per API process
            return _run_api(host, port, processes)
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="valueverse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="API (+ worker); embedded PostgreSQL/Redis when unset")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-worker", action="store_true", help="do not start a worker process")
    serve.add_argument("--local-org", action="store_true", help="create/print a local organization's API key")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run the arq worker").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    org = sub.add_parser("create-org", help="create an organization; prints its id and an OWNER API key")
    org.add_argument("name")
    org.add_argument("--currency", default="USD")
    org.add_argument("--timezone", default="UTC")
    org.add_argument(
        "--test", action="store_true", help="a TEST organization: test provider keys only, test clocks allowed"
    )
    org.set_defaults(func=cmd_create_org)

    user = sub.add_parser("create-user", help="add a staff user to an organization")
    user.add_argument("--organization", required=True, help="organization id")
    user.add_argument("--email", required=True)
    user.add_argument("--role", default="ADMIN", choices=["OWNER", "ADMIN", "FINANCE", "VIEWER"])
    user.add_argument("--name")
    user.add_argument("--password", help="or VALUEVERSE_PASSWORD, or asked for")
    user.set_defaults(func=cmd_create_user)

    demo = sub.add_parser("demo", help="load a demo TEST organization: a year of billing history (docs/portals.md)")
    demo.add_argument("--customers", type=int, default=200, help="how many customers (default 200: about a minute)")
    demo.add_argument("--seed", type=int, default=7, help="the random seed (the same seed, the same story)")
    demo.add_argument("--email", default="demo-admin@valueverse.example", help="the demo admin's sign-in")
    demo.set_defaults(func=cmd_demo)

    export = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o")
    export.set_defaults(func=cmd_export_schema)

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # a bad setting: say which, without a traceback
        for error in exc.errors():
            print(f"error: {'.'.join(map(str, error['loc'])).upper()}: {error['msg']}", file=sys.stderr)
        return 2
    try:
        return int(args.func(settings, args) or 0)
    except KeyboardInterrupt:  # Ctrl-C before the server took over its signals: no traceback
        return 130


if __name__ == "__main__":
    sys.exit(main())
