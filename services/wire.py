"""Wire transfers: the organization's bank account an invoice shows, with the invoice's payment reference.

The account is configured with `configurePaymentProvider(provider: WIRE)` (checked and sealed by
`services.payments.configure_provider`); the reference is the invoice's `paymentReference`, an ISO 11649
structured creditor reference (RF…) made from its number at finalization (`domain.payments.payment_reference`).
What a payer sends back is matched from an imported bank statement (`services.bank_statements`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import iban, iso11649

from db.repositories.payments import PaymentRepository
from domain.payments import PaymentProvider
from integrations.payments.config import PaymentConfig
from services.provider_credentials import open_credentials


@dataclass(frozen=True)
class BankDetails:
    """Where a customer pays by bank transfer (every field as printed)."""

    account_holder: str
    bank_name: str
    iban: str | None = None  # in groups of four
    bic: str | None = None
    account_number: str | None = None
    routing_number: str | None = None

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs of what is set, in the order a payer's banking app asks for them."""
        rows = [
            ("Account holder", self.account_holder),
            ("Bank", self.bank_name),
            ("IBAN", self.iban),
            ("BIC / SWIFT", self.bic),
            ("Account number", self.account_number),
            ("Routing number (ABA)", self.routing_number),
        ]
        return [(label, value) for label, value in rows if value]


async def bank_details(session: AsyncSession, config: PaymentConfig, organization_id: uuid.UUID) -> BankDetails | None:
    """The organization's wire account, or None when it has configured none."""
    row = await PaymentRepository(session, organization_id).provider_config(PaymentProvider.WIRE.value)
    if row is None:
        return None
    secrets = open_credentials(config, row)
    return BankDetails(
        account_holder=secrets["accountHolder"],
        bank_name=secrets["bankName"],
        iban=iban.format(secrets["iban"]) if secrets.get("iban") else None,
        bic=secrets.get("bic"),
        account_number=secrets.get("accountNumber"),
        routing_number=secrets.get("routingNumber"),
    )


def printed_reference(reference: str) -> str:
    """A payment reference as printed: an RF creditor reference in groups of four, as banks ask it typed."""
    return iso11649.format(reference) if iso11649.is_valid(reference) else reference
