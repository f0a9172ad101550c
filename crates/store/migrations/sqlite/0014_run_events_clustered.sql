-- Events are written in (run_id, seq) order and read by it: kept in one b-tree on that key
-- (WITHOUT ROWID) instead of a rowid table plus its primary-key index, so each insert the
-- event journal's flusher commits touches one tree, not two.
CREATE TABLE run_events_clustered (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
INSERT INTO run_events_clustered (run_id, seq, id, type, actor, payload_hash, data, at)
    SELECT run_id, seq, id, type, actor, payload_hash, data, at FROM run_events;
DROP TABLE run_events;
ALTER TABLE run_events_clustered RENAME TO run_events;
