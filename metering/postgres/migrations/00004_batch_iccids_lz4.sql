-- +goose Up
-- A batch's ICCID list is about 1 MB for 50,000 records and is stored
-- compressed (about 370 KB). PostgreSQL's default compressor (pglz) took
-- 15-25 ms of the ingest writer's serial path per batch; lz4 compresses
-- this list as well in a fraction of the time (measured 2026-12-07,
-- BENCHMARKS.md). lz4 needs PostgreSQL 14 or later built with it
-- (Debian's and the PGDG packages are); elsewhere the column stays pglz.
-- Existing rows keep their compression; new ones use lz4.
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000
       AND EXISTS (SELECT 1 FROM pg_settings
                   WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE 'ALTER TABLE usage_batches ALTER COLUMN iccids SET COMPRESSION lz4';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE usage_batches ALTER COLUMN iccids SET COMPRESSION pglz';
    END IF;
END
$$;
-- +goose StatementEnd
