-- The bearer a record belongs to, so the session list can show the partial
-- records of one bearer (TS 32.298: same P-GW address and chargingID) as
-- one session. Rows written before read as '' and 0: no bearer, one
-- session each, as before. The materialized views name their columns and
-- are unaffected.

-- +goose Up
ALTER TABLE usage_records
    ADD COLUMN charging_id UInt32 DEFAULT 0,
    ADD COLUMN pgw_address String DEFAULT '';

-- +goose Down
ALTER TABLE usage_records DROP COLUMN pgw_address, DROP COLUMN charging_id;
