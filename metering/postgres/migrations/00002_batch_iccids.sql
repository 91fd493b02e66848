-- +goose Up
-- The ICCIDs whose records a batch stores, so rating re-rates exactly the
-- subscribers whose usage changed (see docs/rating.md).
ALTER TABLE usage_batches ADD COLUMN iccids text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE usage_batches DROP COLUMN iccids;
