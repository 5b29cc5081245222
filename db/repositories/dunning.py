"""Dunning: an organization's campaign, the invoices in dunning, their subscriptions, emails sent once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from db.models import (
    Customer,
    DunningCampaign,
    EmailDelivery,
    Invoice,
    InvoiceLine,
    PaymentAttempt,
    PaymentMethod,
    Subscription,
)
from db.repositories.base import OrganizationScoped

ACTIVE = ("RETRYING", "AWAITING_METHOD")


class DunningRepository(OrganizationScoped):
    async def campaign(self, *, for_update: bool = False) -> DunningCampaign | None:
        stmt = select(DunningCampaign).where(DunningCampaign.organization_id == self.organization_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def subscriptions_of_invoice(
        self, invoice_id: uuid.UUID, *, for_update: bool = False
    ) -> Sequence[Subscription]:
        """The subscriptions billed on an invoice (by its lines)."""
        billed = select(InvoiceLine.subscription_external_id).where(
            InvoiceLine.invoice_id == invoice_id, InvoiceLine.subscription_external_id.is_not(None)
        )
        stmt = select(Subscription).where(
            Subscription.organization_id == self.organization_id, Subscription.external_id.in_(billed)
        )
        if for_update:
            stmt = stmt.with_for_update(of=Subscription)
        return (await self.session.scalars(stmt)).unique().all()

    async def other_invoice_in_dunning(self, subscription_external_id: str, invoice_id: uuid.UUID) -> bool:
        """Whether another invoice billing this subscription is still in dunning."""
        stmt = select(
            exists(
                select(Invoice.id)
                .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
                .where(
                    Invoice.organization_id == self.organization_id,
                    Invoice.id != invoice_id,
                    Invoice.dunning_status.in_(ACTIVE),
                    InvoiceLine.subscription_external_id == subscription_external_id,
                )
            )
        )
        return bool(await self.session.scalar(stmt))

    async def awaiting_method(self, customer_id: uuid.UUID) -> Sequence[Invoice]:
        """A customer's open invoices whose dunning waits for a new payment method (locked, oldest first)."""
        stmt = (
            select(Invoice)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id == customer_id,
                Invoice.status == "OPEN",
                Invoice.dunning_status == "AWAITING_METHOD",
            )
            .order_by(Invoice.finalized_at, Invoice.id)
            .with_for_update(of=Invoice)
        )
        return (await self.session.scalars(stmt)).all()

    # --- a test clock's customers (services/test_clocks.py) --------------------------------------------

    async def next_collection(
        self, customer_ids: Sequence[uuid.UUID], since: datetime, until: datetime
    ) -> datetime | None:
        """The first moment in the window at which an invoice of these customers is to be charged: finalized and
        never attempted (finalized after `since`), a retry planned, or a final action waiting."""
        if not customer_ids:
            return None
        never_attempted = (
            select(Invoice.finalized_at)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id.in_(customer_ids),
                Invoice.status == "OPEN",
                Invoice.amount_due_minor > Invoice.paid_minor,
                Invoice.finalized_at > since,
                Invoice.finalized_at <= until,
                ~exists(select(PaymentAttempt.id).where(PaymentAttempt.invoice_id == Invoice.id)),
                exists(
                    select(PaymentMethod.id).where(
                        PaymentMethod.customer_id == Invoice.customer_id, PaymentMethod.is_default
                    )
                ),
            )
            .order_by(Invoice.finalized_at)
            .limit(1)
        )
        planned = (
            select(Invoice.next_payment_attempt_at)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id.in_(customer_ids),
                Invoice.dunning_status == "RETRYING",
                Invoice.next_payment_attempt_at > since,
                Invoice.next_payment_attempt_at <= until,
            )
            .order_by(Invoice.next_payment_attempt_at)
            .limit(1)
        )
        ending = (
            select(Invoice.dunning_ends_at)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id.in_(customer_ids),
                Invoice.dunning_status == "AWAITING_METHOD",
                Invoice.dunning_ends_at > since,
                Invoice.dunning_ends_at <= until,
            )
            .order_by(Invoice.dunning_ends_at)
            .limit(1)
        )
        # One round trip: LEAST ignores the NULLs of the parts that have nothing due.
        return await self.session.scalar(
            select(
                func.least(never_attempted.scalar_subquery(), planned.scalar_subquery(), ending.scalar_subquery())
            )
        )

    async def due_for_collection(
        self, customer_ids: Sequence[uuid.UUID], since: datetime, moment: datetime
    ) -> Sequence[tuple[uuid.UUID, str, int | None]]:
        """(invoice, what is due, attempt number) at `moment`: FIRST (never attempted), RETRY (planned), FINAL
        (the window of a hard decline ended), oldest first."""
        if not customer_ids:
            return []
        last_attempt = (
            select(PaymentAttempt.number)
            .where(PaymentAttempt.invoice_id == Invoice.id)
            .order_by(PaymentAttempt.number.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(Invoice.id, Invoice.dunning_status, Invoice.finalized_at, last_attempt)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id.in_(customer_ids),
                Invoice.status == "OPEN",
                Invoice.amount_due_minor > Invoice.paid_minor,
                or_(
                    and_(
                        Invoice.dunning_status.is_(None),
                        Invoice.finalized_at > since,
                        Invoice.finalized_at <= moment,
                        ~exists(select(PaymentAttempt.id).where(PaymentAttempt.invoice_id == Invoice.id)),
                        exists(
                            select(PaymentMethod.id).where(
                                PaymentMethod.customer_id == Invoice.customer_id, PaymentMethod.is_default
                            )
                        ),
                    ),
                    and_(Invoice.dunning_status == "RETRYING", Invoice.next_payment_attempt_at <= moment),
                    and_(Invoice.dunning_status == "AWAITING_METHOD", Invoice.dunning_ends_at <= moment),
                ),
            )
            .order_by(Invoice.finalized_at, Invoice.id)
        )
        due: list[tuple[uuid.UUID, str, int | None]] = []
        for invoice_id, status, _finalized, last in rows.all():
            if status is None:
                due.append((invoice_id, "FIRST", 1))
            elif status == "RETRYING":
                due.append((invoice_id, "RETRY", (last or 0) + 1))
            else:
                due.append((invoice_id, "FINAL", None))
        return due

    # --- emails -------------------------------------------------------------------------------------

    async def email_sent(self, key: str) -> bool:
        stmt = select(
            exists(select(EmailDelivery.id).where(EmailDelivery.organization_id == self.organization_id,
                                                  EmailDelivery.key == key))
        )
        return bool(await self.session.scalar(stmt))

    async def keep_email(self, values: dict) -> bool:
        """Note an email sent (or logged) once: True when this call noted it."""
        result = await self.session.execute(
            insert(EmailDelivery)
            .values(id=uuid.uuid4(), organization_id=self.organization_id, **values)
            .on_conflict_do_nothing()
            .returning(EmailDelivery.id)
        )
        return result.scalar() is not None
