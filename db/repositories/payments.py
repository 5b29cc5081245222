"""Provider configs, provider customers, payment methods, collection attempts and payments of one organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from db.models import Payment, PaymentAttempt, PaymentMethod, PaymentProviderConfig, ProviderCustomer
from db.repositories.base import OrganizationScoped


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

    async def list_payments(
        self, *, invoice_id: uuid.UUID | None, customer_id: uuid.UUID | None, limit: int, offset: int
    ) -> Sequence[Payment]:
        stmt = select(Payment).where(Payment.organization_id == self.organization_id)
        if invoice_id is not None:
            stmt = stmt.where(Payment.invoice_id == invoice_id)
        if customer_id is not None:
            stmt = stmt.where(Payment.customer_id == customer_id)
        rows = await self.session.scalars(
            stmt.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit).offset(offset)
        )
        return rows.all()
