-- The event log: the only source of truth (DESIGN invariant 1). Append-only (invariant 2):
-- the application role may only INSERT and SELECT, and triggers refuse UPDATE, DELETE and
-- TRUNCATE for everyone, the owner included. Each stream is hash-chained (see
-- event_store/_canonical.py for the canonical bytes, an on-disk format that never changes).
--
-- The runner sets `saga.app_role` (transaction-local) to the application role's name.

CREATE TABLE events (
    -- Global order of insertion. Identity values are not committed in order and a rolled-back
    -- append burns its values, so readers tail the log in (tx_id, position) order instead; see
    -- read_all in event_store/_pg_sql.py.
    position       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The checks spell bounded repetition as length() + '*': PostgreSQL's regex engine
    -- expands {0,199} into ~200 states and made every insert measurably slower.
    stream_id      text        NOT NULL CHECK (
        length(stream_id) <= 200 AND stream_id ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]*$'),
    stream_type    text        NOT NULL CHECK (stream_type <> ''),
    version        integer     NOT NULL CHECK (version >= 1),
    event_type     text        NOT NULL CHECK (event_type <> ''),
    schema_version integer     NOT NULL CHECK (schema_version >= 1),
    data           jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    -- message_id (idempotency key), correlation_id, causation_id, traceparent, actor ...
    metadata       jsonb       NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    recorded_at    timestamptz NOT NULL,
    -- The writing transaction: the horizon that makes tailing the log gap-safe.
    tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    hash           text        NOT NULL CHECK (length(hash) = 64 AND hash ~ '^[0-9a-f]*$'),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

-- Redelivered messages are recognised by (stream, message id) before anything is written.
CREATE INDEX events_message_id_idx ON events (stream_id, (metadata ->> 'message_id'));

-- read_all's order and its horizon filter.
CREATE INDEX events_tx_position_idx ON events (tx_id, position);

CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the events table is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'history is corrected by appending compensating events, never by editing';
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Privileges are the first wall, triggers the second: the owner gives up its own right to
-- change rows too (it could grant it back, and the triggers would still refuse).
REVOKE ALL ON events FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM CURRENT_USER;

DO $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON events TO %I', current_setting('saga.app_role'));
END
$$;
