-- +goose Up
-- The ledger of usage-record batches: which writer stored which batch into
-- which months. Writers hold a PostgreSQL advisory lock while they write, so
-- the ledger is the order in which batches reached ClickHouse.
CREATE TABLE usage_batches (
    seq      bigserial PRIMARY KEY,
    writer   text        NOT NULL,
    months   integer[]   NOT NULL,
    rows     integer     NOT NULL CHECK (rows >= 0),
    state    text        NOT NULL CHECK (state IN ('writing', 'committed', 'aborted')),
    begun_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);
CREATE INDEX usage_batches_begun_at ON usage_batches (begun_at);

-- +goose Down
DROP TABLE usage_batches;
