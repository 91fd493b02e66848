-- +goose Up
-- Outgoing barring: rating bars a prepaid line's outgoing calls and SMS
-- when its balance is used up (bar_outgoing; emergency calls stay allowed,
-- incoming calls and SMS keep working) and lifts the bar after a top-up
-- (unbar_outgoing). outgoing_barred is what the network was last told, like
-- data_barred: every other barring change sends it along.
ALTER TABLE subscriptions ADD COLUMN outgoing_barred boolean NOT NULL DEFAULT false;

-- Rating re-checks the barred lines; they are few. (Built under a write
-- lock on subscriptions, one row per line: short.)
CREATE INDEX subscriptions_outgoing_barred ON subscriptions (id) WHERE outgoing_barred AND status <> 'ended';

-- The wider check is added NOT VALID: checking the request history takes
-- a scan, and under this statement's lock no request could be written
-- meanwhile. Migration 00008 validates it in a transaction of its own,
-- under a lock that lets writes through.
ALTER TABLE provisioning_requests DROP CONSTRAINT provisioning_requests_kind_check;
ALTER TABLE provisioning_requests ADD CONSTRAINT provisioning_requests_kind_check
    CHECK (kind IN ('sim_swap', 'voicemail', 'forwarding', 'apn_sms', 'dates',
                    'suspend', 'resume', 'activate', 'deactivate', 'bar_data', 'unbar_data',
                    'bar_outgoing', 'unbar_outgoing')) NOT VALID;

-- +goose Down
-- Requests of the kinds this migration added cannot stay under the old
-- check; nothing but their messages refers to them.
DELETE FROM provisioning_requests WHERE kind IN ('bar_outgoing', 'unbar_outgoing');
ALTER TABLE provisioning_requests DROP CONSTRAINT provisioning_requests_kind_check;
ALTER TABLE provisioning_requests ADD CONSTRAINT provisioning_requests_kind_check
    CHECK (kind IN ('sim_swap', 'voicemail', 'forwarding', 'apn_sms', 'dates',
                    'suspend', 'resume', 'activate', 'deactivate', 'bar_data', 'unbar_data'));
DROP INDEX subscriptions_outgoing_barred;
ALTER TABLE subscriptions DROP COLUMN outgoing_barred;
