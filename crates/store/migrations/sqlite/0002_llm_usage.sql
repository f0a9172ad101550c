-- LLM gateway: one row per call (tokens and estimated cost), and a spend counter per agent,
-- model mapping and month that budgets are reserved against and settled into.
-- Money is integer nano-dollars (1e-9 USD), so sums are exact.

CREATE TABLE llm_usage (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    agent TEXT NOT NULL,           -- '' when the call was not made for an agent
    run_id TEXT NOT NULL,          -- '' when the call was not part of a run
    model TEXT NOT NULL,
    provider TEXT NOT NULL,        -- the model provider's name
    at INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL
);
CREATE INDEX llm_usage_workspace_at ON llm_usage (workspace, at);

CREATE TABLE llm_spend (
    workspace TEXT NOT NULL,
    agent TEXT NOT NULL,
    label TEXT NOT NULL,           -- the model mapping's label, e.g. 'default: openai/gpt-4o'
    period_start INTEGER NOT NULL, -- the month, as its first millisecond
    reserved INTEGER NOT NULL,     -- estimates of calls in flight
    spent INTEGER NOT NULL,        -- settled cost of finished calls
    PRIMARY KEY (workspace, agent, label, period_start)
);
