-- The approvals queue lists requests by status in creation order, ORDER BY (created_at, id):
-- with id in the index as well, there is no sort step.
CREATE INDEX access_requests_by_status_listed ON access_requests (workspace, status, created_at, id);
DROP INDEX access_requests_by_status;

-- Approval windows that ended are looked for before every listing and by the resume worker's
-- every poll: only approved requests with a window, not a scan of every request ever raised.
CREATE INDEX access_requests_expiring ON access_requests (expires_at) WHERE status = 'APPROVED';
