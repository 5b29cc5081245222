"""Runs the arq worker until SIGTERM or SIGINT, starting it again after a lost Redis connection."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time

from arq.worker import Worker
from redis.exceptions import RedisError

from integrations.payments.config import PaymentConfig
from services.notifications import EmailConfig
from services.webhooks import WebhookConfig
from workers.settings import worker_settings

RESTART_MIN, RESTART_MAX = 0.5, 10.0  # seconds before starting again after a lost connection, doubling

log = logging.getLogger("valueverse.worker")


def run(
    database_url: str,
    redis_url: str,
    *,
    scheduled: bool = True,
    payments: PaymentConfig | None = None,
    webhooks: WebhookConfig | None = None,
    email: EmailConfig | None = None,
) -> None:
    """Run the worker until SIGTERM or SIGINT. arq's worker ends when its Redis connection fails (a Redis
    restart, or no Redis yet at start): this starts it again, with backoff, until Redis answers. Jobs that
    were running are idempotent: arq runs them again once their lease expires."""
    delay = RESTART_MIN
    while True:
        options = worker_settings(
            database_url, redis_url, scheduled=scheduled, payments=payments, webhooks=webhooks, email=email
        )
        worker = Worker(**options)
        started = time.monotonic()
        try:
            worker.run()
            return
        except (RedisError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        # arq's close() stops at its first Redis call while Redis is away: release what this run opened.
        with contextlib.suppress(Exception):
            worker.loop.run_until_complete(options["on_shutdown"](worker.ctx))
        with contextlib.suppress(Exception):
            worker.loop.run_until_complete(worker.pool.close(close_connection_pool=True))
        # Between runs no event loop runs arq's signal handlers: a SIGTERM must still stop us.
        for signum in (signal.SIGINT, signal.SIGTERM):
            worker.loop.remove_signal_handler(signum)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        if time.monotonic() - started > 60:  # it ran for a while: this is a new outage
            delay = RESTART_MIN
        log.warning("the worker stopped on a lost connection (%s); starting again in %.1f s", reason, delay)
        time.sleep(delay)
        delay = min(delay * 2, RESTART_MAX)
