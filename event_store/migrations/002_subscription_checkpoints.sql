-- Progress of catch-up subscriptions (projections, the outbox publisher): the position of the
-- last event each one handled, in read_all order. A projection, like every table but events:
-- `rebuild` resets it and replays, and a lost row only means events are handled again.

CREATE TABLE subscription_checkpoints (
    name       text        PRIMARY KEY CHECK (name <> ''),
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON subscription_checkpoints TO %I',
        current_setting('saga.app_role')
    );
END
$$;
