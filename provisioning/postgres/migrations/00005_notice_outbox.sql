-- +goose Up
-- The notice outbox: the SMS and email notices of done requests, written in
-- the transaction that marks the request done, so a notice exists exactly
-- when its request is done, whatever happens to the worker next. Senders
-- claim due notices (due_at, moved on by a lease while one is sending),
-- send them and mark them sent, or due again later, or failed.
CREATE TABLE notice_outbox (
    id         text        PRIMARY KEY, -- provisioning.Notice.ID: "<request id>:<channel>"
    request_id uuid        NOT NULL REFERENCES provisioning_requests (id) ON DELETE CASCADE,
    notice     jsonb       NOT NULL,    -- provisioning.Notice
    state      text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts   integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text        NOT NULL DEFAULT '',
    due_at     timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Senders look for due notices; sent and failed ones are history.
CREATE INDEX notice_outbox_due ON notice_outbox (due_at) WHERE state = 'pending';
CREATE INDEX notice_outbox_request_id ON notice_outbox (request_id);

-- +goose Down
DROP TABLE notice_outbox;
