"""Dunning: the organization's campaign (retry schedule, reminder emails, final action)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.permissions import current_actor
from graph.types.dunning import DunningCampaign, FinalAction
from services import dunning


@strawberry.input(description="Unset fields keep their value; the whole campaign is checked before it is stored.")
class UpdateDunningCampaignInput:
    enabled: bool | None = None
    retry_intervals: list[str] | None = strawberry.field(
        default=None,
        description="ISO 8601 durations of fixed length (weeks, days, hours, minutes, seconds), each 1 minute to "
        "90 days: the gaps between attempts, the last one repeating. Months and years are refused (write P30D).",
    )
    max_attempts: int | None = strawberry.field(
        default=None, description="1 to 20 attempts, the first charge included; unset with new intervals: one more."
    )
    reminder_emails: bool | None = None
    final_action: FinalAction | None = None  # type: ignore[valid-type]


@strawberry.type
class DunningCampaignPayload:
    dunning_campaign: DunningCampaign | None
    user_errors: list[UserError]


@strawberry.type
class DunningMutations:
    @strawberry.mutation(description="Set the organization's dunning campaign (ADMIN, as payment providers).")
    async def update_dunning_campaign(
        self, info: Info[Context, None], input: UpdateDunningCampaignInput
    ) -> DunningCampaignPayload:
        change = dunning.CampaignChange(
            enabled=input.enabled,
            retry_intervals=input.retry_intervals,
            max_attempts=input.max_attempts,
            reminder_emails=input.reminder_emails,
            final_action=input.final_action,
        )
        campaign, errors = await run_use_case(info, Role.ADMIN, lambda uow, a: dunning.update_campaign(uow, a, change))
        return DunningCampaignPayload(
            dunning_campaign=DunningCampaign.of(campaign) if campaign is not None else None, user_errors=errors
        )


@strawberry.type
class DunningQueries:
    @strawberry.field(description="The organization's dunning campaign (the defaults when none was set).")
    async def dunning_campaign(self, info: Info[Context, None]) -> DunningCampaign:
        actor = current_actor(info)
        return DunningCampaign.of(await dunning.read_campaign(info.context.db, actor.organization_id))
