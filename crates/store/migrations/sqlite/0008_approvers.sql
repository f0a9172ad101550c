-- Approver identities and connector callbacks.
--
-- An API key's owner: `subject` is recorded as the approver of their decisions, and
-- `approver_groups` (a JSON array of strings) are the approver groups they hold. Keys made
-- before this get their name as subject and no groups.
ALTER TABLE api_keys ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN approver_groups TEXT NOT NULL DEFAULT '[]';
UPDATE api_keys SET subject = name WHERE subject = '';

-- The connector service's own key for a delivery (a Jira issue key), by which the service's
-- callbacks (a Jira transition webhook) find it.
ALTER TABLE dispatches ADD COLUMN external_key TEXT NOT NULL DEFAULT '';
UPDATE dispatches SET external_key = COALESCE(json_extract(external_ref, '$.key'), '')
    WHERE purpose = 'deliver' AND external_ref LIKE '{%';
CREATE INDEX dispatches_by_external_key ON dispatches (connector_id, external_key);
