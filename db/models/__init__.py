"""SQLAlchemy models, one module per aggregate."""

from db.models.alerts import UsageAlert, UsageAlertFiring
from db.models.audit import AuditEntry
from db.models.bank import BankTransaction
from db.models.base import Base
from db.models.catalog import BillableMetric, Charge, Plan
from db.models.credits import AppliedCoupon, Coupon, CreditNote, CreditNoteItem, Wallet, WalletTransaction
from db.models.customer import Customer, PortalSession
from db.models.invoice import Invoice, InvoiceLine, InvoiceNumberSequence, TaxRate, TaxRateAssignment
from db.models.organization import (
    ApiKey,
    Organization,
    OrganizationMode,
    Role,
    StaffRecoveryCode,
    StaffSecondFactor,
    StaffSession,
    StaffUser,
)
from db.models.outbox import outbox
from db.models.payments import (
    DunningCampaign,
    EmailDelivery,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentProviderConfig,
    ProviderCustomer,
    ProviderEventReceipt,
)
from db.models.subscription import Subscription, SubscriptionPhase
from db.models.test_clock import TestClock, TestClockStatus
from db.models.usage import usage_event_keys, usage_events, usage_rollups
from db.models.webhook import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "ApiKey",
    "AppliedCoupon",
    "AuditEntry",
    "BankTransaction",
    "Base",
    "BillableMetric",
    "Charge",
    "Coupon",
    "CreditNote",
    "CreditNoteItem",
    "Customer",
    "DunningCampaign",
    "EmailDelivery",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "Organization",
    "OrganizationMode",
    "Payment",
    "PaymentAttempt",
    "PaymentMethod",
    "PaymentProviderConfig",
    "Plan",
    "PortalSession",
    "ProviderCustomer",
    "ProviderEventReceipt",
    "Role",
    "StaffRecoveryCode",
    "StaffSecondFactor",
    "StaffSession",
    "StaffUser",
    "Subscription",
    "SubscriptionPhase",
    "TaxRate",
    "TaxRateAssignment",
    "TestClock",
    "TestClockStatus",
    "UsageAlert",
    "UsageAlertFiring",
    "Wallet",
    "WalletTransaction",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "outbox",
    "usage_event_keys",
    "usage_events",
    "usage_rollups",
]
