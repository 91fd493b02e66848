-- +goose Up
-- Rating: the tariff catalogue, credits and vouchers, the charges computed
-- from usage, and what rating did about thresholds. See docs/rating.md.

-- Every import is a new version; the newest is in force.
CREATE TABLE rating_catalogues (
    version     integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document    jsonb       NOT NULL,
    source      text        NOT NULL DEFAULT '',
    imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vouchers (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the normalized code (rating.VoucherHash); the code itself
    -- is printed, never stored.
    code_hash      bytea       NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    amount_minor   bigint      NOT NULL CHECK (amount_minor > 0),
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    expires_at     timestamptz NOT NULL,
    batch          text        NOT NULL DEFAULT '',
    redeemed_at    timestamptz,
    redeemed_iccid text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vouchers_redeemed CHECK ((redeemed_at IS NULL) = (redeemed_iccid IS NULL))
);

-- Credits are only ever added. A voucher credits once (voucher_id unique);
-- a direct credit once per idempotency key. Money belongs to the
-- subscription (provisioning's subscriptions.id), which a SIM swap moves to
-- a new card; iccid is the card the credit was made on.
CREATE TABLE credits (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint      NOT NULL,
    iccid           text        NOT NULL CHECK (iccid ~ '^[0-9]{18,20}$'),
    kind            text        NOT NULL CHECK (kind IN ('voucher', 'credit', 'plan_purchase')),
    amount_minor    bigint      NOT NULL CHECK (amount_minor > 0),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    voucher_id      bigint      UNIQUE REFERENCES vouchers (id),
    idempotency_key text        UNIQUE,
    created_by      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credits_voucher CHECK ((kind = 'voucher') = (voucher_id IS NOT NULL))
);
CREATE INDEX credits_subscription ON credits (subscription_id);

-- A period's rated usage, one row per zone and type. The rater replaces a
-- period's rows whenever its usage changes, so they are always a function
-- of the stored usage and the catalogue version that rated them.
CREATE TABLE charges (
    subscription_id   bigint      NOT NULL,
    period_start      date        NOT NULL,
    period_end        date        NOT NULL CHECK (period_end > period_start),
    zone              text        NOT NULL,
    type              text        NOT NULL CHECK (type IN ('data', 'voice', 'sms')),
    records           bigint      NOT NULL CHECK (records >= 0),
    used              bigint      NOT NULL CHECK (used >= 0),
    included          bigint      NOT NULL CHECK (included >= 0),
    billable          bigint      NOT NULL CHECK (billable >= 0),
    amount_minor      bigint      NOT NULL CHECK (amount_minor >= 0),
    currency          text        NOT NULL,
    not_allowed       boolean     NOT NULL DEFAULT false,
    plan              text        NOT NULL,
    catalogue_version integer     NOT NULL REFERENCES rating_catalogues (version),
    rated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, period_start, zone, type)
);

-- The last usage batch (usage_batches.seq) rated.
CREATE TABLE rating_cursor (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint  NOT NULL CHECK (seq >= 0)
);
INSERT INTO rating_cursor (one, seq) VALUES (true, 0);

-- Thresholds crossed: one row per subscription, period and threshold, so each fires
-- once per period. sent_at is set once its message is queued.
CREATE TABLE rating_alerts (
    subscription_id bigint   NOT NULL,
    period_start date        NOT NULL,
    key          text        NOT NULL,
    notice       text        NOT NULL DEFAULT '',
    fired_at     timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    PRIMARY KEY (subscription_id, period_start, key)
);

-- What rating last asked the network about a subscription's data.
CREATE TABLE rating_data_barring (
    subscription_id bigint   PRIMARY KEY,
    want_barred  boolean     NOT NULL,
    request_id   text        NOT NULL,
    requested_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE rating_data_barring;
DROP TABLE rating_alerts;
DROP TABLE rating_cursor;
DROP TABLE charges;
DROP TABLE credits;
DROP TABLE vouchers;
DROP TABLE rating_catalogues;
