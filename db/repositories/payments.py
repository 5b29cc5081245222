"""Provider configs, provider customers, payment methods, collection attempts and payments of one organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert

from db.models import Customer, Invoice, Payment, PaymentAttempt, PaymentMethod, PaymentProviderConfig, ProviderCustomer
from db.repositories.base import OrganizationScoped
from db.repositories.pagination import Page, paginate


class PaymentRepository(OrganizationScoped):
    async def provider_config(self, provider: str, *, for_update: bool = False) -> PaymentProviderConfig | None:
        stmt = select(PaymentProviderConfig).where(
            PaymentProviderConfig.organization_id == self.organization_id, PaymentProviderConfig.provider == provider
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def provider_customer(self, customer_id: uuid.UUID, provider: str) -> ProviderCustomer | None:
        return await self.session.scalar(
            select(ProviderCustomer).where(
                ProviderCustomer.organization_id == self.organization_id,
                ProviderCustomer.customer_id == customer_id,
                ProviderCustomer.provider == provider,
            )
        )

    async def keep_provider_customer(self, customer_id: uuid.UUID, provider: str, provider_customer_id: str) -> str:
        """Record our customer's id at the provider once; the first one recorded wins (returned)."""
        await self.session.execute(
            insert(ProviderCustomer)
            .values(
                id=uuid.uuid4(),
                organization_id=self.organization_id,
                customer_id=customer_id,
                provider=provider,
                provider_customer_id=provider_customer_id,
            )
            .on_conflict_do_nothing(index_elements=["customer_id", "provider"])
        )
        kept = await self.provider_customer(customer_id, provider)
        assert kept is not None
        return kept.provider_customer_id

    async def payment_methods(self, customer_id: uuid.UUID) -> Sequence[PaymentMethod]:
        rows = await self.session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.organization_id == self.organization_id, PaymentMethod.customer_id == customer_id)
            .order_by(PaymentMethod.created_at, PaymentMethod.id)
        )
        return rows.all()

    async def default_payment_method(self, customer_id: uuid.UUID) -> PaymentMethod | None:
        return await self.session.scalar(
            select(PaymentMethod).where(
                PaymentMethod.organization_id == self.organization_id,
                PaymentMethod.customer_id == customer_id,
                PaymentMethod.is_default.is_(True),
            )
        )

    async def invoice_has_payment_method(self, invoice_id: uuid.UUID) -> bool:
        """Whether the invoice's customer has a default payment method or the invoice has attempts already."""
        has_method = (
            select(PaymentMethod.id)
            .join(Invoice, Invoice.customer_id == PaymentMethod.customer_id)
            .where(Invoice.id == invoice_id, Invoice.organization_id == self.organization_id, PaymentMethod.is_default)
        )
        has_attempt = select(PaymentAttempt.id).where(
            PaymentAttempt.invoice_id == invoice_id, PaymentAttempt.organization_id == self.organization_id
        )
        return bool(await self.session.scalar(select(exists(has_method) | exists(has_attempt))))

    async def clear_default(self, customer_id: uuid.UUID) -> None:
        await self.session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.organization_id == self.organization_id, PaymentMethod.customer_id == customer_id)
            .values(is_default=False)
        )

    async def payment_method(self, customer_id: uuid.UUID, provider: str, provider_id: str) -> PaymentMethod | None:
        return await self.session.scalar(
            select(PaymentMethod).where(
                PaymentMethod.organization_id == self.organization_id,
                PaymentMethod.customer_id == customer_id,
                PaymentMethod.provider == provider,
                PaymentMethod.provider_payment_method_id == provider_id,
            )
        )

    async def attempts(self, invoice_id: uuid.UUID) -> Sequence[PaymentAttempt]:
        rows = await self.session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.organization_id == self.organization_id, PaymentAttempt.invoice_id == invoice_id)
            .order_by(PaymentAttempt.number)
        )
        return rows.all()

    async def attempt(self, invoice_id: uuid.UUID, number: int, *, for_update: bool = False) -> PaymentAttempt | None:
        stmt = select(PaymentAttempt).where(
            PaymentAttempt.organization_id == self.organization_id,
            PaymentAttempt.invoice_id == invoice_id,
            PaymentAttempt.number == number,
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def open_attempt(self, values: dict) -> bool:
        """Insert the attempt unless (invoice, number) or its idempotency key exists: True when this call made it."""
        result = await self.session.execute(
            insert(PaymentAttempt)
            .values(id=uuid.uuid4(), organization_id=self.organization_id, **values)
            .on_conflict_do_nothing()
            .returning(PaymentAttempt.id)
        )
        return result.scalar() is not None

    async def payments_of_invoice(self, invoice_id: uuid.UUID) -> Sequence[Payment]:
        rows = await self.session.scalars(
            select(Payment)
            .where(Payment.organization_id == self.organization_id, Payment.invoice_id == invoice_id)
            .order_by(Payment.created_at, Payment.id)
        )
        return rows.all()

    async def payment(self, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None:
        stmt = select(Payment).where(Payment.organization_id == self.organization_id, Payment.id == payment_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def payment_by_provider_id(self, provider: str, provider_payment_id: str) -> Payment | None:
        return await self.session.scalar(
            select(Payment).where(
                Payment.organization_id == self.organization_id,
                Payment.provider == provider,
                Payment.provider_payment_id == provider_payment_id,
            )
        )

    async def payment_by_charge_id(self, provider: str, provider_charge_id: str) -> Payment | None:
        """The payment a provider charge (Stripe ch_…, PayPal capture id) brought in."""
        return await self.session.scalar(
            select(Payment).where(
                Payment.organization_id == self.organization_id,
                Payment.provider == provider,
                Payment.provider_charge_id == provider_charge_id,
            )
        )

    async def provider_customer_by_provider_id(self, provider: str, provider_customer_id: str) -> ProviderCustomer | None:
        return await self.session.scalar(
            select(ProviderCustomer).where(
                ProviderCustomer.organization_id == self.organization_id,
                ProviderCustomer.provider == provider,
                ProviderCustomer.provider_customer_id == provider_customer_id,
            )
        )

    async def list_payments(
        self,
        *,
        first: int | None,
        after: str | None,
        invoice_id: uuid.UUID | None = None,
        customer_external_id: str | None = None,
        with_total: bool = True,
    ) -> Page[Payment]:
        stmt = select(Payment).where(Payment.organization_id == self.organization_id)
        if invoice_id is not None:
            stmt = stmt.where(Payment.invoice_id == invoice_id)
        if customer_external_id is not None:
            stmt = stmt.join(Customer, Customer.id == Payment.customer_id).where(
                Customer.external_id == customer_external_id
            )
        return await paginate(
            self.session,
            stmt,
            (Payment.created_at, Payment.id),
            first=first,
            after=after,
            descending=True,
            with_total=with_total,
        )

    async def _grouped(self, model: Any, column: Any, ids: Sequence[uuid.UUID], *order: Any) -> dict[uuid.UUID, list]:
        grouped: dict[uuid.UUID, list] = {}
        if not ids:
            return grouped
        rows = await self.session.scalars(
            select(model).where(model.organization_id == self.organization_id, column.in_(list(ids))).order_by(*order)
        )
        for row in rows:
            grouped.setdefault(getattr(row, column.key), []).append(row)
        return grouped

    async def payments_of_invoices(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Payment]]:
        return await self._grouped(Payment, Payment.invoice_id, ids, Payment.created_at, Payment.id)

    async def attempts_of_invoices(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PaymentAttempt]]:
        return await self._grouped(PaymentAttempt, PaymentAttempt.invoice_id, ids, PaymentAttempt.number)

    async def methods_of_customers(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PaymentMethod]]:
        return await self._grouped(
            PaymentMethod, PaymentMethod.customer_id, ids, PaymentMethod.created_at, PaymentMethod.id
        )
