"""What invoices consume: coupons, credit notes and prepaid credits; and what voiding gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db.models import AppliedCoupon, CreditNote, Invoice, Wallet, WalletTransaction
from db.repositories.credits import CreditRepository
from db.session import UnitOfWork
from domain import coupons as coupon_rules


@dataclass
class _Deductions:
    """A customer's coupons, credit notes and prepaid credits, locked: invoices consume them in turn."""

    coupons: list[AppliedCoupon] = field(default_factory=list)
    notes: list[CreditNote] = field(default_factory=list)
    wallet: Wallet | None = None


@dataclass
class _Computed:
    totals: Any
    coupons: list[Any]
    notes: list[Any]
    wallet: Any


def domain_coupon(row: Any) -> coupon_rules.Coupon:
    return coupon_rules.Coupon(
        code=row.code,
        kind=coupon_rules.CouponKind(row.kind),
        amount=row.amount,
        percentage=row.percentage,
        currency=row.currency,
        duration=coupon_rules.CouponDuration(row.duration),
        duration_periods=row.duration_periods,
    )


def _consume(uow: UnitOfWork, invoice: Invoice, computed: _Computed) -> None:
    """What the invoice used up: coupon periods, credit-note balances, prepaid credits. Each use is
    written on the invoice (`deductions`) so that voiding it can give them back."""
    used: dict[str, Any] = {"coupons": [], "creditNotes": [], "walletMinor": 0}
    for row, after in zip(computed.coupons, computed.totals.applied_coupons, strict=True):
        if after.periods_used != row.periods_used:
            used["coupons"].append({"id": str(row.id), "periodsBefore": row.periods_used})
        row.periods_used = after.periods_used
        if after.used_up:
            row.terminated_at = uow.clock.now()
    left = invoice.credit_notes_minor
    for note in computed.notes:
        taken = min(left, note.remaining_minor)
        if taken:
            used["creditNotes"].append({"id": str(note.id), "minor": taken})
        note.remaining_minor -= taken
        left -= taken
    if computed.wallet is not None and invoice.credits_minor:
        computed.wallet.balance_minor -= invoice.credits_minor
        used["walletMinor"] = invoice.credits_minor
        CreditRepository(uow.session, invoice.organization_id).stage(
            WalletTransaction(
                wallet_id=computed.wallet.id,
                kind="APPLIED",
                amount_minor=-invoice.credits_minor,
                invoice=invoice,
                settled_at=uow.clock.now(),
            )
        )
    invoice.deductions = used


async def _give_back(uow: UnitOfWork, invoice: Invoice) -> None:
    """Undo what a voided invoice consumed: coupon periods, credit-note balances, prepaid credits."""
    used = invoice.deductions or {}
    credits = CreditRepository(uow.session, invoice.organization_id)
    coupons = {
        str(row.id): row
        for row in await credits.active_coupons(invoice.customer_id, for_update=True, include_ended=True)
    }
    for item in used.get("coupons", []):
        row = coupons.get(item["id"])
        if row is not None:
            row.periods_used, row.terminated_at = item["periodsBefore"], None
    notes = {str(n.id): n for n in await credits.credit_notes_of_customer(invoice.customer_id)}
    for item in used.get("creditNotes", []):
        if item["id"] in notes:
            notes[item["id"]].remaining_minor += item["minor"]
    if used.get("walletMinor"):
        wallet = await credits.wallet(invoice.customer_id, for_update=True)
        assert wallet is not None  # the credits were taken from this customer's wallet
        wallet.balance_minor += used["walletMinor"]
        await credits.add(
            WalletTransaction(
                wallet_id=wallet.id,
                kind="RESTORED",
                amount_minor=used["walletMinor"],
                invoice_id=invoice.id,
                settled_at=uow.clock.now(),
            )
        )
    invoice.deductions = {}
