-- +goose Up
-- The SMS parts of a request's notices (the subscriber told of a swap, a
-- voicemail change...) are recorded on the request beside its own messages,
-- so their delivery receipts are stored and shown instead of being refused
-- as unknown (the SMSC would deliver them again and again). notice is the
-- notice's id (provisioning.Notice.ID); '' for the request's own SMS.
ALTER TABLE request_messages ADD COLUMN notice text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE request_messages DROP COLUMN notice;
