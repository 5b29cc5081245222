"""Errors a use case reports to its caller: a stable code, a field path, a message.

Codes are enums, one per area, as in `domain.errors`: `CommonCode` for what every area says,
then one enum per service area. A `StrEnum` member equals its string, so clients see the same
codes as before. `NotFound(Resource.PLAN, …)` says which resource is missing and gives
`PLAN_NOT_FOUND`; the older form `NotFound("message", code=…)` still works (code `NOT_FOUND`
unless one is given), for the lookups whose clients have always seen the plain `NOT_FOUND`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar, TypeVar

from domain.errors import DomainError

T = TypeVar("T")


class CommonCode(StrEnum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    REQUIRED = "REQUIRED"
    INVALID_ID = "INVALID_ID"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_EMAIL = "INVALID_EMAIL"
    UNKNOWN_COUNTRY = "UNKNOWN_COUNTRY"
    NAIVE_DATETIME = "NAIVE_DATETIME"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    INVALID_DECIMAL = "INVALID_DECIMAL"
    INVALID_AMOUNT = "INVALID_AMOUNT"


class Resource(StrEnum):
    """What a lookup did not find; `NotFound(resource)` reports `<RESOURCE>_NOT_FOUND`."""

    CUSTOMER = "CUSTOMER"
    PLAN = "PLAN"
    SUBSCRIPTION = "SUBSCRIPTION"
    WALLET = "WALLET"
    INVOICE = "INVOICE"
    INVOICE_LINE = "INVOICE_LINE"
    BANK_TRANSACTION = "BANK_TRANSACTION"

    @property
    def not_found(self) -> str:
        return f"{self.value}_NOT_FOUND"

    @property
    def label(self) -> str:
        return self.value.lower().replace("_", " ")


class CatalogCode(StrEnum):
    INVALID_CODE = "INVALID_CODE"
    INVALID_FILTER_VALUES = "INVALID_FILTER_VALUES"
    INVALID_THRESHOLDS = "INVALID_THRESHOLDS"
    UNKNOWN_FILTER = "UNKNOWN_FILTER"
    UNKNOWN_FILTER_VALUE = "UNKNOWN_FILTER_VALUE"
    UNKNOWN_METRIC = "UNKNOWN_METRIC"
    PRORATION_NOT_SUPPORTED = "PRORATION_NOT_SUPPORTED"
    PERCENTAGE_REQUIRES_SUM = "PERCENTAGE_REQUIRES_SUM"
    INVALID_TRIAL = "INVALID_TRIAL"
    ONE_TARGET_REQUIRED = "ONE_TARGET_REQUIRED"


class CustomerCode(StrEnum):
    INVALID_METADATA = "INVALID_METADATA"
    CURRENCY_LOCKED = "CURRENCY_LOCKED"
    CUSTOMER_HAS_LIVE_SUBSCRIPTIONS = "CUSTOMER_HAS_LIVE_SUBSCRIPTIONS"


class SubscriptionCode(StrEnum):
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    INVALID_TRIAL = "INVALID_TRIAL"
    TRIAL_NOT_CHANGEABLE = "TRIAL_NOT_CHANGEABLE"  # a plan change keeps the subscription's trial
    SUBSCRIPTION_ENDED = "SUBSCRIPTION_ENDED"
    SAME_PLAN = "SAME_PLAN"


class CreditCode(StrEnum):
    COUPON_ALREADY_APPLIED = "COUPON_ALREADY_APPLIED"
    NOTHING_TO_TOP_UP = "NOTHING_TO_TOP_UP"
    DUPLICATE_LINE = "DUPLICATE_LINE"
    INVOICE_NOT_CREDITABLE = "INVOICE_NOT_CREDITABLE"
    CREDIT_NOTE_TOO_LARGE = "CREDIT_NOTE_TOO_LARGE"
    REFUND_TOO_LARGE = "REFUND_TOO_LARGE"


class AccessCode(StrEnum):
    """Staff users, API keys, sessions and logins."""

    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"  # noqa: S105 (a code, not a password)
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"  # noqa: S105
    LAST_OWNER = "LAST_OWNER"
    CANNOT_DISABLE_SELF = "CANNOT_DISABLE_SELF"
    INVALID_SESSION_LIFETIME = "INVALID_SESSION_LIFETIME"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ORGANIZATION_REQUIRED = "ORGANIZATION_REQUIRED"
    NOT_A_SESSION = "NOT_A_SESSION"
    SESSION_AT_MAX_AGE = "SESSION_AT_MAX_AGE"  # refreshSession: the session lives no longer (log in again)
    SECOND_FACTOR_ALREADY_ON = "SECOND_FACTOR_ALREADY_ON"
    SECOND_FACTOR_NOT_STARTED = "SECOND_FACTOR_NOT_STARTED"
    SECOND_FACTOR_NOT_ON = "SECOND_FACTOR_NOT_ON"
    SECOND_FACTOR_REQUIRED = "SECOND_FACTOR_REQUIRED"  # neither a code nor a recovery code (or both)
    INVALID_SECOND_FACTOR = "INVALID_SECOND_FACTOR"  # the code or recovery code is wrong
    SECOND_FACTOR_REUSED = "SECOND_FACTOR_REUSED"  # a code of a step already used (replay)
    INVALID_CHALLENGE = "INVALID_CHALLENGE"  # the login challenge is expired, forged or spent
    CANNOT_RESET_OWN_SECOND_FACTOR = "CANNOT_RESET_OWN_SECOND_FACTOR"  # an admin turns their own off with a code


class OrganizationCode(StrEnum):
    INVALID_INVOICE_PREFIX = "INVALID_INVOICE_PREFIX"
    INVALID_PAYMENT_TERM = "INVALID_PAYMENT_TERM"
    INVALID_GRACE_PERIOD = "INVALID_GRACE_PERIOD"
    INVALID_RATE_LIMIT = "INVALID_RATE_LIMIT"


class BankTransactionCode(StrEnum):
    """Matching an imported bank statement line to an invoice by hand (`matchBankTransaction`), ignoring it
    (`ignoreBankTransaction`) and restoring it (`restoreBankTransaction`)."""

    BANK_TRANSACTION_ALREADY_MATCHED = "BANK_TRANSACTION_ALREADY_MATCHED"
    BANK_TRANSACTION_ALREADY_IGNORED = "BANK_TRANSACTION_ALREADY_IGNORED"  # ignoreBankTransaction: IGNORED already
    BANK_TRANSACTION_IGNORED = "BANK_TRANSACTION_IGNORED"  # matchBankTransaction: restore the line first
    BANK_TRANSACTION_NOT_IGNORED = "BANK_TRANSACTION_NOT_IGNORED"  # restoreBankTransaction: nothing to restore
    BANK_TRANSACTION_NOT_A_PAYMENT = "BANK_TRANSACTION_NOT_A_PAYMENT"  # money paid out, pending, or a reversal
    INVOICE_NOT_OPEN = "INVOICE_NOT_OPEN"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"


class UseCaseError(DomainError):
    """Bad input found by a use case (not by a pure rule): same shape as a DomainError."""

    code: ClassVar[str] = CommonCode.INVALID

    def __init__(self, message: str, *, field: Sequence[str] = (), code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code is not None:
            self.code = code  # type: ignore[misc]  # this instance's own code


class NotFound(UseCaseError):
    """`NotFound(Resource.PLAN, "no plan with code 'x'", field=("planCode",))` → `PLAN_NOT_FOUND`.

    `NotFound("no invoice with this id", field=("id",))` (no resource) keeps the plain `NOT_FOUND`.
    """

    code: ClassVar[str] = CommonCode.NOT_FOUND

    def __init__(
        self,
        resource: Resource | str,
        message: str | None = None,
        *,
        field: Sequence[str] = (),
        code: str | None = None,
    ) -> None:
        if isinstance(resource, Resource):
            self.resource: Resource | None = resource
            super().__init__(message or f"{resource.label} not found", field=field, code=code or resource.not_found)
        else:  # the older form: the message first
            if message is not None:
                raise TypeError("NotFound(message, …) takes the message once")
            self.resource = None
            super().__init__(resource, field=field, code=code)


class AlreadyExists(UseCaseError):
    code = CommonCode.ALREADY_EXISTS


class Invalid(UseCaseError):
    code = CommonCode.INVALID


def found(row: T | None, missing: Exception) -> T:
    """The row a lookup returned, or `missing` raised: the get-or-404 of every use case."""
    if row is None:
        raise missing
    return row


class Unauthenticated(Exception):
    """The credentials are missing, malformed, unknown, revoked or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """The caller is known but its role does not allow the operation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
