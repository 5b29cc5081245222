from __future__ import annotations

from datetime import datetime

import strawberry

from db.models import TestClock as TestClockModel


@strawberry.type(description="A TEST organization's own time for the customers created on it.")
class TestClock:
    id: strawberry.ID
    name: str
    frozen_time: datetime = strawberry.field(description="The time the clock's customers read as now.")
    status: str = strawberry.field(description="READY, or ADVANCING while an advance runs what falls due.")
    created_at: datetime

    @classmethod
    def of(cls, row: TestClockModel) -> TestClock:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            frozen_time=row.frozen_time,
            status=row.status,
            created_at=row.created_at,
        )
