//! SQL of `ApprovalStore`, shared by both backends (see `sql.rs` for why a macro).

use runagents_domain::Timestamp;

pub(crate) const ACTION_COLUMNS: &str = "id, workspace, run_id, agent, user_id, tool, capability, method, url, headers, body, payload_hash, status, response, delivered, created_at, updated_at";
pub(crate) const REQUEST_COLUMNS: &str = "id, workspace, action_id, run_id, payload_hash, status, body, expires_at, created_at, updated_at";
/// A row of `REQUEST_COLUMNS` as the text of one JSON array, for SQLite's lists: strings
/// through `json_quote`, integers as digits, and the body spliced in as the JSON text it is
/// (every write renders it from a `serde_json::Value`; an empty one reads as null). Writing
/// the text directly takes about a third less time than `json_array(..., json(body), ...)`,
/// which parses and re-renders every body.
pub(crate) const REQUEST_JSON_ROW: &str = "'[' || json_quote(id) || ',' || json_quote(workspace) || ',' || json_quote(action_id) \
    || ',' || json_quote(run_id) || ',' || json_quote(payload_hash) || ',' || json_quote(status) \
    || ',' || coalesce(nullif(body, ''), 'null') || ',' || coalesce(expires_at, 'null') || ',' || created_at || ',' || updated_at || ']'";
pub(crate) const GRANT_COLUMNS: &str = "id, workspace, request_id, scope, agent, tool, user_id, run_id, method, capability, action_id, payload_hash, expires_at, created_at";
pub(crate) const JOB_COLUMNS: &str = "id, workspace, action_id, run_id, attempts, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ActionRow {
    id: String,
    workspace: String,
    run_id: String,
    agent: String,
    user_id: String,
    tool: String,
    capability: String,
    method: String,
    url: String,
    headers: String,
    body: Vec<u8>,
    payload_hash: String,
    status: String,
    response: String,
    delivered: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct RequestRow {
    id: String,
    workspace: String,
    action_id: String,
    run_id: String,
    payload_hash: String,
    status: String,
    body: String,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// A request as one element of a SQLite JSON list (`REQUEST_JSON_ROW`), its body kept as the
/// JSON text it is.
pub(crate) type RequestJsonRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Box<serde_json::value::RawValue>,
    Option<i64>,
    i64,
    i64,
);

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: String,
    workspace: String,
    request_id: String,
    scope: String,
    agent: String,
    tool: String,
    user_id: String,
    run_id: String,
    method: String,
    capability: String,
    action_id: String,
    payload_hash: String,
    expires_at: Option<i64>,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    workspace: String,
    action_id: String,
    run_id: String,
    attempts: i64,
    created_at: i64,
}

fn json(text: &str) -> crate::Result<serde_json::Value> {
    if text.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| crate::Error::Backend(format!("stored JSON is invalid: {e}")))
}

pub(crate) fn action(row: ActionRow) -> crate::Result<crate::ActionRecord> {
    Ok(crate::ActionRecord {
        headers: json(&row.headers)?,
        response: json(&row.response)?,
        id: row.id,
        workspace: row.workspace,
        run_id: row.run_id,
        agent: row.agent,
        user_id: row.user_id,
        tool: row.tool,
        capability: row.capability,
        method: row.method,
        url: row.url,
        body: row.body,
        payload_hash: row.payload_hash,
        status: row.status,
        delivered: row.delivered != 0,
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
    })
}

/// A row as stored: the body still its JSON text.
fn stored_request(row: RequestRow) -> crate::AccessRequest<String> {
    crate::AccessRequest {
        body: row.body,
        id: row.id,
        workspace: row.workspace,
        action_id: row.action_id,
        run_id: row.run_id,
        payload_hash: row.payload_hash,
        status: row.status,
        expires_at: row.expires_at.map(Timestamp),
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
    }
}

pub(crate) fn request(row: RequestRow) -> crate::Result<crate::RequestRecord> {
    stored_request(row).try_map_body(|body| json(&body))
}

/// A listed row whose body is checked to be JSON but not parsed into a tree.
pub(crate) fn listed_request(row: RequestRow) -> crate::Result<crate::ListedRequest> {
    stored_request(row).try_map_body(|body| {
        if body.is_empty() {
            return Ok(serde_json::value::RawValue::NULL.to_owned());
        }
        serde_json::value::RawValue::from_string(body)
            .map_err(|e| crate::Error::Backend(format!("stored JSON is invalid: {e}")))
    })
}

