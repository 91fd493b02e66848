-- +goose Up
-- Validates the request kind check 00007 added NOT VALID. VALIDATE takes a
-- SHARE UPDATE EXCLUSIVE lock, which lets requests be written while it
-- scans their history; 00007's transaction, which held the table's
-- exclusive lock, has ended by now. Every row passes: the check only
-- widened.
ALTER TABLE provisioning_requests VALIDATE CONSTRAINT provisioning_requests_kind_check;

-- +goose Down
-- Nothing to undo: 00007's Down replaces the constraint.
SELECT 1;
