-- +goose Up
-- Rating reads every usage batch after its cursor, so it registers as a
-- reader of metering's ledger: pruning keeps the batches it has not rated
-- (metering migration 00003, docs/ingest.md "Ledger retention").
INSERT INTO usage_ledger_readers (reader, seq)
SELECT 'rating', seq FROM rating_cursor
ON CONFLICT (reader) DO NOTHING;

-- +goose Down
DELETE FROM usage_ledger_readers WHERE reader = 'rating';
