-- +goose Up
-- The ledger is pruned: batches begun longer ago than the writers'
-- retention are deleted (docs/ingest.md, "Ledger retention").

-- Readers that need every batch after the one they have read (rating
-- re-rates each batch's ICCIDs). Pruning never deletes a batch after a
-- reader's seq. A reader that is retired must be deleted here, or the
-- ledger grows again.
CREATE TABLE usage_ledger_readers (
    reader     text        PRIMARY KEY,
    seq        bigint      NOT NULL CHECK (seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every batch with seq <= through is deleted. A writer that last saw a
-- batch below it cannot learn from the ledger what others stored since, and
-- reloads its keys from ClickHouse.
CREATE TABLE usage_ledger_pruned (
    one       boolean     PRIMARY KEY DEFAULT true CHECK (one),
    through   bigint      NOT NULL CHECK (through >= 0),
    pruned_at timestamptz
);
INSERT INTO usage_ledger_pruned (one, through) VALUES (true, 0);

-- +goose Down
DROP TABLE usage_ledger_pruned;
DROP TABLE usage_ledger_readers;
