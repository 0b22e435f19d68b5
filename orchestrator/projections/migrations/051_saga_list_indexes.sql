-- Indexes for `sagactl saga list` and `sagactl saga stuck` on a store of many sagas: every
-- listing is a keyset walk along one of them, never a scan of the log or an OFFSET.
-- (Plain CREATE INDEX: the runner applies each file in a transaction, where CONCURRENTLY is
-- refused; on a large live store, create them CONCURRENTLY by hand first, the names match.)

-- `saga list --at T`: the streams whose first event was recorded at or before T, in saga-id
-- order, with their type, read from the index alone; their events up to T are then read in
-- (stream_id, version) order through events_stream_version_key.
CREATE INDEX IF NOT EXISTS events_stream_start_idx
    ON events (stream_id) INCLUDE (stream_type, recorded_at) WHERE version = 1;

-- `saga list`: most recently updated first, paged by (updated_at, stream_id).
CREATE INDEX IF NOT EXISTS saga_instances_updated_idx ON saga_instances (updated_at, stream_id);

-- `saga stuck` and the stuck-sagas gauge: the sagas still moving, by their last event. The
-- statuses are those of event_store/projections/_postgres.py ACTIVE_STATUSES.
CREATE INDEX IF NOT EXISTS saga_instances_active_idx ON saga_instances (updated_at, stream_id)
    WHERE status IN ('started', 'running', 'compensating');
