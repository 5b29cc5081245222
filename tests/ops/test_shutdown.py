"""`serve` stops cleanly on SIGTERM (docker stop, systemd, Kubernetes): exit 0, promptly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil

from tests.stack import ROOT, Stack, _free_port, _wait_ready


def test_serve_exits_zero_soon_after_sigterm(stack: Stack) -> None:
    """With two API processes (the stack's WEB_CONCURRENCY): both stop, then `serve` exits 0."""
    port = _free_port()
    log = stack.log_dir / f"serve-{port}.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "serve", "--no-worker", "--port", str(port)],
            env=stack.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", server, log)
        api = [p for p in psutil.Process(server.pid).children() if "multiprocessing.spawn" in " ".join(p.cmdline())]
        assert len(api) == 2
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        returncode = server.wait(timeout=15)
        assert returncode == 0, log.read_text()[-4000:]
        assert time.monotonic() - started < 15
        assert "Traceback" not in log.read_text()
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in api)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_api_processes_end_when_serve_is_killed(stack: Stack) -> None:
    """kill -9 (or the OOM killer) of `serve`: its API processes do not go on serving the port on their own."""
    port = _free_port()
    log = stack.log_dir / f"serve-killed-{port}.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "serve", "--no-worker", "--port", str(port)],
            env=stack.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", server, log)
        api = [p for p in psutil.Process(server.pid).children() if "multiprocessing.spawn" in " ".join(p.cmdline())]
        assert len(api) == 2
        server.kill()
        server.wait(timeout=15)
        _, alive = psutil.wait_procs(api, timeout=20)
        assert not alive, log.read_text()[-4000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
