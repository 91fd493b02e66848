-- +goose Up
-- The sweeper looks for pending requests that have not moved for a while.
CREATE INDEX provisioning_requests_pending ON provisioning_requests (updated_at) WHERE state = 'pending';

-- +goose Down
DROP INDEX provisioning_requests_pending;
