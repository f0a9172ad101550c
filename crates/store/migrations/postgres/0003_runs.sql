-- Runs and their append-only event timelines, and the credentials agents use on the agent plane.

CREATE TABLE agent_credentials (
    hash TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    agent TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX agent_credentials_agent ON agent_credentials (workspace, agent);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    agent TEXT NOT NULL,
    user_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    status TEXT NOT NULL,
    blocked_action_id TEXT NOT NULL,
    initial_message TEXT NOT NULL,
    invoke_url TEXT NOT NULL,
    final_answer TEXT NOT NULL,
    -- The seq of the last event; bumped in the same transaction that appends, so seqs are gapless.
    last_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX runs_by_status ON runs (workspace, status, updated_at);
CREATE INDEX runs_by_agent ON runs (workspace, agent, updated_at);

CREATE TABLE run_events (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    data TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
