-- Blocked actions, access requests, grants and the durable resume queue.

CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    run_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    user_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    capability TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    payload_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The upstream's answer to the replay ({status, headers, body}), kept for the agent.
    response TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX actions_by_run ON actions (workspace, run_id, payload_hash);

CREATE TABLE access_requests (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    action_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    -- Everything else about the request (agent, tool, subject, scope, routing, ...), as JSON.
    body TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX access_requests_by_status ON access_requests (workspace, status, created_at);
-- One pending request per blocked payload in a run: retries of the same call find it.
CREATE UNIQUE INDEX access_requests_pending_once ON access_requests (workspace, run_id, payload_hash)
    WHERE status = 'PENDING' AND run_id <> '';

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    request_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    method TEXT NOT NULL,
    capability TEXT NOT NULL,
    action_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX grants_lookup ON grants (workspace, agent, tool);

CREATE TABLE resume_jobs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    action_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    done INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    locked_by TEXT NOT NULL,
    last_error TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX resume_jobs_ready ON resume_jobs (done, locked_until);
