"""What revenue analytics read: plain rows (no ORM objects), one organization and currency at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Row, and_, func, select, text
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
from db.session import driver_connection

# When a finalized invoice stopped being open (services/analytics.py `cash_facts` says the same in Python): paid,
# voided, or made uncollectible (an invoice marked before migration 0027 has no such moment: closed when finalized).
_CLOSED_AT = """CASE i.status WHEN 'PAID' THEN coalesce(i.paid_at, i.finalized_at)
                     WHEN 'VOID' THEN coalesce(i.voided_at, i.finalized_at)
                     WHEN 'UNCOLLECTIBLE' THEN coalesce(i.uncollectible_at, i.finalized_at) END"""

# The cash figures of contiguous windows, summed in minor units where the rows are (domain/analytics.py
# `CashSums`). :t holds the :n windows' boundaries (`window_thresholds`; width_bucket counts the thresholds at or
# before x, so x lies in window k, 0-based, when width_bucket(x, t) = k + 1: t[k] <= x < t[k + 1], arrays being
# 1-based); :e is :t without its first element (the ends), so width_bucket(x, e) counts the windows ending at or
# before x: an invoice is overdue at the ends of windows first_k .. last_k - 1 (`cash_points` does the same).
CASH_SUMS = text(f"""
WITH b AS (SELECT CAST(:t AS timestamptz[]) AS t, CAST(:e AS timestamptz[]) AS e, CAST(:n AS int) AS n),
fin AS (
    SELECT i.id, i.total_minor, i.progressive_credit_minor, width_bucket(i.finalized_at, b.t) - 1 AS k
    FROM invoices i, b
    WHERE i.organization_id = :org AND i.currency = :currency AND i.status <> 'VOID'
      AND i.finalized_at >= b.t[1] AND i.finalized_at < b.t[b.n + 1]
), due AS (
    SELECT width_bucket(greatest(i.finalized_at, i.due_at), b.e) AS first_k,
           coalesce(width_bucket({_CLOSED_AT}, b.e), b.n) AS last_k,
           i.amount_due_minor - i.paid_minor AS due_minor, b.n
    FROM invoices i, b
    WHERE i.organization_id = :org AND i.currency = :currency AND i.finalized_at IS NOT NULL
      AND i.due_at IS NOT NULL AND greatest(i.finalized_at, i.due_at) < b.e[b.n]
)
SELECT 'invoiced' AS figure, k, sum(total_minor) AS minor FROM fin GROUP BY k
UNION ALL
SELECT 'usage', k, -sum(progressive_credit_minor) FROM fin GROUP BY k
UNION ALL
SELECT 'usage', fin.k, sum(l.amount_minor) FROM fin
JOIN invoice_lines l ON l.invoice_id = fin.id AND l.organization_id = :org AND l.kind = 'CHARGE'
GROUP BY fin.k
UNION ALL
SELECT 'collected', width_bucket(i.paid_at, b.t) - 1, sum(i.paid_minor) FROM invoices i, b
WHERE i.organization_id = :org AND i.currency = :currency AND i.finalized_at IS NOT NULL AND i.paid_minor <> 0
  AND i.paid_at >= b.t[1] AND i.paid_at < b.t[b.n + 1]
GROUP BY 2
UNION ALL
SELECT 'collected', width_bucket(c.created_at, b.t) - 1, -sum(c.amount_minor) FROM credit_notes c, b
WHERE c.organization_id = :org AND c.currency = :currency AND c.kind = 'REFUND'
  AND c.created_at >= b.t[1] AND c.created_at < b.t[b.n + 1]
GROUP BY 2
UNION ALL
SELECT 'overdue', first_k, sum(due_minor) FROM due WHERE first_k < last_k GROUP BY first_k
UNION ALL
SELECT 'overdue', last_k, -sum(due_minor) FROM due WHERE first_k < last_k AND last_k < n GROUP BY last_k
""")

# What of the invoices can change the figures by time alone after :as_of (domain/analytics.py `invoice_moments`):
# the first open invoice to fall due, and whether an invoice was finalized or closed at :as_of itself.
INVOICE_MOMENTS = text(f"""
SELECT min(greatest(i.finalized_at, i.due_at)) FILTER (
           WHERE {_CLOSED_AT} IS NULL AND i.due_at IS NOT NULL AND greatest(i.finalized_at, i.due_at) >= a.at
       ) AS next_due,
       coalesce(bool_or(i.finalized_at = a.at OR {_CLOSED_AT} = a.at), false) AS at_as_of
FROM invoices i, (SELECT CAST(:as_of AS timestamptz) AS at) a
WHERE i.organization_id = :org AND i.currency = :currency AND i.finalized_at IS NOT NULL
""")


# `version`: the organization's latest audit sequence number (every change to what analytics read writes one).
SETTINGS_AND_VERSION = """
SELECT o.timezone, o.default_currency,
       coalesce((SELECT max(a.seq) FROM audit_entries a WHERE a.organization_id = $1), 0)
FROM organizations o WHERE o.id = $1
"""

class AnalyticsRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    async def settings_and_version(self) -> tuple[str, str, int]:
        """The organization's time zone, default currency and `version`, in one statement (every revenueMetrics
        request reads them, so it goes to asyncpg as it is; LookupError if there is no such organization)."""
        conn = await driver_connection(self.session)
        row = await conn.fetchrow(SETTINGS_AND_VERSION, self.organization_id)
        if row is None:
            raise LookupError(f"no organization {self.organization_id}")
        return row[0], row[1], int(row[2])

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
                Invoice.uncollectible_at,
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

    async def cash_sums(self, currency: str, thresholds: Sequence[datetime]) -> list[Row]:
        """Rows (figure, k, minor) of the cash figures of the windows between `thresholds` (`CASH_SUMS`)."""
        values = {
            "org": self.organization_id,
            "currency": currency,
            "t": list(thresholds),
            "e": list(thresholds[1:]),
            "n": len(thresholds) - 1,
        }
        return list((await self.session.execute(CASH_SUMS, values)).all())

    async def invoice_moments(self, currency: str, as_of: datetime) -> list[datetime]:
        """`domain.analytics.invoice_moments` of the organization's finalized invoices in `currency`, in SQL."""
        row = (
            await self.session.execute(
                INVOICE_MOMENTS, {"org": self.organization_id, "currency": currency, "as_of": as_of}
            )
        ).one()
        return [at for at in (row.next_due, as_of if row.at_as_of else None) if at is not None]

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
