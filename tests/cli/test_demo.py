"""`valueverse demo`: a year of a TEST tenant through the API, whose figures hold together (docs/portals.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

from tests.client import Api
from tests.stack import ROOT, Stack

METRICS = """query($from: Date!, $to: Date!) { revenueMetrics(from: $from, to: $to) {
  periodStart mrr arr newMrr expansionMrr contractionMrr churnedMrr reactivationMrr activeCustomers
  invoicedAmount collectedAmount overdueAmount usageRevenue } }"""
STATUSES = "query($s: InvoiceStatus) { invoices(status: $s, first: 1) { totalCount } }"


def _demo(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "valueverse.cli", "demo", *args],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # ~200 s on a busy 2-core machine for 20 customers (docs/portals.md)
        check=False,
    )


def _a_year_ago(today: date) -> date:
    """The month before the demo's clock starts (the first of the month twelve months ago): MRR 0 at its start,
    since the first subscriptions start at the very instant that month ends."""
    year, month = divmod(today.year * 12 + today.month - 1 - 13, 12)
    return date(year, month + 1, 1)


async def test_demo_loads_a_year_whose_movements_add_up_and_refuses_a_second_time(stack: Stack, tmp_path) -> None:
    email = "demo-test@valueverse.example"
    stack.env.setdefault("DATA_DIR", str(tmp_path))
    result = _demo(stack, "--customers", "20", "--email", email)
    assert result.returncode == 0, result.stderr[-3000:]
    created = json.loads(result.stdout.splitlines()[-1])
    assert "Traceback" not in result.stderr
    assert created["adminEmail"] == email and created["adminPassword"] in result.stderr
    assert created["adminUrl"].endswith("/admin") and created["adminUrl"] in result.stderr
    api = Api(stack.graphql_url, created["apiKey"])
    assert (await api("{ organization { mode } }"))["organization"]["mode"] == "TEST"

    today = datetime.now(UTC).date()
    points = (await api(METRICS, **{"from": _a_year_ago(today).isoformat(), "to": today.isoformat()}))["revenueMetrics"]
    assert len(points) == 14
    start = Decimal(0)
    for point in points:
        moved = start + sum(Decimal(point[k]) for k in ("newMrr", "expansionMrr", "reactivationMrr"))
        moved -= Decimal(point["contractionMrr"]) + Decimal(point["churnedMrr"])
        assert moved == Decimal(point["mrr"]), point
        assert Decimal(point["arr"]) == 12 * Decimal(point["mrr"])
        start = Decimal(point["mrr"])
    assert Decimal(points[-1]["mrr"]) > 0 and points[-1]["activeCustomers"] > 0
    assert sum(Decimal(p["newMrr"]) for p in points) > 0
    assert sum(Decimal(p["invoicedAmount"]) for p in points) > 0
    assert sum(Decimal(p["collectedAmount"]) for p in points) > 0
    assert sum(Decimal(p["usageRevenue"]) for p in points) > 0

    counts = {
        s: (await api(STATUSES, s=s))["invoices"]["totalCount"] for s in ("OPEN", "PAID", "VOID", "UNCOLLECTIBLE")
    }
    assert counts["PAID"] > 0 and counts["OPEN"] > 0, counts
    assert sum(1 for n in counts.values() if n) >= 2, counts
    assert created["invoices"]["PAID"] == counts["PAID"]

    plans = (await api("query($f: Date!, $t: Date!) { revenueByPlan(from: $f, to: $t) { planCode totalRevenue } }",
                       f=_a_year_ago(today).isoformat(), t=today.isoformat()))["revenueByPlan"]  # fmt: skip
    assert len(plans) >= 3

    again = _demo(stack, "--customers", "20", "--email", email)
    assert again.returncode == 0 and "already loaded" in again.stderr and "Traceback" not in again.stderr
    assert json.loads(again.stdout.splitlines()[-1]) == {
        "organizationId": created["organizationId"],
        "alreadyLoaded": True,
    }
