"""An invoice's status is set in one place: services/invoice_state.py (`move_invoice`), through the rules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "graph", "workers", "db", "integrations", "valueverse")
ALLOWED = ROOT / "services" / "invoice_state.py"


def _status_assignments(path: Path) -> list[str]:
    """`<something invoice-like>.status = …` (plain, augmented or in a tuple)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        flat = [t for target in targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
        for target in flat:
            if isinstance(target, ast.Attribute) and target.attr == "status":
                owner = ast.unparse(target.value)
                if "invoice" in owner.lower() or owner in ("voided", "draft", "row"):
                    found.append(f"{path}:{node.lineno}: {owner}.status = …")
    return found


def test_only_move_invoice_sets_an_invoice_status() -> None:
    found = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ALLOWED and "migrations" not in path.parts
        for hit in _status_assignments(path)
    ]
    assert found == [], "move the invoice with services.invoice_state.move_invoice:\n" + "\n".join(found)


def test_the_check_sees_a_status_set_by_hand(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f(invoice, x):\n    invoice.status = 'PAID'\n    invoice.status, x.paid_at = 'PAID', 1\n")
    assert len(_status_assignments(sample)) == 2
