"""invoice_counts: each organization's number of invoices, kept by triggers on invoices in the same transaction as
every insert and delete (the organization's invoice list shows it as totalCount without counting every row)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 10:30:00.000000

Rows are deltas (+n for an INSERT statement, -n for a DELETE statement, per organization): a writer only ever
inserts its own row, so concurrent billing transactions never wait for one another here (a single counter row
would be locked from an invoice's first insert until COMMIT, ahead of the numbering lock billing takes as late as
it can). The count is the sum of an organization's rows. Each trigger also folds the organization's committed rows
into one, under a transaction-scoped advisory lock it only tries for (namespace 6, db/locks.py): when another
transaction holds it, nothing is folded this time, and nothing waits. So an organization has one row plus about
one per transaction in flight, and the sum stays exact under any interleaving (MVCC: a reader sees each delta row
or the folded row that replaced it, never both).

Every path that writes invoices goes through these triggers, whatever it is (the ORM, the test-clock deletion's
SQL, a cascade from an organization's deletion, a hand-written INSERT): TRUNCATE empties the counts too, and moving
an invoice to another organization is refused.
"""

import re
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE invoice_counts (
    id bigserial NOT NULL,
    organization_id uuid NOT NULL,
    n bigint NOT NULL,
    CONSTRAINT pk_invoice_counts PRIMARY KEY (id),
    CONSTRAINT fk_invoice_counts_organization_id_organizations FOREIGN KEY (organization_id)
        REFERENCES organizations(id) ON DELETE CASCADE
);

CREATE INDEX ix_invoice_counts_organization ON invoice_counts (organization_id) INCLUDE (n);

CREATE FUNCTION invoice_counts_fold(org uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM invoice_counts WHERE organization_id = org) > 1
       AND pg_try_advisory_xact_lock(6, hashtext(org::text)) THEN
        WITH gone AS (DELETE FROM invoice_counts WHERE organization_id = org RETURNING n)
        INSERT INTO invoice_counts (organization_id, n)
        SELECT org, sum(n) FROM gone
        WHERE EXISTS (SELECT 1 FROM organizations g WHERE g.id = org)  -- not while the organization is deleted
        HAVING sum(n) <> 0;
    END IF;
END $$;

CREATE FUNCTION invoice_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE org uuid;
BEGIN
    FOR org IN SELECT DISTINCT organization_id FROM new_invoices LOOP
        PERFORM invoice_counts_fold(org);
    END LOOP;
    INSERT INTO invoice_counts (organization_id, n)
    SELECT organization_id, count(*) FROM new_invoices GROUP BY organization_id;
    RETURN NULL;
END $$;

CREATE FUNCTION invoice_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE org uuid;
BEGIN
    FOR org IN SELECT DISTINCT organization_id FROM old_invoices LOOP
        PERFORM invoice_counts_fold(org);
    END LOOP;
    -- an organization being deleted takes its counts with it (ON DELETE CASCADE); its row may be gone already
    INSERT INTO invoice_counts (organization_id, n)
    SELECT o.organization_id, -count(*) FROM old_invoices o
    WHERE EXISTS (SELECT 1 FROM organizations g WHERE g.id = o.organization_id)
    GROUP BY o.organization_id;
    RETURN NULL;
END $$;

CREATE FUNCTION invoice_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM invoice_counts;
    RETURN NULL;
END $$;

CREATE FUNCTION invoice_counts_no_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN
        RAISE EXCEPTION 'an invoice never moves to another organization (invoice_counts)';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoice_counts_insert AFTER INSERT ON invoices REFERENCING NEW TABLE AS new_invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_counts_inserted();

CREATE TRIGGER invoice_counts_delete AFTER DELETE ON invoices REFERENCING OLD TABLE AS old_invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_counts_deleted();

CREATE TRIGGER invoice_counts_truncate AFTER TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_counts_truncated();

CREATE TRIGGER invoice_counts_no_move BEFORE UPDATE OF organization_id ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoice_counts_no_move();

-- the invoices there are now: no insert or delete runs between this count and the triggers' start
LOCK TABLE invoices IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO invoice_counts (organization_id, n) SELECT organization_id, count(*) FROM invoices GROUP BY organization_id;
"""

DOWNGRADE = """
DROP TRIGGER invoice_counts_no_move ON invoices;

DROP TRIGGER invoice_counts_truncate ON invoices;

DROP TRIGGER invoice_counts_delete ON invoices;

DROP TRIGGER invoice_counts_insert ON invoices;

DROP FUNCTION invoice_counts_no_move();

DROP FUNCTION invoice_counts_truncated();

DROP FUNCTION invoice_counts_deleted();

DROP FUNCTION invoice_counts_inserted();

DROP FUNCTION invoice_counts_fold(uuid);

DROP TABLE invoice_counts;
"""


def _statements(script: str) -> list[str]:
    """One statement at a time: each ends with ';' before a blank line (none inside a function body)."""
    return [s.strip() for s in re.split(r";\n\s*\n", script.strip().rstrip(";")) if s.strip()]


def upgrade() -> None:
    """Upgrade schema."""
    for statement in _statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    for statement in _statements(DOWNGRADE):
        op.execute(statement)
