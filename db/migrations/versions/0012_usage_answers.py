"""kept customerUsage answers, valid while nothing they were computed from changed; invoices by creation

- usage_versions: a counter per (organization, customer external id), bumped in the same transaction as
  whatever changes that customer's usage answer: the usage writer's MERGE (new events, at any hour), and
  triggers on customers and their subscriptions and phases;
- usage_catalog_versions: a counter per organization, bumped by triggers on billable metrics, plans,
  charges (their filters included) and the organization's time zone;
- usage_answers (UNLOGGED: a cache, empty again after a crash): the last answer per (organization, customer,
  subscription asked for), with the two versions it was computed under and the time it holds for;
- ix_invoices_org_created: the organization's invoice list, newest first, without sorting them all.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 10:00:00.000000

"""

import re
from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE usage_versions (
    organization_id uuid NOT NULL,
    customer_external_id varchar(200) NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (organization_id, customer_external_id)
);
CREATE TABLE usage_catalog_versions (
    organization_id uuid PRIMARY KEY,
    version bigint NOT NULL
);
CREATE UNLOGGED TABLE usage_answers (
    organization_id uuid NOT NULL,
    customer_external_id varchar(200) NOT NULL,
    subscription_external_id varchar(200) NOT NULL,  -- '' when the question named none
    usage_version bigint NOT NULL,
    catalog_version bigint NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    answer bytea NOT NULL,
    PRIMARY KEY (organization_id, customer_external_id, subscription_external_id)
);

CREATE FUNCTION usage_bump_customer(org uuid, customer varchar) RETURNS void LANGUAGE sql AS $$
    INSERT INTO usage_versions AS v (organization_id, customer_external_id, version) VALUES (org, customer, 1)
    ON CONFLICT (organization_id, customer_external_id) DO UPDATE SET version = v.version + 1
$$;

CREATE FUNCTION usage_bump_catalog(org uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO usage_catalog_versions AS v (organization_id, version) VALUES (org, 1)
    ON CONFLICT (organization_id) DO UPDATE SET version = v.version + 1
$$;

CREATE FUNCTION usage_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'organizations' THEN
        PERFORM usage_bump_catalog(NEW.id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM usage_bump_catalog(OLD.organization_id);
    ELSE
        PERFORM usage_bump_catalog(NEW.organization_id);
        IF TG_OP = 'UPDATE' AND OLD.organization_id IS DISTINCT FROM NEW.organization_id THEN
            PERFORM usage_bump_catalog(OLD.organization_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION usage_customer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM usage_bump_customer(OLD.organization_id, OLD.external_id);
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR OLD.external_id IS DISTINCT FROM NEW.external_id
                              OR OLD.organization_id IS DISTINCT FROM NEW.organization_id) THEN
        PERFORM usage_bump_customer(NEW.organization_id, NEW.external_id);
    END IF;
    RETURN NULL;
END $$;

-- A subscription's or a phase's change: its customer's answers (looked up by the customer's id).
CREATE FUNCTION usage_subscription_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_customer uuid;
    new_customer uuid;
BEGIN
    IF TG_TABLE_NAME = 'subscription_phases' THEN
        IF TG_OP <> 'INSERT' THEN
            SELECT customer_id INTO old_customer FROM subscriptions WHERE id = OLD.subscription_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            SELECT customer_id INTO new_customer FROM subscriptions WHERE id = NEW.subscription_id;
        END IF;
    ELSE
        IF TG_OP <> 'INSERT' THEN
            old_customer := OLD.customer_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            new_customer := NEW.customer_id;
        END IF;
    END IF;
    PERFORM usage_bump_customer(c.organization_id, c.external_id)
    FROM customers c WHERE c.id IN (old_customer, new_customer);
    RETURN NULL;
END $$;

CREATE TRIGGER usage_answers_catalog AFTER INSERT OR UPDATE OR DELETE ON billable_metrics
    FOR EACH ROW EXECUTE FUNCTION usage_catalog_changed();
CREATE TRIGGER usage_answers_catalog AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION usage_catalog_changed();
CREATE TRIGGER usage_answers_catalog AFTER INSERT OR UPDATE OR DELETE ON charges
    FOR EACH ROW EXECUTE FUNCTION usage_catalog_changed();
CREATE TRIGGER usage_answers_catalog AFTER UPDATE OF timezone ON organizations
    FOR EACH ROW EXECUTE FUNCTION usage_catalog_changed();
CREATE TRIGGER usage_answers_customer AFTER INSERT OR DELETE OR UPDATE OF external_id, timezone, deleted_at,
    organization_id ON customers FOR EACH ROW EXECUTE FUNCTION usage_customer_changed();
-- Every column a subscription's status, period or plan follows from (billing's billed_through is not one).
CREATE TRIGGER usage_answers_subscription AFTER INSERT OR DELETE OR UPDATE OF organization_id, customer_id,
    external_id, billing_time, started_at, trial_ends_at, ending_at, cancel_at_period_end, terminated_at,
    ended_status, past_due ON subscriptions FOR EACH ROW EXECUTE FUNCTION usage_subscription_changed();
CREATE TRIGGER usage_answers_phase AFTER INSERT OR UPDATE OR DELETE ON subscription_phases
    FOR EACH ROW EXECUTE FUNCTION usage_subscription_changed();

CREATE INDEX ix_invoices_org_created ON invoices (organization_id, created_at, id);
"""

DOWNGRADE = """
DROP INDEX ix_invoices_org_created;
DROP TRIGGER usage_answers_phase ON subscription_phases;
DROP TRIGGER usage_answers_subscription ON subscriptions;
DROP TRIGGER usage_answers_customer ON customers;
DROP TRIGGER usage_answers_catalog ON organizations;
DROP TRIGGER usage_answers_catalog ON charges;
DROP TRIGGER usage_answers_catalog ON plans;
DROP TRIGGER usage_answers_catalog ON billable_metrics;
DROP FUNCTION usage_subscription_changed();
DROP FUNCTION usage_customer_changed();
DROP FUNCTION usage_catalog_changed();
DROP FUNCTION usage_bump_catalog(uuid);
DROP FUNCTION usage_bump_customer(uuid, varchar);
DROP TABLE usage_answers;
DROP TABLE usage_catalog_versions;
DROP TABLE usage_versions;
"""


def _statements(script: str) -> list[str]:
    """One statement at a time (a statement ends with ';' at the end of a line; function bodies end with '$$;')."""
    return [s.strip() for s in re.split(r";\n(?=\s*(?:CREATE|DROP|--))", script.strip().rstrip(";")) if s.strip()]


def upgrade() -> None:
    for statement in _statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(DOWNGRADE):
        op.execute(statement)
