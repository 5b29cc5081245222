"""The outbox drain: what a process committed but could not dispatch (db/outbox.py) is sent from here.

Every worker process runs the drain as a loop of its own, whatever WORKER_CRON says (it bills nobody, and a
job left undrained is late): every `EVERY_SECONDS` and at once when the worker (re)starts, e.g. when Redis
returns. Several workers share the rows (`FOR UPDATE SKIP LOCKED`). `drain_outbox` is also a job that
can be queued by hand."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from db import outbox

log = logging.getLogger("valueverse.worker")

EVERY_SECONDS = 2.0


async def drain_outbox(ctx: dict[str, Any]) -> int:
    """Dispatch the outbox rows left undispatched, in batches, then prune old dispatched rows. Returns the
    rows dispatched."""
    drained = await outbox.drain(ctx["db"])
    if drained.rows:
        log.info(
            "outbox drained: %d row(s), %d job(s) and %d live message(s) sent, %d message(s) too old to send",
            drained.rows,
            drained.jobs,
            drained.messages,
            drained.expired_messages,
        )
    await outbox.prune(ctx["db"])
    return drained.rows


async def _drain_forever(ctx: dict[str, Any], every: float) -> None:
    while True:
        try:
            await drain_outbox(ctx)
        except Exception as exc:  # the database away: the next round tries again
            log.warning("the outbox drain failed (%s: %s): trying again", type(exc).__name__, exc)
        await asyncio.sleep(every)


def start_drain(ctx: dict[str, Any], every: float = EVERY_SECONDS) -> None:
    """From the worker's start-up: the drain loop, until `stop_drain`."""
    ctx["outbox_drain"] = asyncio.create_task(_drain_forever(ctx, every), name="outbox drain")


async def stop_drain(ctx: dict[str, Any]) -> None:
    task = ctx.pop("outbox_drain", None)
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # stopped in the middle of a statement: what it held is rolled back, nothing lost
        log.info("the outbox drain stopped (%s: %s)", type(exc).__name__, exc)
