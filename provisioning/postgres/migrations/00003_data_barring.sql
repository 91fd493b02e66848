-- +goose Up
-- Data barring: rating bars a line's mobile data when its allowance or
-- balance is used up (bar_data) and lifts the bar on a top-up or a new
-- period (unbar_data). data_barred is what the network was last told, so a
-- suspension and its resumption send the data bar along instead of
-- clearing it.
ALTER TABLE subscriptions ADD COLUMN data_barred boolean NOT NULL DEFAULT false;

-- Rating re-checks the barred lines every period; they are few.
CREATE INDEX subscriptions_data_barred ON subscriptions (id) WHERE data_barred AND status <> 'ended';

-- The kind check was declared inline in 00001, so PostgreSQL named it
-- <table>_<column>_check; CreateRequest matches that name.
ALTER TABLE provisioning_requests DROP CONSTRAINT provisioning_requests_kind_check;
ALTER TABLE provisioning_requests ADD CONSTRAINT provisioning_requests_kind_check
    CHECK (kind IN ('sim_swap', 'voicemail', 'forwarding', 'apn_sms', 'dates',
                    'suspend', 'resume', 'activate', 'deactivate', 'bar_data', 'unbar_data'));

-- +goose Down
-- Requests of the kinds this migration added cannot stay under the old
-- check; nothing but their messages refers to them.
DELETE FROM provisioning_requests WHERE kind IN ('bar_data', 'unbar_data');
ALTER TABLE provisioning_requests DROP CONSTRAINT provisioning_requests_kind_check;
ALTER TABLE provisioning_requests ADD CONSTRAINT provisioning_requests_kind_check
    CHECK (kind IN ('sim_swap', 'voicemail', 'forwarding', 'apn_sms', 'dates',
                    'suspend', 'resume', 'activate', 'deactivate'));
DROP INDEX subscriptions_data_barred;
ALTER TABLE subscriptions DROP COLUMN data_barred;
