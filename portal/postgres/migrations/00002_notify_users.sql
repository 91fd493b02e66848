-- +goose Up
-- Every change that can end a session or change what a session may see
-- (a session deleted: logout, password change or reset, expiry; a user
-- changed or deleted; a SIM claimed or released) announces the user's id on
-- simcore_portal_users when its transaction commits, so a portal process
-- that caches sessions and SIM ownership forgets that user's entries
-- (docs/portal.md, "Caches"). Triggers, not application code, so a change
-- made by hand in psql is announced too. PostgreSQL folds repeats of one
-- payload within a transaction into one notification.

-- +goose StatementBegin
CREATE FUNCTION portal_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'portal_users' THEN
        PERFORM pg_notify('simcore_portal_users', OLD.id::text);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('simcore_portal_users', NEW.user_id::text);
    ELSE
        PERFORM pg_notify('simcore_portal_users', OLD.user_id::text);
        IF TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id THEN
            PERFORM pg_notify('simcore_portal_users', NEW.user_id::text);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER portal_users_notify AFTER UPDATE OR DELETE ON portal_users
    FOR EACH ROW EXECUTE FUNCTION portal_notify_user();
CREATE TRIGGER portal_sessions_notify AFTER UPDATE OR DELETE ON portal_sessions
    FOR EACH ROW EXECUTE FUNCTION portal_notify_user();
CREATE TRIGGER portal_sims_notify AFTER INSERT OR UPDATE OR DELETE ON portal_sims
    FOR EACH ROW EXECUTE FUNCTION portal_notify_user();

-- +goose Down
DROP TRIGGER portal_sims_notify ON portal_sims;
DROP TRIGGER portal_sessions_notify ON portal_sessions;
DROP TRIGGER portal_users_notify ON portal_users;
DROP FUNCTION portal_notify_user();
