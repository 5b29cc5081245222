import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from db.models import Base
from db.session import async_url

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Partitioned usage tables (and their partitions) are managed by hand-written migrations."""
    if type_ == "table" and (name or "").startswith(("usage_events", "usage_event_keys", "usage_rollups")):
        return False
    return not (type_ == "table" and getattr(obj, "info", {}).get("skip_autogenerate"))


def run_sync(connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(async_url(config.get_main_option("sqlalchemy.url")))
    async with engine.connect() as connection:
        await connection.run_sync(run_sync)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
