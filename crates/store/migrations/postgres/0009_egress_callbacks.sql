-- Runs remember where their final answer goes (`callback_url`, '' for nowhere) and how many
-- times the platform has invoked a hosted runtime for their turn (`turn`; 0 when the platform
-- does not drive the turn, so nothing is ever replayed for it).
ALTER TABLE runs ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN turn BIGINT NOT NULL DEFAULT 0;

-- Runs listed by status, newest first, without a sort: the list's ORDER BY is
-- (updated_at DESC, id DESC).
CREATE INDEX runs_by_status_listed ON runs (workspace, status, updated_at, id);
DROP INDEX runs_by_status;

-- The callback outbox: one row per finished run that has a callback_url, written in the
-- transaction that ends the run, drained by leased workers on any replica.
CREATE TABLE run_callbacks (
    run_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    url TEXT NOT NULL,
    -- pending | delivered | failed
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    locked_by TEXT NOT NULL,
    last_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX run_callbacks_ready ON run_callbacks (state, next_attempt_at);

-- The calls a run whose turn the platform drives made, with their answers, so a turn invoked
-- again after a pause gets them back instead of making them twice. Kept while the run is not
-- terminal; deleted in the transaction that ends it.
CREATE TABLE run_calls (
    workspace TEXT NOT NULL,
    run_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    -- 0 for the first call with this payload in the run, 1 for the second, ...
    ordinal BIGINT NOT NULL,
    -- The last turn that made or was served this call.
    served_turn BIGINT NOT NULL,
    status BIGINT NOT NULL,
    -- A few response headers, as a JSON object.
    headers TEXT NOT NULL,
    -- At most 1 MiB; `truncated` when the answer was longer.
    body BYTEA NOT NULL,
    truncated BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, run_id, payload_hash, ordinal)
);
