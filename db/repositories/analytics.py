"""What revenue analytics read: plain rows (no ORM objects), one organization and currency at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    AppliedCoupon,
    AuditEntry,
    Coupon,
    CreditNote,
    Invoice,
    InvoiceLine,
    Plan,
    Subscription,
    SubscriptionPhase,
)


class AnalyticsRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    async def version(self) -> int:
        """The organization's latest audit sequence number: every change to what analytics read writes one."""
        found = await self.session.scalar(
            select(func.max(AuditEntry.seq)).where(AuditEntry.organization_id == self.organization_id)
        )
        return int(found or 0)

    async def fee_phases(self, currency: str) -> Sequence[Row]:
        """Each phase of every subscription on a plan in `currency`, with its subscription's lifecycle."""
        stmt = (
            select(
                Subscription.id.label("subscription_id"),
                Subscription.customer_id,
                Subscription.started_at,
                Subscription.trial_ends_at,
                Subscription.ending_at,
                Subscription.terminated_at,
                SubscriptionPhase.starts_at,
                SubscriptionPhase.ends_at,
                SubscriptionPhase.overrides["amount"].astext.label("amount_override"),
                Plan.amount,
                Plan.interval,
                Plan.currency,
            )
            .join(SubscriptionPhase, SubscriptionPhase.subscription_id == Subscription.id)
            .join(Plan, Plan.id == SubscriptionPhase.plan_id)
            .where(
                Subscription.organization_id == self.organization_id,
                SubscriptionPhase.organization_id == self.organization_id,
                Plan.currency == currency,
            )
            .order_by(Subscription.customer_id, Subscription.id, SubscriptionPhase.starts_at, SubscriptionPhase.id)
        )
        return (await self.session.execute(stmt)).all()

    async def recurring_coupons(self) -> Sequence[Row]:
        """Coupons applied to customers that recur (REPEATING, FOREVER), in the order applied."""
        stmt = (
            select(
                AppliedCoupon.customer_id,
                AppliedCoupon.created_at,
                AppliedCoupon.terminated_at,
                Coupon.code,
                Coupon.kind,
                Coupon.amount,
                Coupon.percentage,
                Coupon.currency,
                Coupon.duration,
                Coupon.duration_periods,
            )
            .join(Coupon, Coupon.id == AppliedCoupon.coupon_id)
            .where(AppliedCoupon.organization_id == self.organization_id, Coupon.duration != "ONCE")
            .order_by(AppliedCoupon.customer_id, AppliedCoupon.created_at, AppliedCoupon.id)
        )
        return (await self.session.execute(stmt)).all()

    async def finalized_invoices(self, currency: str) -> Sequence[Row]:
        """Every finalized invoice in `currency`, with its usage fees (CHARGE lines) in minor units."""
        usage = (
            select(InvoiceLine.invoice_id, func.sum(InvoiceLine.amount_minor).label("charges_minor"))
            .where(InvoiceLine.organization_id == self.organization_id, InvoiceLine.kind == "CHARGE")
            .group_by(InvoiceLine.invoice_id)
            .subquery()
        )
        stmt = (
            select(
                Invoice.status,
                Invoice.finalized_at,
                Invoice.due_at,
                Invoice.paid_at,
                Invoice.voided_at,
                Invoice.total_minor,
                Invoice.amount_due_minor,
                Invoice.paid_minor,
                Invoice.progressive_credit_minor,
                func.coalesce(usage.c.charges_minor, 0).label("charges_minor"),
            )
            .outerjoin(usage, usage.c.invoice_id == Invoice.id)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.currency == currency,
                Invoice.finalized_at.is_not(None),
            )
        )
        return (await self.session.execute(stmt)).all()

    async def refunds(self, currency: str) -> Sequence[Row]:
        """Money paid back (REFUND credit notes) in `currency`: when, and how much in minor units."""
        stmt = select(CreditNote.created_at, CreditNote.amount_minor).where(
            and_(
                CreditNote.organization_id == self.organization_id,
                CreditNote.currency == currency,
                CreditNote.kind == "REFUND",
            )
        )
        return (await self.session.execute(stmt)).all()
