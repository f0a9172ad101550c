-- The approval delivery outbox: one row per (access request, connector, purpose), written in
-- the transaction that raises the request (deliveries) or decides it (follow-ups), drained by
-- leased workers on any replica.

CREATE TABLE dispatches (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    request_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    -- deliver | followup
    purpose TEXT NOT NULL,
    -- first_success | all
    mode TEXT NOT NULL,
    position INTEGER NOT NULL,
    -- pending | delivered | failed | skipped
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    locked_by TEXT NOT NULL,
    -- What the connector's service calls the delivery, as JSON (Slack channel and ts, ...).
    external_ref TEXT NOT NULL,
    last_error TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX dispatches_ready ON dispatches (state, next_attempt_at);
CREATE INDEX dispatches_by_request ON dispatches (request_id, position);

-- Decision links are single-use: a link's id is written here when it is used.
CREATE TABLE decision_links_used (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    request_id TEXT NOT NULL,
    used_at INTEGER NOT NULL
);
