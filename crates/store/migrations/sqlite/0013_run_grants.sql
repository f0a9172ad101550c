-- A run that ends ends its run-scope grants (and expires their approvals) in the same
-- transaction: found by the run, not by a scan of every grant ever made.
CREATE INDEX grants_of_runs ON grants (workspace, run_id) WHERE scope = 'run';
