-- Read models folded from saga streams (event_store/projections/_fold.py holds the rules).
-- Every column is derived from events, timestamps included (recorded_at, never now()), so
-- `rebuild` recreates identical rows from the events alone.

CREATE TABLE saga_instances (
    stream_id           text        PRIMARY KEY,
    saga_type           text        NOT NULL,
    status              text        NOT NULL CHECK (status IN (
        'started', 'running', 'compensating', 'completed', 'compensated', 'failed',
        'compensation_failed', 'cancelled', 'parked'
    )),
    -- What SagaUnparked restores.
    status_before_park  text,
    current_step        text,
    definition_version  integer,
    business_key        text,
    started_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- The last event folded in, so a replayed event is recognised and skipped.
    last_version        integer     NOT NULL,
    last_position       bigint      NOT NULL
);

CREATE INDEX saga_instances_status_idx ON saga_instances (status, updated_at);
CREATE INDEX saga_instances_business_key_idx ON saga_instances (saga_type, business_key);

-- Fired and cancelled timers keep their row (status says which) for forensics.
CREATE TABLE timers (
    stream_id    text        NOT NULL,
    timer_id     text        NOT NULL,
    fire_at      timestamptz NOT NULL,
    purpose      text        NOT NULL,
    step         text,
    attempt      integer,
    status       text        NOT NULL CHECK (status IN ('scheduled', 'fired', 'cancelled')),
    scheduled_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    -- The event that last changed the timer, so a replayed event is recognised and skipped.
    last_version integer     NOT NULL,
    PRIMARY KEY (stream_id, timer_id)
);

-- The worker's query: due timers in fire_at order.
CREATE INDEX timers_due_idx ON timers (fire_at) WHERE status = 'scheduled';

DO $$
BEGIN
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON saga_instances, timers TO %I',
        current_setting('saga.app_role')
    );
END
$$;
