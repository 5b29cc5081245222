"""Dunning: the retry schedule of a failed invoice, hard vs soft declines, the final action.

Decisions:

- Attempt 1 is the first charge of an invoice. The schedule's intervals are the gaps between
  successive attempts (`retryIntervals: ["P1D", "P2D"]`: attempt 2 one day after attempt 1,
  attempt 3 two days after attempt 2); with more attempts than intervals the last gap
  repeats. Planned times are counted from the first attempt, so a late worker never pushes
  the whole schedule back and the window (first attempt → last attempt) is fixed.
- The default schedule is 8 attempts within 14 days, as Stripe's Smart Retries default:
  attempts on days 0, 1, 3, 5, 7, 9, 11 and 14.
- Durations are ISO 8601 with fixed lengths only: weeks, days, hours, minutes, seconds
  (`P1D`, `PT12H`, `P1DT6H`, `P2W`). Years and months have no fixed length and are refused
  (write `P30D`). Each gap is between 1 minute and 90 days; at most 20 attempts.
- A hard decline (the card is stolen, closed, not allowed…) stops the retries: retrying
  cannot succeed, so the customer is asked for a new payment method and the final action
  waits for the end of the window. A soft decline (insufficient funds, a processing error…)
  retries on the schedule. A code nobody knows is soft: the schedule bounds the retries.
  A provider that could not be reached is no decline at all; it is retried like a soft one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import InvalidDuration, InvalidRetrySchedule, NaiveDatetime
from domain.payments import PaymentProvider

MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=90)
MAX_ATTEMPTS = 20

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d{1,4})W)?(?:(?P<days>\d{1,5})D)?"
    r"(?:T(?:(?P<hours>\d{1,6})H)?(?:(?P<minutes>\d{1,7})M)?(?:(?P<seconds>\d{1,9})S)?)?"
)
_CALENDAR_PART = re.compile(r"P(?:\d+Y|\d+M|[^T]*\d+[YM])")


def parse_duration(text: str, *, field: Sequence[str] = ()) -> timedelta:
    """An ISO 8601 duration of fixed length (weeks, days, hours, minutes, seconds) as a timedelta."""
    if not isinstance(text, str):
        raise TypeError(f"a duration must be a str, not {type(text).__name__}")
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        if _CALENDAR_PART.match(text or ""):
            raise InvalidDuration(f"{text!r}: years and months have no fixed length; use days (e.g. P30D)", field=field)
        raise InvalidDuration(f"{text!r} is not an ISO 8601 duration such as P1D or PT12H", field=field)
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    return timedelta(**parts)


def format_duration(value: timedelta) -> str:
    """The shortest ISO 8601 text of a whole-second duration (`P1DT6H`, `PT30M`)."""
    seconds = int(value.total_seconds())
    if seconds <= 0 or value != timedelta(seconds=seconds):
        raise ValueError("only positive whole-second durations have a text form here")
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return text + ("T" + time if time else "")


DEFAULT_INTERVALS: tuple[timedelta, ...] = tuple(timedelta(days=d) for d in (1, 2, 2, 2, 2, 2, 3))
DEFAULT_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class RetrySchedule:
    """When the attempts of one invoice's collection are planned."""

    intervals: tuple[timedelta, ...] = DEFAULT_INTERVALS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool):
            raise TypeError("max_attempts must be an int")
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise InvalidRetrySchedule(f"maxAttempts must be between 1 and {MAX_ATTEMPTS}", field=("maxAttempts",))
        if self.max_attempts > 1 and not self.intervals:
            raise InvalidRetrySchedule(
                "retryIntervals needs at least one interval when more than one attempt is made",
                field=("retryIntervals",),
            )
        for index, gap in enumerate(self.intervals):
            if not MIN_INTERVAL <= gap <= MAX_INTERVAL:
                raise InvalidRetrySchedule(
                    "each retry interval must be between 1 minute and 90 days", field=("retryIntervals", str(index))
                )

    @classmethod
    def parse(cls, intervals: Sequence[str] | None = None, max_attempts: int | None = None) -> RetrySchedule:
        """A schedule from its configured text; unset parts take the default (8 attempts in 14 days)."""
        gaps = (
            DEFAULT_INTERVALS
            if intervals is None
            else tuple(parse_duration(text, field=("retryIntervals", str(i))) for i, text in enumerate(intervals))
        )
        if max_attempts is None:
            max_attempts = DEFAULT_MAX_ATTEMPTS if intervals is None else len(gaps) + 1
        return cls(gaps, max_attempts)

    def gap_before(self, attempt: int) -> timedelta:
        """Time between attempt `attempt - 1` and attempt `attempt` (attempt ≥ 2)."""
        if attempt < 2:
            raise ValueError("the first attempt has no gap before it")
        return self.intervals[min(attempt - 2, len(self.intervals) - 1)]

    def offsets(self) -> tuple[timedelta, ...]:
        """Offset of every attempt from the first (the first is 0)."""
        found = [timedelta(0)]
        for attempt in range(2, self.max_attempts + 1):
            found.append(found[-1] + self.gap_before(attempt))
        return tuple(found)

    @property
    def window(self) -> timedelta:
        """From the first attempt to the last one planned."""
        return self.offsets()[-1]

    def planned_at(self, first_attempt_at: datetime, attempt: int) -> datetime:
        """When attempt number `attempt` (1-based) is planned."""
        _require_aware(first_attempt_at)
        if not 1 <= attempt <= self.max_attempts:
            raise ValueError(f"attempt {attempt} is outside 1..{self.max_attempts}")
        return first_attempt_at + self.offsets()[attempt - 1]

    def next_attempt_at(self, first_attempt_at: datetime, attempts_made: int) -> datetime | None:
        """When the attempt after `attempts_made` is due, or None once the schedule is spent."""
        if attempts_made >= self.max_attempts:
            return None
        return self.planned_at(first_attempt_at, max(attempts_made, 0) + 1)

    def ends_at(self, first_attempt_at: datetime) -> datetime:
        _require_aware(first_attempt_at)
        return first_attempt_at + self.window


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime("times must carry a time zone")


