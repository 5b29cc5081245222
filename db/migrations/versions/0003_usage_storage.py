"""usage storage: time-partitioned events, idempotency keys, hourly rollups

Events are partitioned by month of their timestamp so that old months can be detached or
dropped without touching the rest. PostgreSQL cannot enforce a unique key across range
partitions unless it includes the partition key, so exactly-once lives in its own table,
usage_event_keys (organization, transaction id). usage_rollups holds COUNT/SUM/MAX per
customer, subscription, metric, filter dimensions and hour, so current usage does not scan
raw events for those aggregations.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TABLE usage_events")
    op.execute("""
        CREATE TABLE usage_event_keys (
            organization_id uuid NOT NULL,
            transaction_id varchar(200) NOT NULL,
            PRIMARY KEY (organization_id, transaction_id)
        )""")
    op.execute("""
        CREATE TABLE usage_events (
            organization_id uuid NOT NULL,
            transaction_id varchar(200) NOT NULL,
            customer_external_id varchar(200) NOT NULL,
            subscription_external_id varchar(200),
            metric_code varchar(100) NOT NULL,
            "timestamp" timestamptz NOT NULL,
            properties jsonb NOT NULL,
            value numeric,
            dims text NOT NULL DEFAULT '',
            received_at timestamptz NOT NULL
        ) PARTITION BY RANGE ("timestamp")""")
    op.execute("""CREATE INDEX ix_usage_events_customer_metric_time
                  ON usage_events (organization_id, customer_external_id, metric_code, "timestamp")""")
    op.execute("CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT")
    op.execute("""
        CREATE TABLE usage_rollups (
            organization_id uuid NOT NULL,
            customer_external_id varchar(200) NOT NULL,
            subscription_external_id varchar(200) NOT NULL,
            metric_code varchar(100) NOT NULL,
            dims text NOT NULL,
            hour timestamptz NOT NULL,
            events bigint NOT NULL,
            value_sum numeric NOT NULL,
            value_max numeric,
            PRIMARY KEY (organization_id, customer_external_id, metric_code, hour, subscription_external_id, dims)
        )""")
    # Partitions for the months around now; the worker keeps creating the coming ones.
    op.execute("""
        DO $$
        DECLARE m date;
        BEGIN
          FOR m IN SELECT generate_series(date_trunc('month', now()) - interval '2 months',
                                          date_trunc('month', now()) + interval '2 months',
                                          interval '1 month')::date LOOP
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                           'usage_events_' || to_char(m, 'YYYYMM'), m, (m + interval '1 month')::date);
          END LOOP;
        END $$""")


def downgrade() -> None:
    op.execute("DROP TABLE usage_rollups")
    op.execute("DROP TABLE usage_events")
    op.execute("DROP TABLE usage_event_keys")
    op.execute("""
        CREATE TABLE usage_events (
            id bigserial PRIMARY KEY,
            organization_id uuid NOT NULL,
            transaction_id varchar(200) NOT NULL,
            customer_external_id varchar(200) NOT NULL,
            subscription_external_id varchar(200),
            metric_code varchar(100) NOT NULL,
            "timestamp" timestamptz NOT NULL,
            properties jsonb NOT NULL,
            received_at timestamptz NOT NULL,
            CONSTRAINT uq_usage_events_organization_id UNIQUE (organization_id, transaction_id)
        )""")
