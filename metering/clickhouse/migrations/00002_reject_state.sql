-- Quarantine states, so `simcore ingest --retry-rejected` can re-process a
-- quarantined record and never pick it up again once it is stored.
--
-- A retry writes a new row with the same (reject_hi, reject_lo), a later
-- version and the outcome: state 'resolved' once the record is stored (or
-- found stored already), or 'quarantined' with the reason it still fails.
-- The latest version is the row's state: readers take argMax(..., version)
-- per key rather than FINAL, because the engine has no version column
-- (ReplacingMergeTree cannot get one by ALTER) and a replay of the original
-- reject (version 0) may be inserted after a retry's row.
-- Rows written before this migration read as quarantined, version 0.

-- +goose Up
ALTER TABLE rejected_records
    ADD COLUMN state Enum8('quarantined' = 1, 'resolved' = 2) DEFAULT 'quarantined',
    ADD COLUMN version UInt64 DEFAULT 0;

-- +goose Down
ALTER TABLE rejected_records DROP COLUMN version, DROP COLUMN state;
