"""Coupons, applied coupons, wallets and credit notes of one organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import case, func, select

from db.models import AppliedCoupon, Coupon, CreditNote, CreditNoteItem, Wallet, WalletTransaction
from db.repositories.base import OrganizationScoped
from db.repositories.pagination import Page, paginate


class CreditRepository(OrganizationScoped):
    """Several models (coupons, wallets, credit notes): `add`/`stage` take any of them."""

    async def add(self, row: object) -> object:
        self.stage(row)
        await self.session.flush()
        return row

    def stage(self, row: object) -> object:
        """Add without writing yet (it goes out with the next flush)."""
        row.organization_id = self.organization_id  # type: ignore[attr-defined]
        self.session.add(row)
        return row

    async def coupon(self, code: str) -> Coupon | None:
        return await self.session.scalar(
            select(Coupon).where(
                Coupon.organization_id == self.organization_id, Coupon.code == code, Coupon.archived_at.is_(None)
            )
        )

    async def coupons(self, *, first: int | None, after: str | None) -> Page[Coupon]:
        stmt = select(Coupon).where(Coupon.organization_id == self.organization_id, Coupon.archived_at.is_(None))
        return await paginate(self.session, stmt, (Coupon.created_at, Coupon.id), first=first, after=after)

    async def active_coupons(
        self, customer_id: uuid.UUID, *, for_update: bool = False, include_ended: bool = False
    ) -> list[AppliedCoupon]:
        found = await self.active_coupons_of([customer_id], for_update=for_update, include_ended=include_ended)
        return found.get(customer_id, [])

    async def active_coupons_of(
        self, customer_ids: Iterable[uuid.UUID], *, for_update: bool = False, include_ended: bool = False
    ) -> dict[uuid.UUID, list[AppliedCoupon]]:
        """Coupons applied to each of these customers, oldest first."""
        stmt = (
            select(AppliedCoupon)
            .where(
                AppliedCoupon.organization_id == self.organization_id,
                AppliedCoupon.customer_id.in_(list(customer_ids)),
            )
            .order_by(AppliedCoupon.created_at, AppliedCoupon.id)
        )
        if not include_ended:
            stmt = stmt.where(AppliedCoupon.terminated_at.is_(None))
        if for_update:
            stmt = stmt.with_for_update(of=AppliedCoupon)
        found: dict[uuid.UUID, list[AppliedCoupon]] = {}
        for row in await self.session.scalars(stmt):
            found.setdefault(row.customer_id, []).append(row)
        return found

    async def wallet(self, customer_id: uuid.UUID, *, for_update: bool = False) -> Wallet | None:
        return (await self.wallets_of([customer_id], for_update=for_update)).get(customer_id)

    async def wallets_of(
        self, customer_ids: Iterable[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, Wallet]:
        stmt = select(Wallet).where(
            Wallet.organization_id == self.organization_id, Wallet.customer_id.in_(list(customer_ids))
        )
        if for_update:
            stmt = stmt.with_for_update()
        return {w.customer_id: w for w in await self.session.scalars(stmt)}

    async def pending_top_up(self, invoice_id: uuid.UUID) -> WalletTransaction | None:
        return await self.session.scalar(
            select(WalletTransaction)
            .where(
                WalletTransaction.organization_id == self.organization_id,
                WalletTransaction.invoice_id == invoice_id,
                WalletTransaction.kind == "PENDING_PAYMENT",
            )
            .with_for_update()
        )

    async def released_top_up_minor(self, invoice_id: uuid.UUID) -> int:
        """What a credit-purchase invoice's payments put in the wallet and still count there (released less taken
        back)."""
        signed = func.sum(
            case(
                (WalletTransaction.kind == "PAID", WalletTransaction.amount_minor),
                else_=-WalletTransaction.amount_minor,
            )
        )
        total = await self.session.scalar(
            select(signed).where(
                WalletTransaction.organization_id == self.organization_id,
                WalletTransaction.invoice_id == invoice_id,
                WalletTransaction.kind.in_(("PAID", "TAKEN_BACK")),
            )
        )
        return int(total or 0)

    async def credit_notes_of_invoice(self, invoice_id: uuid.UUID) -> list[CreditNote]:
        return list(
            await self.session.scalars(
                select(CreditNote)
                .where(CreditNote.organization_id == self.organization_id, CreditNote.invoice_id == invoice_id)
                .order_by(CreditNote.created_at)
            )
        )

    async def credit_notes_of_customer(self, customer_id: uuid.UUID) -> list[CreditNote]:
        return list(
            await self.session.scalars(
                select(CreditNote)
                .where(CreditNote.organization_id == self.organization_id, CreditNote.customer_id == customer_id)
                .with_for_update()
            )
        )

    async def available_credit_notes(self, customer_id: uuid.UUID) -> list[CreditNote]:
        """Credit notes with credit left for the customer's next invoices, oldest first (locked)."""
        return (await self.available_credit_notes_of([customer_id])).get(customer_id, [])

    async def available_credit_notes_of(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[CreditNote]]:
        found: dict[uuid.UUID, list[CreditNote]] = {}
        rows = await self.session.scalars(
            select(CreditNote)
            .where(
                CreditNote.organization_id == self.organization_id,
                CreditNote.customer_id.in_(list(customer_ids)),
                CreditNote.remaining_minor > 0,
            )
            .order_by(CreditNote.created_at, CreditNote.id)
            .with_for_update()
        )
        for row in rows:
            found.setdefault(row.customer_id, []).append(row)
        return found

    async def credited_by_line(self, invoice_id: uuid.UUID) -> dict[uuid.UUID, tuple[int, int]]:
        """What the invoice's credit notes by line already gave back of each line: (net, tax) in minor units."""
        rows = await self.session.execute(
            select(
                CreditNoteItem.invoice_line_id,
                func.sum(CreditNoteItem.amount_minor),
                func.sum(CreditNoteItem.tax_minor),
            )
            .join(CreditNote, CreditNote.id == CreditNoteItem.credit_note_id)
            .where(CreditNote.organization_id == self.organization_id, CreditNote.invoice_id == invoice_id)
            .group_by(CreditNoteItem.invoice_line_id)
        )
        return {line: (int(net), int(tax)) for line, net, tax in rows}

    async def credit_note_count(self, invoice_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(CreditNote)
                .where(CreditNote.organization_id == self.organization_id, CreditNote.invoice_id == invoice_id)
            )
            or 0
        )
