-- Delegated-user OAuth connections: per workspace, tool and end user (an empty user for a
-- tool's client-credentials token), the tokens sealed under the master key. `version` grows
-- with every write, so concurrent refreshes (on any replica) are compare-and-set.
CREATE TABLE oauth_connections (
    workspace TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_id TEXT NOT NULL,
    access_sealed BYTEA NOT NULL,
    refresh_sealed BYTEA,
    expires_at BIGINT NOT NULL,
    scope TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- A replica refreshing the token holds this lease, so the others wait for its result.
    refresh_locked_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, tool, user_id)
);
CREATE INDEX oauth_connections_user ON oauth_connections (workspace, user_id);
