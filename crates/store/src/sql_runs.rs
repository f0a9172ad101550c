//! SQL of `RunStore`, shared by both backends (see `sql.rs` for why a macro).

pub(crate) const RUN_COLUMNS: &str = "id, workspace, agent, user_id, conversation_id, status, blocked_action_id, initial_message, invoke_url, final_answer, created_at, updated_at";
pub(crate) const EVENT_COLUMNS: &str = "run_id, seq, id, type, actor, payload_hash, data, at";

pub(crate) type RunRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
);
pub(crate) type EventRow = (String, i64, String, String, String, String, String, i64);

pub(crate) fn run(row: RunRow) -> crate::RunRecord {
    let (
        id,
        workspace,
        agent,
        user_id,
        conversation_id,
        status,
        blocked_action_id,
        initial_message,
        invoke_url,
        final_answer,
        created_at,
        updated_at,
    ) = row;
    crate::RunRecord {
        id,
        workspace,
        agent,
        user_id,
        conversation_id,
        status,
        blocked_action_id,
        initial_message,
        invoke_url,
        final_answer,
        created_at: runagents_domain::Timestamp(created_at),
        updated_at: runagents_domain::Timestamp(updated_at),
    }
}

pub(crate) fn event(row: EventRow) -> crate::Result<crate::EventRecord> {
    let (run_id, seq, id, kind, actor, payload_hash, data, at) = row;
    let data = serde_json::from_str(&data)
        .map_err(|e| crate::Error::Backend(format!("stored event data is not JSON: {e}")))?;
    Ok(crate::EventRecord {
        run_id,
        seq,
        id,
        kind,
        actor,
        payload_hash,
        data,
        at: runagents_domain::Timestamp(at),
    })
}