# --- declines -------------------------------------------------------------------------


class DeclineKind(enum.StrEnum):
    HARD = "HARD"  # retrying cannot succeed: ask the customer for another payment method
    SOFT = "SOFT"  # may succeed later: retry on the schedule


# Stripe's decline codes (`decline_code`, or `code` where no decline code is given) that a
# retry cannot fix, including the ACH Direct Debit failure codes of `us_bank_account`.
STRIPE_HARD_DECLINES = frozenset(
    {
        "authentication_required",
        "card_not_supported",
        "currency_not_supported",
        "do_not_try_again",
        "expired_card",
        "fraudulent",
        "incorrect_cvc",
        "incorrect_number",
        "incorrect_zip",
        "invalid_account",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "not_permitted",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "service_not_allowed",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
        # ACH Direct Debit (us_bank_account)
        "account_closed",
        "bank_account_restricted",
        "debit_not_authorized",
        "invalid_currency",
        "no_account",
    }
)
STRIPE_SOFT_DECLINES = frozenset(
    {
        "approve_with_id",
        "call_issuer",
        "card_declined",
        "card_velocity_exceeded",
        "do_not_honor",
        "duplicate_transaction",
        "generic_decline",
        "insufficient_funds",
        "issuer_not_available",
        "no_action_taken",
        "processing_error",
        "reenter_transaction",
        "testmode_decline",
        "try_again_later",
        "withdrawal_count_limit_exceeded",
    }
)
# PayPal's issues (`details[].issue` of a 422, or a capture's status reason).
PAYPAL_HARD_DECLINES = frozenset(
    {
        "CARD_EXPIRED",
        "CARD_CLOSED",
        "PAYEE_ACCOUNT_RESTRICTED",
        "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
        "PAYER_ACCOUNT_RESTRICTED",
        "PAYER_CANNOT_PAY",
        "PAYMENT_DENIED",
        "TRANSACTION_REFUSED",
        "AGREEMENT_ALREADY_CANCELLED",
        "INVALID_RESOURCE_ID",
    }
)
PAYPAL_SOFT_DECLINES = frozenset(
    {
        "INSTRUMENT_DECLINED",
        "PAYMENT_SOURCE_DECLINED_BY_PROCESSOR",
        "INTERNAL_SERVICE_ERROR",
        "DECLINED",
        "PENDING",
    }
)


