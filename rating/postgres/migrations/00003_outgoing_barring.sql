-- +goose Up
-- What rating last asked the network about a subscription's outgoing calls
-- and SMS (bar_outgoing, unbar_outgoing), like rating_data_barring.
CREATE TABLE rating_outgoing_barring (
    subscription_id bigint   PRIMARY KEY,
    want_barred  boolean     NOT NULL,
    request_id   text        NOT NULL,
    requested_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE rating_outgoing_barring;
