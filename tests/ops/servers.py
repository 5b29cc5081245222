"""Processes a test starts and stops itself: a redis-server of its own, an API or a worker with its own settings."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import redis

from tests.stack import ROOT, Stack, _free_port, _wait_ready

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A redis-server on a fixed free port under `directory`; `stop()` and `start()` again keep the port."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / f"redis-{self.port}.log").open("a")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on {self.port} did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextlib.contextmanager
def api_process(stack: Stack, log: Path, **env: str) -> Iterator[str]:
    """`valueverse serve --no-worker` on the run's database with these settings changed; yields its base URL.

    Ready means /readyz answers 200: a degraded API (Redis away) counts."""
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "serve", "--no-worker", "--port", str(port)],
            env={**stack.env, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextlib.contextmanager
def worker_process(stack: Stack, log: Path, **env: str) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "worker"],
            env={**stack.env, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        _stop(process)


async def readiness(api_url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{api_url}/readyz") as response:
        return response.status, await response.json(content_type=None)


async def until_ready(api_url: str, status: str, within: float = 30) -> dict:
    """Poll /readyz until it says `status` (ready, degraded); its body."""
    async with asyncio.timeout(within):
        while True:
            code, body = await readiness(api_url)
            if body["status"] == status:
                assert code == (503 if status == "not ready" else 200), (code, body)
                return body
            await asyncio.sleep(0.1)


async def post_events(api_url: str, token: str, events: list[dict]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(
        f"{api_url}/v1/events", data=orjson.dumps(events),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    ) as response:
        return response.status, await response.json(content_type=None)