/// The requests of a SQLite JSON list, in the list's order, `(created_at, id)`.
pub(crate) fn listed_requests(text: &str) -> crate::Result<Vec<crate::ListedRequest>> {
    let rows: Vec<RequestJsonRow> = serde_json::from_str(text).map_err(|e| {
        crate::Error::Backend(format!("listed requests are not the expected JSON: {e}"))
    })?;
    let mut listed: Vec<crate::ListedRequest> = rows
        .into_iter()
        .map(
            |(
                id,
                workspace,
                action_id,
                run_id,
                payload_hash,
                status,
                body,
                expires_at,
                created_at,
                updated_at,
            )| crate::ListedRequest {
                id,
                workspace,
                action_id,
                run_id,
                payload_hash,
                status,
                body,
                expires_at: expires_at.map(Timestamp),
                created_at: Timestamp(created_at),
                updated_at: Timestamp(updated_at),
            },
        )
        .collect();
    // group_concat keeps the subquery's order in practice but does not promise it, and an
    // ORDER BY inside it would sort every row again; sorting here is one pass over sorted rows.
    // Rust compares strings by bytes, as SQLite's default collation does.
    listed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(listed)
}

pub(crate) fn grant(row: GrantRow) -> crate::GrantRecord {
    crate::GrantRecord {
        id: row.id,
        workspace: row.workspace,
        request_id: row.request_id,
        scope: row.scope,
        agent: row.agent,
        tool: row.tool,
        user_id: row.user_id,
        run_id: row.run_id,
        method: row.method,
        capability: row.capability,
        action_id: row.action_id,
        payload_hash: row.payload_hash,
        expires_at: row.expires_at.map(Timestamp),
        created_at: Timestamp(row.created_at),
    }
}

pub(crate) fn job(row: JobRow) -> crate::ResumeJob {
    crate::ResumeJob {
        id: row.id,
        workspace: row.workspace,
        action_id: row.action_id,
        run_id: row.run_id,
        attempts: row.attempts,
        created_at: Timestamp(row.created_at),
    }
}

