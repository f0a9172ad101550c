-- A counter per (workspace, kind), bumped by every document write in the same transaction,
-- so readers can tell cheaply whether a cached list is still current.
CREATE TABLE generations (
    workspace TEXT NOT NULL,
    kind TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (workspace, kind)
);
