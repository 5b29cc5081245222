"""What rendering PDFs does to an event loop's other work: inline, on 1 or 2 threads, or in a process.

    .venv/bin/python bench/pdf_loop.py [--seconds 4] [--lines 5] [--downloaders 8] [--rounds 2]

In one process, --downloaders coroutines render invoice PDFs (services.documents.render_invoice, an invoice of
--lines lines) one after the other while a "client" coroutine does a small request's worth of work (ten
awaits with ~30 µs of Python between them) every 5 ms; its latency shows how long the loop made it wait.
No server, no database: this isolates the interpreter (the GIL) from everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.documents import render_invoice


def invoice(lines: int) -> SimpleNamespace:
    now = datetime.now(UTC)
    line = {"units": Decimal("123.5"), "tax_minor": 100, "amount_minor": 1000, "tax_rates": [],
            "breakdown": [{"kind": "STANDARD", "units": "123.5", "perUnitAmount": "0.01", "amount": "1.23"}]}
    return SimpleNamespace(
        currency="USD", number="INV-202612-000001", issued_at=now, due_at=now, status="OPEN", period_start=now,
        period_end=now, seller={"name": "Seller", "address": ["1 Street"]}, buyer={"name": "Buyer"},
        lines=[SimpleNamespace(description=f"line {i}", **line) for i in range(lines)], subtotal_minor=1000,
        discount_minor=0, tax_minor=0, total_minor=1000, credit_notes_minor=0, credits_minor=0,
        amount_due_minor=1000, notes="", id=uuid.uuid4(), payment_reference="RF19INV202612000001")


async def trial(pool: Executor | None, args: argparse.Namespace) -> tuple[float, float, float]:
    loop = asyncio.get_running_loop()
    stop = loop.time() + args.seconds
    rendered, latencies = 0, []

    async def downloader() -> None:
        nonlocal rendered
        while loop.time() < stop:
            doc = invoice(args.lines)
            if pool is None:
                render_invoice(doc)
            else:
                await loop.run_in_executor(pool, render_invoice, doc)
            rendered += 1
            await asyncio.sleep(0)

    async def client() -> None:
        while loop.time() < stop:
            t0 = time.perf_counter()
            for _ in range(10):
                await asyncio.sleep(0)
                sum(range(2000))
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.005)

    await asyncio.gather(*(downloader() for _ in range(args.downloaders)), client())
    latencies.sort()
    return rendered / args.seconds, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]


async def main(args: argparse.Namespace) -> None:
    pools: dict[str, Executor | None] = {
        "inline": None, "1 thread": ThreadPoolExecutor(1), "2 threads": ThreadPoolExecutor(2),
        "1 process": ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")),
    }
    await asyncio.get_running_loop().run_in_executor(pools["1 process"], render_invoice, invoice(2))  # started
    for _ in range(args.rounds):
        for name, pool in pools.items():
            rate, p50, p95 = await trial(pool, args)
            print(f"{name:10s} {rate:5.0f} PDFs/s   client p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms",
                  flush=True)
    for pool in pools.values():
        if pool is not None:
            pool.shutdown()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--lines", type=int, default=5)
    p.add_argument("--downloaders", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(p.parse_args()))