def classify_decline(provider: PaymentProvider | str, code: str | None) -> DeclineKind:
    """Whether a provider's decline code stops the retries (HARD) or not (SOFT)."""
    if not code:
        return DeclineKind.SOFT
    if PaymentProvider(provider) is PaymentProvider.PAYPAL:
        return DeclineKind.HARD if code.upper() in PAYPAL_HARD_DECLINES else DeclineKind.SOFT
    return DeclineKind.HARD if code.lower() in STRIPE_HARD_DECLINES else DeclineKind.SOFT


# --- what happens after a failed attempt ----------------------------------------------


class FinalAction(enum.StrEnum):
    MARK_UNCOLLECTIBLE = "MARK_UNCOLLECTIBLE"
    CANCEL_SUBSCRIPTION = "CANCEL_SUBSCRIPTION"
    BOTH = "BOTH"
    NONE = "NONE"

    @property
    def marks_uncollectible(self) -> bool:
        return self in (FinalAction.MARK_UNCOLLECTIBLE, FinalAction.BOTH)

    @property
    def cancels_subscription(self) -> bool:
        return self in (FinalAction.CANCEL_SUBSCRIPTION, FinalAction.BOTH)


class DunningStepKind(enum.StrEnum):
    RETRY = "RETRY"  # charge again at `at`
    AWAIT_NEW_METHOD = "AWAIT_NEW_METHOD"  # no more retries; the final action applies at `at` unless recovered
    FINAL_ACTION = "FINAL_ACTION"  # the schedule is spent: apply `final_action` now


@dataclass(frozen=True)
class DunningStep:
    kind: DunningStepKind
    at: datetime | None
    final_action: FinalAction


def after_failed_attempt(
    schedule: RetrySchedule,
    *,
    first_attempt_at: datetime,
    attempts_made: int,
    decline: DeclineKind,
    final_action: FinalAction,
) -> DunningStep:
    """What the collection of an invoice does after its attempt number `attempts_made` failed."""
    if decline is DeclineKind.HARD:
        return DunningStep(DunningStepKind.AWAIT_NEW_METHOD, schedule.ends_at(first_attempt_at), final_action)
    due = schedule.next_attempt_at(first_attempt_at, attempts_made)
    if due is None:
        return DunningStep(DunningStepKind.FINAL_ACTION, None, final_action)
    return DunningStep(DunningStepKind.RETRY, due, final_action)


# --- an organization's campaign ---------------------------------------------------------


class DunningStatus(enum.StrEnum):
    """Where an invoice stands in dunning (None on an invoice whose collection never failed)."""

    RETRYING = "RETRYING"  # a retry is planned at `nextPaymentAttemptAt`
    AWAITING_METHOD = "AWAITING_METHOD"  # hard decline: no retries; the final action waits for the window's end
    EXHAUSTED = "EXHAUSTED"  # the schedule is spent and the final action applied
    RECOVERED = "RECOVERED"  # paid after a failure


ACTIVE_STATUSES = frozenset({DunningStatus.RETRYING, DunningStatus.AWAITING_METHOD})


@dataclass(frozen=True)
class DunningCampaign:
    """An organization's dunning: whether failed invoices are retried, when, what they are told, how it ends."""

    enabled: bool = True
    schedule: RetrySchedule = RetrySchedule()
    reminder_emails: bool = True
    final_action: FinalAction = FinalAction.MARK_UNCOLLECTIBLE

    @classmethod
    def parse(
        cls,
        *,
        enabled: bool = True,
        retry_intervals: Sequence[str] | None = None,
        max_attempts: int | None = None,
        reminder_emails: bool = True,
        final_action: FinalAction | str = FinalAction.MARK_UNCOLLECTIBLE,
    ) -> DunningCampaign:
        """A campaign from its configured text: InvalidDuration / InvalidRetrySchedule on bad input."""
        schedule = RetrySchedule.parse(retry_intervals, max_attempts)
        return cls(enabled, schedule, reminder_emails, FinalAction(final_action))

    @property
    def retry_intervals(self) -> tuple[str, ...]:
        return tuple(format_duration(gap) for gap in self.schedule.intervals)


DEFAULT_CAMPAIGN = DunningCampaign()