/// Shallow merge of `patch`'s keys into `base` (both objects).
pub(crate) fn merged(base: &serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
    let mut out = base.clone();
    if let (Some(out), Some(patch)) = (out.as_object_mut(), patch.as_object()) {
        for (key, value) in patch {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

macro_rules! impl_approval_store {
    ($store:ty) => {
        impl $store {
            /// Applies a run change inside a transaction: status if it is one of `from`, then events.
            async fn apply_run_change(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str, change: &$crate::RunChange, at: i64) -> $crate::Result<()> {
                if !change.from.is_empty() {
                    let mut builder = sqlx::QueryBuilder::<Backend>::new("UPDATE runs SET status = ");
                    builder.push_bind(&change.to);
                    if let Some(blocked) = &change.blocked_action_id {
                        builder.push(", blocked_action_id = ").push_bind(blocked);
                    }
                    builder.push(", updated_at = ").push_bind(at);
                    builder.push(" WHERE workspace = ").push_bind(workspace);
                    builder.push(" AND id = ").push_bind(&change.run_id);
                    builder.push(" AND status IN (");
                    let mut separated = builder.separated(", ");
                    for status in &change.from {
                        separated.push_bind(status);
                    }
                    builder.push(")");
                    builder.build().execute(&mut **tx).await?;
                    Self::run_status_changed(tx, workspace, &change.run_id, &change.to, at).await?;
                }
                if !change.events.is_empty() {
                    Self::insert_events(tx, workspace, &change.run_id, &change.events, at).await?;
                }
                Ok(())
            }

            /// Queues an action's replay inside a transaction; an action's finished job is
            /// queued again from scratch (there is one job row per action).
            async fn queue_resume_job(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str, job: &$crate::ResumeJob) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO resume_jobs (id, workspace, action_id, run_id, done, attempts, locked_until, locked_by, last_error, created_at) \
                     VALUES ($1, $2, $3, $4, 0, 0, 0, '', '', $5) \
                     ON CONFLICT (action_id) DO UPDATE SET done = 0, attempts = 0, locked_until = 0, locked_by = '', last_error = ''",
                )
                .bind(&job.id)
                .bind(workspace)
                .bind(&job.action_id)
                .bind(&job.run_id)
                .bind(job.created_at.millis())
                .execute(&mut **tx)
                .await?;
                Self::announce(tx, $crate::Work::Resume, workspace).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::ApprovalStore for $store {
            async fn block_action(
                &self,
                action: &$crate::ActionRecord,
                request: &$crate::RequestRecord,
                run: Option<&$crate::RunChange>,
                dispatches: &[$crate::DispatchRecord],
            ) -> $crate::Result<$crate::Blocked> {
                let ws = action.workspace.as_str();
                if !request.run_id.is_empty()
                    && let Some(existing) = self.pending_request_for(ws, &request.run_id, &request.payload_hash).await?
                {
                    return Ok($crate::Blocked::Existing(existing));
                }
                let mut tx = self.begin().await?;
                if !request.run_id.is_empty() {
                    // The run's row first, written to hold it (PostgreSQL) until commit: a run
                    // ending beside this either ends first and is seen here, or waits and then
                    // expires the request this raises.
                    let run_now: Option<(String,)> = sqlx::query_as(
                        "UPDATE runs SET updated_at = updated_at WHERE workspace = $1 AND id = $2 RETURNING status",
                    )
                    .bind(ws)
                    .bind(&request.run_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((status,)) = run_now
                        && matches!(status.as_str(), "COMPLETED" | "FAILED")
                    {
                        tx.rollback().await?;
                        return Ok($crate::Blocked::RunEnded(status));
                    }
                }
                sqlx::query(&format!(
                    "INSERT INTO actions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    $crate::sql_approvals::ACTION_COLUMNS
                ))
                .bind(&action.id)
                .bind(ws)
                .bind(&action.run_id)
                .bind(&action.agent)
                .bind(&action.user_id)
                .bind(&action.tool)
                .bind(&action.capability)
                .bind(&action.method)
                .bind(&action.url)
                .bind(action.headers.to_string())
                .bind(&action.body)
                .bind(&action.payload_hash)
                .bind(&action.status)
                .bind(if action.response.is_null() { String::new() } else { action.response.to_string() })
                .bind(i64::from(action.delivered))
                .bind(action.created_at.millis())
                .bind(action.updated_at.millis())
                .execute(&mut *tx)
                .await?;
                let inserted = sqlx::query(&format!(
                    "INSERT INTO access_requests ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    $crate::sql_approvals::REQUEST_COLUMNS
                ))
                .bind(&request.id)
                .bind(ws)
                .bind(&request.action_id)
                .bind(&request.run_id)
                .bind(&request.payload_hash)
                .bind(&request.status)
                .bind(request.body.to_string())
                .bind(request.expires_at.map(|at| at.millis()))
                .bind(request.created_at.millis())
                .bind(request.updated_at.millis())
                .execute(&mut *tx)
                .await;
                match inserted.map_err($crate::Error::from) {
                    Ok(_) => {}
                    // A concurrent retry of the same call raised it first: return that one.
                    Err($crate::Error::Conflict(_)) => {
                        tx.rollback().await?;
                        return match self.pending_request_for(ws, &request.run_id, &request.payload_hash).await? {
                            Some(existing) => Ok($crate::Blocked::Existing(existing)),
                            None => Err($crate::Error::Conflict("the request was decided while it was being raised again".into())),
                        };
                    }
                    Err(error) => return Err(error),
                }
                if let Some(change) = run {
                    Self::apply_run_change(&mut tx, ws, change, request.created_at.millis()).await?;
                }
                Self::insert_dispatches(&mut tx, dispatches).await?;
                tx.commit().await?;
                Ok($crate::Blocked::Created(request.clone()))
            }

            async fn get_action(&self, workspace: &str, id: &str) -> $crate::Result<Option<$crate::ActionRecord>> {
                let sql = format!("SELECT {} FROM actions WHERE workspace = $1 AND id = $2", $crate::sql_approvals::ACTION_COLUMNS);
                let row: Option<$crate::sql_approvals::ActionRow> = sqlx::query_as(&sql).bind(workspace).bind(id).fetch_optional(&self.pool).await?;
                row.map($crate::sql_approvals::action).transpose()
            }

            async fn get_request(&self, workspace: &str, id: &str) -> $crate::Result<Option<$crate::RequestRecord>> {
                let sql = format!("SELECT {} FROM access_requests WHERE workspace = $1 AND id = $2", $crate::sql_approvals::REQUEST_COLUMNS);
                let row: Option<$crate::sql_approvals::RequestRow> = sqlx::query_as(&sql).bind(workspace).bind(id).fetch_optional(&self.pool).await?;
                row.map($crate::sql_approvals::request).transpose()
            }

            async fn pending_request_for(&self, workspace: &str, run_id: &str, payload_hash: &str) -> $crate::Result<Option<$crate::RequestRecord>> {
                // The conditions of the partial index `access_requests_pending_once`, spelled out
                // so the planner uses it.
                let sql = format!(
                    "SELECT {} FROM access_requests WHERE workspace = $1 AND run_id = $2 AND payload_hash = $3 \
                     AND status = 'PENDING' AND run_id <> ''",
                    $crate::sql_approvals::REQUEST_COLUMNS
                );
                let row: Option<$crate::sql_approvals::RequestRow> =
                    sqlx::query_as(&sql).bind(workspace).bind(run_id).bind(payload_hash).fetch_optional(&self.pool).await?;
                row.map($crate::sql_approvals::request).transpose()
            }

            async fn list_requests(&self, workspace: &str, statuses: &[String]) -> $crate::Result<Vec<$crate::ListedRequest>> {
                // On SQLite the rows come back as the text of one JSON array (see list_runs),
                // bodies spliced in as they are; neither backend parses bodies into trees.
                let as_json = self.rows_as_one_json();
                let select = if as_json {
                    format!(
                        "SELECT '[' || coalesce(group_concat({}, ','), '') || ']' FROM (SELECT {} FROM access_requests WHERE workspace = ",
                        $crate::sql_approvals::REQUEST_JSON_ROW,
                        $crate::sql_approvals::REQUEST_COLUMNS
                    )
                } else {
                    format!("SELECT {} FROM access_requests WHERE workspace = ", $crate::sql_approvals::REQUEST_COLUMNS)
                };
                let mut builder = sqlx::QueryBuilder::<Backend>::new(select);
                builder.push_bind(workspace);
                if !statuses.is_empty() {
                    builder.push(" AND status IN (");
                    let mut separated = builder.separated(", ");
                    for status in statuses {
                        separated.push_bind(status);
                    }
                    builder.push(")");
                }
                builder.push(" ORDER BY created_at, id LIMIT 10000");
                if as_json {
                    builder.push(") AS listed");
                    let (text,): (String,) = builder.build_query_as().fetch_one(&self.pool).await?;
                    return $crate::sql_approvals::listed_requests(&text);
                }
                let rows: Vec<$crate::sql_approvals::RequestRow> = builder.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::sql_approvals::listed_request).collect()
            }

            async fn decide_request(&self, workspace: &str, id: &str, decision: &$crate::RequestDecision) -> $crate::Result<$crate::RequestRecord> {
                let mut tx = self.begin().await?;
                let sql = format!("SELECT {} FROM access_requests WHERE workspace = $1 AND id = $2", $crate::sql_approvals::REQUEST_COLUMNS);
                let row: Option<$crate::sql_approvals::RequestRow> = sqlx::query_as(&sql).bind(workspace).bind(id).fetch_optional(&mut *tx).await?;
                let current = row.map($crate::sql_approvals::request).transpose()?.ok_or($crate::Error::NotFound)?;
                if current.status != "PENDING" {
                    return Err($crate::Error::Conflict(format!("request is {}, not PENDING", current.status)));
                }
                let body = $crate::sql_approvals::merged(&current.body, &decision.fields);
                let sql = format!(
                    "UPDATE access_requests SET status = $3, body = $4, expires_at = $5, updated_at = $6 \
                     WHERE workspace = $1 AND id = $2 AND status = 'PENDING' RETURNING {}",
                    $crate::sql_approvals::REQUEST_COLUMNS
                );
                let row: Option<$crate::sql_approvals::RequestRow> = sqlx::query_as(&sql)
                    .bind(workspace)
                    .bind(id)
                    .bind(&decision.status)
                    .bind(body.to_string())
                    .bind(decision.expires_at.map(|at| at.millis()))
                    .bind(decision.at.millis())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err($crate::Error::Conflict("request was decided concurrently".into()));
                };
                if let Some(grant) = &decision.grant {
                    sqlx::query(&format!(
                        "INSERT INTO grants ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                        $crate::sql_approvals::GRANT_COLUMNS
                    ))
                    .bind(&grant.id)
                    .bind(workspace)
                    .bind(&grant.request_id)
                    .bind(&grant.scope)
                    .bind(&grant.agent)
                    .bind(&grant.tool)
                    .bind(&grant.user_id)
                    .bind(&grant.run_id)
                    .bind(&grant.method)
                    .bind(&grant.capability)
                    .bind(&grant.action_id)
                    .bind(&grant.payload_hash)
                    .bind(grant.expires_at.map(|at| at.millis()))
                    .bind(grant.created_at.millis())
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(job) = &decision.job {
                    Self::queue_resume_job(&mut tx, workspace, job).await?;
                }
                sqlx::query("UPDATE actions SET status = $3, updated_at = $4 WHERE workspace = $1 AND id = $2")
                    .bind(workspace)
                    .bind(&current.action_id)
                    .bind(&decision.action_status)
                    .bind(decision.at.millis())
                    .execute(&mut *tx)
                    .await?;
                if let Some(change) = &decision.run {
                    Self::apply_run_change(&mut tx, workspace, change, decision.at.millis()).await?;
                }
                Self::followups_on_decision(&mut tx, workspace, id, decision.at.millis()).await?;
                tx.commit().await?;
                $crate::sql_approvals::request(row)
            }

            async fn live_grants(&self, workspace: &str, agent: &str, tool: &str, now: runagents_domain::Timestamp) -> $crate::Result<Vec<$crate::GrantRecord>> {
                let sql = format!(
                    "SELECT {} FROM grants WHERE workspace = $1 AND agent = $2 AND tool = $3 AND (expires_at IS NULL OR expires_at > $4)",
                    $crate::sql_approvals::GRANT_COLUMNS
                );
                let rows: Vec<$crate::sql_approvals::GrantRow> =
                    sqlx::query_as(&sql).bind(workspace).bind(agent).bind(tool).bind(now.millis()).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map($crate::sql_approvals::grant).collect())
            }

            async fn expire_requests(&self, now: runagents_domain::Timestamp) -> $crate::Result<u64> {
                let mut tx = self.begin().await?;
                let expired: Vec<(String, String)> = sqlx::query_as(
                    "UPDATE access_requests SET status = 'EXPIRED', updated_at = $1 \
                     WHERE status = 'APPROVED' AND expires_at IS NOT NULL AND expires_at <= $1 RETURNING workspace, id",
                )
                .bind(now.millis())
                .fetch_all(&mut *tx)
                .await?;
                for (workspace, id) in &expired {
                    Self::followups_on_expiry(&mut tx, workspace, id, now.millis()).await?;
                }
                tx.commit().await?;
                Ok(expired.len() as u64)
            }

            async fn claim_resume_job(&self, worker: &str, now: runagents_domain::Timestamp, lease_ms: i64) -> $crate::Result<Option<$crate::ResumeJob>> {
                let sql = format!(
                    "UPDATE resume_jobs SET locked_until = $2, locked_by = $3, attempts = attempts + 1 \
                     WHERE id = (SELECT id FROM resume_jobs WHERE done = 0 AND locked_until < $1 ORDER BY created_at, id LIMIT 1{SKIP_LOCKED}) \
                     AND done = 0 AND locked_until < $1 RETURNING {}",
                    $crate::sql_approvals::JOB_COLUMNS
                );
                let row: Option<$crate::sql_approvals::JobRow> =
                    sqlx::query_as(&sql).bind(now.millis()).bind(now.millis() + lease_ms).bind(worker).fetch_optional(&self.pool).await?;
                Ok(row.map($crate::sql_approvals::job))
            }

            async fn set_action_status(&self, workspace: &str, id: &str, from: &str, to: &str, at: runagents_domain::Timestamp) -> $crate::Result<bool> {
                let done = sqlx::query("UPDATE actions SET status = $4, updated_at = $5 WHERE workspace = $1 AND id = $2 AND status = $3")
                    .bind(workspace)
                    .bind(id)
                    .bind(from)
                    .bind(to)
                    .bind(at.millis())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn finish_action(&self, workspace: &str, action_id: &str, result: &$crate::ActionResult) -> $crate::Result<()> {
                let mut tx = self.begin().await?;
                let updated = sqlx::query("UPDATE actions SET status = $3, response = $4, updated_at = $5 WHERE workspace = $1 AND id = $2")
                    .bind(workspace)
                    .bind(action_id)
                    .bind(&result.status)
                    .bind(result.response.to_string())
                    .bind(result.at.millis())
                    .execute(&mut *tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    return Err($crate::Error::NotFound);
                }
                sqlx::query("UPDATE resume_jobs SET done = 1, last_error = '' WHERE workspace = $1 AND action_id = $2")
                    .bind(workspace)
                    .bind(action_id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(change) = &result.run {
                    Self::apply_run_change(&mut tx, workspace, change, result.at.millis()).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn defer_action(
                &self,
                workspace: &str,
                action_id: &str,
                reason: &str,
                run: Option<&$crate::RunChange>,
                at: runagents_domain::Timestamp,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin().await?;
                let updated = sqlx::query(
                    "UPDATE actions SET status = 'APPROVED', updated_at = $3 WHERE workspace = $1 AND id = $2 AND status IN ('APPROVED', 'DISPATCHING')",
                )
                .bind(workspace)
                .bind(action_id)
                .bind(at.millis())
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("UPDATE resume_jobs SET done = 1, locked_by = '', last_error = $3 WHERE workspace = $1 AND action_id = $2")
                    .bind(workspace)
                    .bind(action_id)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                if let Some(change) = run {
                    Self::apply_run_change(&mut tx, workspace, change, at.millis()).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn requeue_action(
                &self,
                workspace: &str,
                job: &$crate::ResumeJob,
                events: &[$crate::NewEvent],
                at: runagents_domain::Timestamp,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin().await?;
                let action = sqlx::query("UPDATE actions SET updated_at = $3 WHERE workspace = $1 AND id = $2 AND status = 'APPROVED'")
                    .bind(workspace)
                    .bind(&job.action_id)
                    .bind(at.millis())
                    .execute(&mut *tx)
                    .await?;
                let run = sqlx::query(
                    "UPDATE runs SET status = 'PAUSED_APPROVAL', updated_at = $4 \
                     WHERE workspace = $1 AND id = $2 AND status = 'PAUSED_CONSENT' AND blocked_action_id = $3",
                )
                .bind(workspace)
                .bind(&job.run_id)
                .bind(&job.action_id)
                .bind(at.millis())
                .execute(&mut *tx)
                .await?;
                if action.rows_affected() == 0 || run.rows_affected() == 0 {
                    return Ok(false);
                }
                Self::queue_resume_job(&mut tx, workspace, job).await?;
                Self::insert_events(&mut tx, workspace, &job.run_id, events, at.millis()).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn renew_resume_job(&self, id: &str, worker: &str, locked_until: runagents_domain::Timestamp) -> $crate::Result<bool> {
                let renewed = sqlx::query("UPDATE resume_jobs SET locked_until = $3 WHERE id = $1 AND locked_by = $2 AND done = 0")
                    .bind(id)
                    .bind(worker)
                    .bind(locked_until.millis())
                    .execute(&self.pool)
                    .await?;
                Ok(renewed.rows_affected() > 0)
            }

            async fn release_resume_job(&self, id: &str, error: &str, retry_at: runagents_domain::Timestamp) -> $crate::Result<()> {
                sqlx::query("UPDATE resume_jobs SET locked_until = $2, locked_by = '', last_error = $3 WHERE id = $1")
                    .bind(id)
                    .bind(retry_at.millis())
                    .bind(error)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn take_undelivered_result(&self, workspace: &str, run_id: &str, payload_hash: &str) -> $crate::Result<Option<$crate::ActionRecord>> {
                let sql = format!(
                    "UPDATE actions SET delivered = 1 WHERE id = (SELECT id FROM actions WHERE workspace = $1 AND run_id = $2 AND payload_hash = $3 \
                     AND status = 'EXECUTED' AND delivered = 0 ORDER BY created_at LIMIT 1) AND delivered = 0 RETURNING {}",
                    $crate::sql_approvals::ACTION_COLUMNS
                );
                let row: Option<$crate::sql_approvals::ActionRow> =
                    sqlx::query_as(&sql).bind(workspace).bind(run_id).bind(payload_hash).fetch_optional(&self.pool).await?;
                row.map($crate::sql_approvals::action).transpose()
            }
        }
    };
}

pub(crate) use impl_approval_store;
