"""An organization's dunning campaign as the API shows it."""

from __future__ import annotations

import strawberry

from domain.dunning import DunningCampaign as CampaignModel
from domain.dunning import DunningStatus as DunningStatusModel
from domain.dunning import FinalAction as FinalActionModel

FinalAction = strawberry.enum(
    FinalActionModel,
    name="DunningFinalAction",
    description="What happens once the retry schedule is spent: mark the invoice UNCOLLECTIBLE, cancel its "
    "subscriptions, both, or nothing.",
)
DunningStatus = strawberry.enum(DunningStatusModel, name="DunningStatus")


@strawberry.type(description="How failed payments are retried and how dunning ends (defaults: 8 attempts in 14 days).")
class DunningCampaign:
    enabled: bool
    retry_intervals: list[str] = strawberry.field(
        description="ISO 8601 gaps between attempts (the last one repeats), e.g. P1D, PT12H."
    )
    max_attempts: int = strawberry.field(description="Attempts in all, the first charge included (1 to 20).")
    reminder_emails: bool
    final_action: FinalAction  # type: ignore[valid-type]
    planned_offsets: list[str] = strawberry.field(
        description="When each attempt is made, counted from the first (P0D first)."
    )

    @classmethod
    def of(cls, campaign: CampaignModel) -> DunningCampaign:
        offsets = ["P0D"] + [_duration(o) for o in campaign.schedule.offsets()[1:]]
        return cls(
            enabled=campaign.enabled,
            retry_intervals=list(campaign.retry_intervals),
            max_attempts=campaign.schedule.max_attempts,
            reminder_emails=campaign.reminder_emails,
            final_action=campaign.final_action,
            planned_offsets=offsets,
        )


def _duration(value: object) -> str:
    from datetime import timedelta

    from domain.dunning import format_duration

    assert isinstance(value, timedelta)
    return format_duration(value)