macro_rules! impl_run_store {
    ($store:ty) => {
        impl $store {
            /// Bumps `last_seq` by the number of events and inserts them with the seqs taken.
            async fn insert_events(
                tx: &mut sqlx::Transaction<'_, Backend>,
                workspace: &str,
                run_id: &str,
                events: &[$crate::NewEvent],
                at: i64,
            ) -> $crate::Result<Vec<$crate::EventRecord>> {
                let count = events.len() as i64;
                let last: Option<(i64,)> = sqlx::query_as(
                    "UPDATE runs SET last_seq = last_seq + $3, updated_at = $4 WHERE workspace = $1 AND id = $2 RETURNING last_seq",
                )
                .bind(workspace)
                .bind(run_id)
                .bind(count)
                .bind(at)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((last,)) = last else { return Err($crate::Error::NotFound) };
                let mut stored = Vec::with_capacity(events.len());
                for (offset, event) in events.iter().enumerate() {
                    let seq = last - count + 1 + offset as i64;
                    sqlx::query(
                        "INSERT INTO run_events (run_id, seq, id, type, actor, payload_hash, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(run_id)
                    .bind(seq)
                    .bind(&event.id)
                    .bind(&event.kind)
                    .bind(&event.actor)
                    .bind(&event.payload_hash)
                    .bind(event.data.to_string())
                    .bind(event.at.millis())
                    .execute(&mut **tx)
                    .await?;
                    stored.push($crate::EventRecord {
                        run_id: run_id.to_owned(),
                        seq,
                        id: event.id.clone(),
                        kind: event.kind.clone(),
                        actor: event.actor.clone(),
                        payload_hash: event.payload_hash.clone(),
                        data: event.data.clone(),
                        at: event.at,
                    });
                }
                Ok(stored)
            }
        }

        #[async_trait::async_trait]
        impl $crate::RunStore for $store {
            async fn create_run(&self, run: &$crate::RunRecord, events: &[$crate::NewEvent]) -> $crate::Result<Vec<$crate::EventRecord>> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO runs (id, workspace, agent, user_id, conversation_id, status, blocked_action_id, initial_message, invoke_url, final_answer, last_seq, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12)",
                )
                .bind(&run.id)
                .bind(&run.workspace)
                .bind(&run.agent)
                .bind(&run.user_id)
                .bind(&run.conversation_id)
                .bind(&run.status)
                .bind(&run.blocked_action_id)
                .bind(&run.initial_message)
                .bind(&run.invoke_url)
                .bind(&run.final_answer)
                .bind(run.created_at.millis())
                .bind(run.updated_at.millis())
                .execute(&mut *tx)
                .await?;
                let stored = Self::insert_events(&mut tx, &run.workspace, &run.id, events, run.updated_at.millis()).await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn get_run(&self, workspace: &str, id: &str) -> $crate::Result<Option<$crate::RunRecord>> {
                let sql = format!("SELECT {} FROM runs WHERE workspace = $1 AND id = $2", $crate::sql_runs::RUN_COLUMNS);
                let row: Option<$crate::sql_runs::RunRow> = sqlx::query_as(&sql).bind(workspace).bind(id).fetch_optional(&self.pool).await?;
                Ok(row.map($crate::sql_runs::run))
            }

            async fn list_runs(&self, workspace: &str, filter: &$crate::RunFilter) -> $crate::Result<Vec<$crate::RunRecord>> {
                let mut builder = sqlx::QueryBuilder::<Backend>::new(format!("SELECT {} FROM runs WHERE workspace = ", $crate::sql_runs::RUN_COLUMNS));
                builder.push_bind(workspace);
                if let Some(agent) = &filter.agent {
                    builder.push(" AND agent = ").push_bind(agent);
                }
                if let Some(conversation) = &filter.conversation {
                    builder.push(" AND conversation_id = ").push_bind(conversation);
                }
                if let Some(user) = &filter.user {
                    builder.push(" AND user_id = ").push_bind(user);
                }
                if !filter.statuses.is_empty() {
                    builder.push(" AND status IN (");
                    let mut separated = builder.separated(", ");
                    for status in &filter.statuses {
                        separated.push_bind(status);
                    }
                    builder.push(")");
                }
                builder.push(" ORDER BY updated_at DESC, id DESC LIMIT ").push_bind(i64::from(filter.limit.max(1)));
                let rows: Vec<$crate::sql_runs::RunRow> = builder.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map($crate::sql_runs::run).collect())
            }

            async fn update_run(
                &self,
                workspace: &str,
                id: &str,
                update: &$crate::RunUpdate,
                events: &[$crate::NewEvent],
            ) -> $crate::Result<($crate::RunRecord, Vec<$crate::EventRecord>)> {
                let mut tx = self.pool.begin().await?;
                let sql = format!(
                    "UPDATE runs SET status = $4, blocked_action_id = COALESCE($5, blocked_action_id), \
                     final_answer = COALESCE($6, final_answer), updated_at = $7 \
                     WHERE workspace = $1 AND id = $2 AND status = $3 RETURNING {}",
                    $crate::sql_runs::RUN_COLUMNS
                );
                let row: Option<$crate::sql_runs::RunRow> = sqlx::query_as(&sql)
                    .bind(workspace)
                    .bind(id)
                    .bind(&update.from)
                    .bind(&update.to)
                    .bind(update.blocked_action_id.as_deref())
                    .bind(update.final_answer.as_deref())
                    .bind(update.at.millis())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    let exists: Option<(String,)> = sqlx::query_as("SELECT status FROM runs WHERE workspace = $1 AND id = $2")
                        .bind(workspace)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Err(match exists {
                        Some((status,)) => $crate::Error::Conflict(format!("run is {status}, not {}", update.from)),
                        None => $crate::Error::NotFound,
                    });
                };
                let stored = Self::insert_events(&mut tx, workspace, id, events, update.at.millis()).await?;
                tx.commit().await?;
                Ok(($crate::sql_runs::run(row), stored))
            }

            async fn append_events(&self, workspace: &str, run_id: &str, events: &[$crate::NewEvent]) -> $crate::Result<Vec<$crate::EventRecord>> {
                let at = events.last().map(|event| event.at.millis()).unwrap_or_default();
                let mut tx = self.pool.begin().await?;
                let stored = Self::insert_events(&mut tx, workspace, run_id, events, at).await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn list_events(&self, workspace: &str, run_id: &str, after_seq: i64, tail: Option<u32>) -> $crate::Result<Vec<$crate::EventRecord>> {
                let columns = $crate::sql_runs::EVENT_COLUMNS;
                // Join on runs so a run of another workspace yields nothing.
                let scoped = format!(
                    "SELECT {columns} FROM run_events WHERE run_id = $1 AND seq > $2 \
                     AND EXISTS (SELECT 1 FROM runs WHERE runs.id = $1 AND runs.workspace = $3)"
                );
                let rows: Vec<$crate::sql_runs::EventRow> = match tail {
                    Some(limit) => {
                        let sql = format!("SELECT {columns} FROM ({scoped} ORDER BY seq DESC LIMIT $4) AS tail ORDER BY seq");
                        sqlx::query_as(&sql).bind(run_id).bind(after_seq).bind(workspace).bind(i64::from(limit)).fetch_all(&self.pool).await?
                    }
                    None => {
                        let sql = format!("{scoped} ORDER BY seq");
                        sqlx::query_as(&sql).bind(run_id).bind(after_seq).bind(workspace).fetch_all(&self.pool).await?
                    }
                };
                rows.into_iter().map($crate::sql_runs::event).collect()
            }

            async fn set_agent_credential(&self, workspace: &str, agent: &str, purpose: &str, hash: &str, at: runagents_domain::Timestamp) -> $crate::Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM agent_credentials WHERE workspace = $1 AND agent = $2 AND (purpose = $3 OR hash = $4)")
                    .bind(workspace)
                    .bind(agent)
                    .bind(purpose)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO agent_credentials (hash, workspace, agent, created_at, purpose) VALUES ($1, $2, $3, $4, $5)")
                    .bind(hash)
                    .bind(workspace)
                    .bind(agent)
                    .bind(at.millis())
                    .bind(purpose)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn agent_by_credential(&self, hash: &str) -> $crate::Result<Option<(String, String)>> {
                Ok(sqlx::query_as("SELECT workspace, agent FROM agent_credentials WHERE hash = $1").bind(hash).fetch_optional(&self.pool).await?)
            }

            async fn delete_agent_credentials(&self, workspace: &str, agent: &str) -> $crate::Result<()> {
                sqlx::query("DELETE FROM agent_credentials WHERE workspace = $1 AND agent = $2").bind(workspace).bind(agent).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_run_store;
