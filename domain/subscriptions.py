"""Subscription lifecycle: which status a subscription has at a given moment."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from domain.periods import require_aware


class SubscriptionStatus(enum.StrEnum):
    PENDING = "PENDING"  # starts in the future
    TRIALING = "TRIALING"  # started, trial not over: the fee is not billed
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"  # an invoice is unpaid past its due date (dunning)
    CANCELED = "CANCELED"  # ended at a period end after a cancel, or canceled before it started
    TERMINATED = "TERMINATED"  # ended at once


@dataclass(frozen=True)
class Lifecycle:
    started_at: datetime
    trial_ends_at: datetime | None = None
    ending_at: datetime | None = None  # a cancel takes effect here (a period end)
    ended_status: SubscriptionStatus | None = None  # set when ended at once
    past_due: bool = False


def status_at(lifecycle: Lifecycle, at: datetime) -> SubscriptionStatus:
    """Statuses that follow from time are derived, so they never wait for a job to flip them."""
    at = require_aware(at, "at")
    if lifecycle.ended_status is not None:
        return lifecycle.ended_status
    if lifecycle.ending_at is not None and at >= lifecycle.ending_at:
        return SubscriptionStatus.CANCELED
    if at < lifecycle.started_at:
        return SubscriptionStatus.PENDING
    if lifecycle.past_due:
        return SubscriptionStatus.PAST_DUE
    if lifecycle.trial_ends_at is not None and at < lifecycle.trial_ends_at:
        return SubscriptionStatus.TRIALING
    return SubscriptionStatus.ACTIVE


def is_live(status: SubscriptionStatus) -> bool:
    """Still billable now or later."""
    return status not in (SubscriptionStatus.CANCELED, SubscriptionStatus.TERMINATED)
