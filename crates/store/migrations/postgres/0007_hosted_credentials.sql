-- An agent holds one credential per purpose: `issued` (shown once to an operator, for an agent
-- run elsewhere) and `hosted` (given to the process the platform runs for it). Replacing one
-- leaves the other working.
ALTER TABLE agent_credentials ADD COLUMN purpose TEXT NOT NULL DEFAULT 'issued';
