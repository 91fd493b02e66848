-- Raw usage records, rollups and quarantine. Written for ClickHouse 18.16
-- and current LTS alike: no LowCardinality, CODEC, TTL or DateTime64.

-- +goose Up
-- usage_records holds every record exactly once: the ingest writer removes
-- duplicates before it inserts (see docs/ingest.md), so the materialized
-- views below, which see every inserted block, never count a record twice.
CREATE TABLE usage_records (
    iccid         String,
    start_time    DateTime('UTC'),
    type          Enum8('data' = 1, 'voice' = 2, 'sms' = 3),
    key_hi        UInt64,
    key_lo        UInt64,
    node_id       String,
    record_id     String,
    imsi          String,
    msisdn        String,
    duration_s    UInt32,
    bytes_up      UInt64,
    bytes_down    UInt64,
    mcc_mnc       String,
    rat           String,
    apn           String,
    peer_number   String,
    sequence      UInt32,
    closing_cause UInt8,
    source        String,
    batch_seq     UInt64,
    ingested_at   DateTime('UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMM(start_time)
ORDER BY (iccid, start_time, key_hi);

-- +goose StatementBegin
CREATE TABLE usage_hourly (
    iccid      String,
    hour       DateTime('UTC'),
    type       Enum8('data' = 1, 'voice' = 2, 'sms' = 3),
    records    UInt64,
    sessions   UInt64,
    bytes_up   UInt64,
    bytes_down UInt64,
    duration_s UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (iccid, hour, type);
-- +goose StatementEnd

-- A session (or call) is counted once, on its first record: partial records
-- of one bearer carry sequence 1, 2, ...; a record that is both first and
-- last carries none (0).
-- +goose StatementBegin
CREATE MATERIALIZED VIEW usage_hourly_mv TO usage_hourly AS
SELECT
    iccid,
    toStartOfHour(start_time) AS hour,
    type,
    count() AS records,
    countIf(sequence <= 1) AS sessions,
    sum(bytes_up) AS bytes_up,
    sum(bytes_down) AS bytes_down,
    sum(toUInt64(duration_s)) AS duration_s
FROM usage_records
GROUP BY iccid, hour, type;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TABLE usage_daily (
    iccid      String,
    day        Date,
    type       Enum8('data' = 1, 'voice' = 2, 'sms' = 3),
    records    UInt64,
    sessions   UInt64,
    bytes_up   UInt64,
    bytes_down UInt64,
    duration_s UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (iccid, day, type);
-- +goose StatementEnd

-- +goose StatementBegin
CREATE MATERIALIZED VIEW usage_daily_mv TO usage_daily AS
SELECT
    iccid,
    toDate(start_time) AS day,
    type,
    count() AS records,
    countIf(sequence <= 1) AS sessions,
    sum(bytes_up) AS bytes_up,
    sum(bytes_down) AS bytes_down,
    sum(toUInt64(duration_s)) AS duration_s
FROM usage_records
GROUP BY iccid, day, type;
-- +goose StatementEnd

-- Quarantine: records that failed to parse or validate, with their raw text.
-- reject_hi/lo hash (source, line, raw text), so a replayed reject collapses
-- into one row (read with FINAL).
-- +goose StatementBegin
CREATE TABLE rejected_records (
    reject_hi   UInt64,
    reject_lo   UInt64,
    source      String,
    format      String,
    line        Int64,
    offset      Int64,
    reason      String,
    detail      String,
    raw         String,
    rejected_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (reject_hi, reject_lo);
-- +goose StatementEnd

-- +goose Down
DROP TABLE rejected_records;
DROP TABLE usage_daily_mv;
DROP TABLE usage_daily;
DROP TABLE usage_hourly_mv;
DROP TABLE usage_hourly;
DROP TABLE usage_records;
