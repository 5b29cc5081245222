"""What `issue_invoice` is asked to make: one value per kind of invoice, each saying how its kind is billed
(its billing key, whether coupons, credit notes and prepaid credits apply, whether it is taxed, a draft)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from domain.billing_keys import BillingKey
from domain.numbering import InvoiceKind
from domain.periods import Period
from services.billing.due import DueLine


@dataclass(frozen=True, kw_only=True)
class _NewInvoice:
    lines: Sequence[DueLine]
    currency: str
    period: Period  # what it bills, shown on the invoice

    kind: ClassVar[InvoiceKind]
    deductions: ClassVar[bool] = False  # the customer's coupons, credit notes and prepaid credits apply
    taxed: ClassVar[bool] = True
    draft: bool = False  # kept refreshable; deductions and the number come at finalization
    progressive_credit: Decimal = Decimal(0)  # billed already by interim invoices: deducted before tax

    @property
    def billing_key(self) -> str | None:
        """Unique per customer: what makes issuing it idempotent (None: each call makes one)."""
        return None


@dataclass(frozen=True, kw_only=True)
class BillingDateInvoice(_NewInvoice):
    """A billing date of the customer's subscriptions: every period that ended then, and fees in advance."""

    kind: ClassVar[InvoiceKind] = InvoiceKind.SUBSCRIPTION
    deductions: ClassVar[bool] = True
    at: datetime

    @property
    def billing_key(self) -> str:
        return str(BillingKey.billing_date(self.at))


@dataclass(frozen=True, kw_only=True)
class UpgradeInvoice(_NewInvoice):
    """The new plan's fee in advance, billed at once by an upgrade."""

    kind: ClassVar[InvoiceKind] = InvoiceKind.SUBSCRIPTION
    deductions: ClassVar[bool] = True
    subscription_id: uuid.UUID
    at: datetime

    @property
    def billing_key(self) -> str:
        return str(BillingKey.upgrade(self.subscription_id, self.at))


@dataclass(frozen=True, kw_only=True)
class InterimInvoice(_NewInvoice):
    """Progressive billing within a period: a threshold reached, or usage of a pay-in-advance charge."""

    kind: ClassVar[InvoiceKind] = InvoiceKind.PROGRESSIVE
    key: BillingKey

    @property
    def billing_key(self) -> str:
        return str(self.key)


@dataclass(frozen=True, kw_only=True)
class OneOffInvoice(_NewInvoice):
    """Add-ons and services outside subscriptions: taxed like everything else, finalized at once."""

    kind: ClassVar[InvoiceKind] = InvoiceKind.ONE_OFF


@dataclass(frozen=True, kw_only=True)
class CreditPurchaseInvoice(_NewInvoice):
    """Paid prepaid credits: not taxed (tax applies when the credits are spent)."""

    kind: ClassVar[InvoiceKind] = InvoiceKind.CREDIT_PURCHASE
    taxed: ClassVar[bool] = False


NewInvoice = BillingDateInvoice | UpgradeInvoice | InterimInvoice | OneOffInvoice | CreditPurchaseInvoice
