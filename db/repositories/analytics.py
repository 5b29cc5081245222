"""What revenue analytics read: plain rows (no ORM objects), one organization and currency at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Row, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    AppliedCoupon,
    AuditEntry,
    Coupon,
    CreditNote,
    Customer,
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
                Subscription.external_id.label("subscription_external_id"),
                Plan.code.label("plan_code"),
                Plan.name.label("plan_name"),
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
                Invoice.customer_id,
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

    async def plan_lines(self, currency: str, starts_at: datetime, ends_at: datetime) -> Sequence[Row]:
        """Fee lines naming a subscription (SUBSCRIPTION, CHARGE, TRUE_UP) of the period invoices in
        `currency` finalized in [starts_at, ends_at), not voided. Interim (progressive) invoices are left
        out: the period invoice bills their usage again in full and deducts them."""
        stmt = (
            select(
                InvoiceLine.subscription_external_id,
                InvoiceLine.kind,
                InvoiceLine.amount_minor,
                InvoiceLine.period_start,
                Invoice.finalized_at,
            )
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(
                InvoiceLine.organization_id == self.organization_id,
                Invoice.organization_id == self.organization_id,
                Invoice.currency == currency,
                Invoice.finalized_at >= starts_at,
                Invoice.finalized_at < ends_at,
                Invoice.status != "VOID",
                Invoice.kind != "PROGRESSIVE",
                InvoiceLine.kind.in_(("SUBSCRIPTION", "CHARGE", "TRUE_UP")),
                InvoiceLine.subscription_external_id.is_not(None),
            )
        )
        return (await self.session.execute(stmt)).all()

    async def customer_names(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
        """Each customer's (external id, name)."""
        wanted = list(customer_ids)
        if not wanted:
            return {}
        stmt = select(Customer.id, Customer.external_id, Customer.name).where(
            Customer.organization_id == self.organization_id, Customer.id.in_(wanted)
        )
        return {row.id: (row.external_id, row.name or "") for row in (await self.session.execute(stmt)).all()}
