//! SQL of `RunStore`, shared by both backends (see `sql.rs` for why a macro).

pub(crate) const RUN_COLUMNS: &str = "id, workspace, agent, user_id, conversation_id, status, blocked_action_id, initial_message, invoke_url, final_answer, callback_url, turn, created_at, updated_at";
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
    String,
    i64,
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
        callback_url,
        turn,
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
        callback_url,
        turn,
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
            /// Waits until journaled events are committed: before reading events and before any
            /// transaction that may write them, so seqs follow the order calls were answered in.
            async fn settle_events(&self) -> $crate::Result<()> {
                match self.event_journal() {
                    Some(journal) => journal.settle().await,
                    None => Ok(()),
                }
            }

            /// A transaction that comes after every journaled event (see `settle_events`). On
            /// SQLite it holds the write lock from its start, so it must not be opened while
            /// holding the write turn (the flusher needs both) — see `begin_without_events`.
            async fn begin(&self) -> $crate::Result<sqlx::Transaction<'static, Backend>> {
                self.settle_events().await?;
                self.begin_without_events().await
            }

            /// A transaction that need not wait for the event journal: it writes no events, or
            /// its caller settled before taking the write turn. It may be opened while holding
            /// the turn (and must be, if it will take one).
            #[expect(clippy::disallowed_methods, reason = "the one place that opens a transaction")]
            async fn begin_without_events(&self) -> $crate::Result<sqlx::Transaction<'static, Backend>> {
                Ok(self.pool.begin_with(BEGIN).await?)
            }

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

            /// Bumps the workspace's credential generation (see `Store::egress_generations`).
            async fn bump_credentials(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO generations (workspace, kind, generation) VALUES ($1, $2, 1) \
                     ON CONFLICT (workspace, kind) DO UPDATE SET generation = generations.generation + 1",
                )
                .bind(workspace)
                .bind($crate::CREDENTIALS_GENERATION)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// After a status change in `tx`: a run that is now COMPLETED or FAILED gets its
            /// callback queued (once, when it has a URL), loses its recorded calls, and its open
            /// approvals close (`close_open_approvals`).
            async fn run_status_changed(
                tx: &mut sqlx::Transaction<'_, Backend>,
                workspace: &str,
                run_id: &str,
                to: &str,
                at: i64,
            ) -> $crate::Result<()> {
                if !matches!(to, "COMPLETED" | "FAILED") {
                    return Ok(());
                }
                // The change asked for may not have applied (its run was elsewhere by then): what
                // follows is for a run that has ended in this transaction.
                let ended: Option<(String,)> = sqlx::query_as(
                    "SELECT status FROM runs WHERE workspace = $1 AND id = $2 AND status IN ('COMPLETED', 'FAILED')",
                )
                .bind(workspace)
                .bind(run_id)
                .fetch_optional(&mut **tx)
                .await?;
                if ended.is_none() {
                    return Ok(());
                }
                let callback = sqlx::query(
                    "INSERT INTO run_callbacks (run_id, workspace, url, state, attempts, next_attempt_at, locked_until, locked_by, last_error, created_at, updated_at) \
                     SELECT id, workspace, callback_url, 'pending', 0, $3, 0, '', '', $3, $3 FROM runs \
                     WHERE workspace = $1 AND id = $2 AND callback_url <> '' \
                     ON CONFLICT (run_id) DO NOTHING",
                )
                .bind(workspace)
                .bind(run_id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                if callback.rows_affected() > 0 {
                    Self::announce(tx, $crate::Work::Callback, workspace).await?;
                }
                sqlx::query(
                    "DELETE FROM run_calls WHERE workspace = $1 AND run_id = $2",
                )
                .bind(workspace)
                .bind(run_id)
                .execute(&mut **tx)
                .await?;
                Self::close_open_approvals(tx, workspace, run_id, at).await
            }

            /// A run that ended (in `tx`) makes no more writes: its PENDING requests expire, and so do
            /// its run-scope approvals (their grants end), with their connectors' messages
            /// followed up like any expiry; its actions that were not sent yet (BLOCKED, or
            /// APPROVED and waiting for a replay or for consent) expire with their replay jobs.
            /// A replay already out (DISPATCHING) is left to finish.
            async fn close_open_approvals(
                tx: &mut sqlx::Transaction<'_, Backend>,
                workspace: &str,
                run_id: &str,
                at: i64,
            ) -> $crate::Result<()> {
                let expired: Vec<(String,)> = sqlx::query_as(
                    "UPDATE access_requests SET status = 'EXPIRED', updated_at = $3 \
                     WHERE workspace = $1 AND run_id = $2 AND run_id <> '' AND status = 'PENDING' RETURNING id",
                )
                .bind(workspace)
                .bind(run_id)
                .bind(at)
                .fetch_all(&mut **tx)
                .await?;
                for (request_id,) in &expired {
                    Self::followups_on_closing(tx, workspace, request_id, at).await?;
                }
                let ended_grants: Vec<(String,)> = sqlx::query_as(
                    "UPDATE grants SET expires_at = $3 \
                     WHERE workspace = $1 AND run_id = $2 AND scope = 'run' AND (expires_at IS NULL OR expires_at > $3) \
                     RETURNING request_id",
                )
                .bind(workspace)
                .bind(run_id)
                .bind(at)
                .fetch_all(&mut **tx)
                .await?;
                for (request_id,) in &ended_grants {
                    let approval = sqlx::query(
                        "UPDATE access_requests SET status = 'EXPIRED', updated_at = $3 WHERE workspace = $1 AND id = $2 AND status = 'APPROVED'",
                    )
                    .bind(workspace)
                    .bind(request_id)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                    if approval.rows_affected() > 0 {
                        Self::followups_on_expiry(tx, workspace, request_id, at).await?;
                    }
                }
                let actions = sqlx::query(
                    "UPDATE actions SET status = 'EXPIRED', updated_at = $3 \
                     WHERE workspace = $1 AND run_id = $2 AND status IN ('BLOCKED', 'APPROVED')",
                )
                .bind(workspace)
                .bind(run_id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                if actions.rows_affected() > 0 {
                    sqlx::query(
                        "UPDATE resume_jobs SET done = 1, locked_by = '', last_error = 'the run ended before the call was made' \
                         WHERE workspace = $1 AND run_id = $2 AND done = 0 AND action_id IN \
                         (SELECT id FROM actions WHERE workspace = $1 AND run_id = $2 AND status = 'EXPIRED')",
                    )
                    .bind(workspace)
                    .bind(run_id)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::RunStore for $store {
            async fn create_run(&self, run: &$crate::RunRecord, events: &[$crate::NewEvent]) -> $crate::Result<Vec<$crate::EventRecord>> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO runs (id, workspace, agent, user_id, conversation_id, status, blocked_action_id, initial_message, invoke_url, final_answer, callback_url, turn, last_seq, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $13, $14, 0, $11, $12)",
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
                .bind(&run.callback_url)
                .bind(run.turn)
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
                // On SQLite the rows come back as one JSON array: one hand-off from its worker
                // thread instead of one per row, which is most of a long list's time.
                let as_json = self.rows_as_one_json();
                let select = if as_json {
                    format!(
                        "SELECT json_group_array(json_array({columns}) ORDER BY updated_at DESC, id DESC) FROM (SELECT {columns} FROM runs WHERE workspace = ",
                        columns = $crate::sql_runs::RUN_COLUMNS
                    )
                } else {
                    format!("SELECT {} FROM runs WHERE workspace = ", $crate::sql_runs::RUN_COLUMNS)
                };
                let mut builder = sqlx::QueryBuilder::<Backend>::new(select);
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
                let rows: Vec<$crate::sql_runs::RunRow> = if as_json {
                    builder.push(") AS listed");
                    let (text,): (String,) = builder.build_query_as().fetch_one(&self.pool).await?;
                    serde_json::from_str(&text)
                        .map_err(|e| $crate::Error::Backend(format!("listed runs are not the expected JSON: {e}")))?
                } else {
                    builder.build_query_as().fetch_all(&self.pool).await?
                };
                Ok(rows.into_iter().map($crate::sql_runs::run).collect())
            }

            async fn update_run(
                &self,
                workspace: &str,
                id: &str,
                update: &$crate::RunUpdate,
                events: &[$crate::NewEvent],
            ) -> $crate::Result<($crate::RunRecord, Vec<$crate::EventRecord>)> {
                let mut tx = self.begin().await?;
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
                Self::run_status_changed(&mut tx, workspace, id, &update.to, update.at.millis()).await?;
                let stored = Self::insert_events(&mut tx, workspace, id, events, update.at.millis()).await?;
                tx.commit().await?;
                Ok(($crate::sql_runs::run(row), stored))
            }

            async fn append_events(&self, workspace: &str, run_id: &str, events: &[$crate::NewEvent]) -> $crate::Result<Vec<$crate::EventRecord>> {
                let at = events.last().map(|event| event.at.millis()).unwrap_or_default();
                let mut tx = self.begin().await?;
                let stored = Self::insert_events(&mut tx, workspace, run_id, events, at).await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn append_event_batches(&self, batches: &[$crate::EventBatch]) -> $crate::Result<Vec<bool>> {
                if batches.is_empty() {
                    return Ok(Vec::new());
                }
                // Runs in the order first seen; each run's seqs are taken once for all its events.
                let mut runs: Vec<(&str, &str, i64, i64)> = Vec::new();
                for batch in batches {
                    let count = batch.events.len() as i64;
                    match runs.iter_mut().find(|(ws, id, _, _)| *ws == batch.workspace && *id == batch.run_id) {
                        Some(run) => run.2 += count,
                        None => runs.push((&batch.workspace, &batch.run_id, count, 0)),
                    }
                }
                let at = $crate::EventBatch::latest_at(batches);
                self.settle_events().await?;
                let _turn = self.write_turn().await;
                match self.append_in_one_trip(batches, at).await {
                    None => {}
                    Some(Ok(appended)) => return Ok(appended),
                    // Nothing of it was committed: the statement by statement path below.
                    Some(Err(error)) => tracing::warn!(%error, "one-trip event batch failed; writing it statement by statement"),
                }
                // Settled above, before the turn: settling while holding it would wait for a
                // flusher that needs the turn.
                let mut tx = self.begin_without_events().await?;
                for run in &mut runs {
                    let last: Option<(i64,)> = sqlx::query_as(
                        "UPDATE runs SET last_seq = last_seq + $3, updated_at = $4 WHERE workspace = $1 AND id = $2 RETURNING last_seq",
                    )
                    .bind(run.0)
                    .bind(run.1)
                    .bind(run.2)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                    // The next seq to hand out, or -1 for a run that does not exist.
                    run.3 = last.map_or(-1, |(last,)| last - run.2 + 1);
                }
                let mut appended = Vec::with_capacity(batches.len());
                let mut rows: Vec<(&str, i64, &$crate::NewEvent)> = Vec::new();
                for batch in batches {
                    let Some(run) = runs.iter_mut().find(|(ws, id, _, _)| *ws == batch.workspace && *id == batch.run_id) else {
                        appended.push(false);
                        continue;
                    };
                    if run.3 < 0 {
                        appended.push(false);
                        continue;
                    }
                    for event in &batch.events {
                        rows.push((&batch.run_id, run.3, event));
                        run.3 += 1;
                    }
                    appended.push(true);
                }
                // One statement per chunk of rows, far under either backend's parameter limit.
                for chunk in rows.chunks(500) {
                    let mut builder = sqlx::QueryBuilder::<Backend>::new(
                        "INSERT INTO run_events (run_id, seq, id, type, actor, payload_hash, data, at) ",
                    );
                    builder.push_values(chunk, |mut row, (run_id, seq, event)| {
                        row.push_bind(*run_id)
                            .push_bind(*seq)
                            .push_bind(&event.id)
                            .push_bind(&event.kind)
                            .push_bind(&event.actor)
                            .push_bind(&event.payload_hash)
                            .push_bind(event.data.to_string())
                            .push_bind(event.at.millis());
                    });
                    builder.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(appended)
            }

            async fn next_run_turn(&self, workspace: &str, run_id: &str) -> $crate::Result<i64> {
                let row: Option<(i64,)> = sqlx::query_as("UPDATE runs SET turn = turn + 1 WHERE workspace = $1 AND id = $2 RETURNING turn")
                    .bind(workspace)
                    .bind(run_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(turn,)| turn).ok_or($crate::Error::NotFound)
            }

            async fn record_run_call(
                &self,
                workspace: &str,
                run_id: &str,
                payload_hash: &str,
                turn: i64,
                call: &$crate::RecordedCall,
                at: runagents_domain::Timestamp,
            ) -> $crate::Result<bool> {
                let headers = call.headers.to_string();
                // Two calls with the same payload racing for the next ordinal: the loser tries again.
                for _ in 0..5 {
                    let inserted = sqlx::query(
                        "INSERT INTO run_calls (workspace, run_id, payload_hash, ordinal, served_turn, status, headers, body, truncated, created_at) \
                         SELECT $1, $2, $3, COALESCE((SELECT MAX(ordinal) + 1 FROM run_calls WHERE workspace = $1 AND run_id = $2 AND payload_hash = $3), 0), \
                         $4, $5, $6, $7, $8, $9 \
                         WHERE EXISTS (SELECT 1 FROM runs WHERE workspace = $1 AND id = $2 AND status NOT IN ('COMPLETED', 'FAILED'))",
                    )
                    .bind(workspace)
                    .bind(run_id)
                    .bind(payload_hash)
                    .bind(turn)
                    .bind(i64::from(call.status))
                    .bind(&headers)
                    .bind(&call.body)
                    .bind(i64::from(call.truncated))
                    .bind(at.millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::Error::from);
                    match inserted {
                        Ok(done) => return Ok(done.rows_affected() > 0),
                        Err($crate::Error::Conflict(_)) => continue,
                        Err(error) => return Err(error),
                    }
                }
                Err($crate::Error::Conflict("could not record the call: too many concurrent calls with the same payload".into()))
            }

            async fn take_recorded_call(&self, workspace: &str, run_id: &str, payload_hash: &str, turn: i64) -> $crate::Result<Option<$crate::RecordedCall>> {
                let row: Option<(i64, String, Vec<u8>, i64)> = sqlx::query_as(
                    "UPDATE run_calls SET served_turn = $4 WHERE workspace = $1 AND run_id = $2 AND payload_hash = $3 AND served_turn < $4 \
                     AND ordinal = (SELECT MIN(ordinal) FROM run_calls WHERE workspace = $1 AND run_id = $2 AND payload_hash = $3 AND served_turn < $4) \
                     RETURNING status, headers, body, truncated",
                )
                .bind(workspace)
                .bind(run_id)
                .bind(payload_hash)
                .bind(turn)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(status, headers, body, truncated)| {
                    Ok($crate::RecordedCall {
                        status: u16::try_from(status).unwrap_or(200),
                        headers: serde_json::from_str(&headers)
                            .map_err(|e| $crate::Error::Backend(format!("stored headers are not JSON: {e}")))?,
                        body,
                        truncated: truncated != 0,
                    })
                })
                .transpose()
            }

            fn journals_events(&self) -> bool {
                self.event_journal().is_some()
            }

            async fn journal_events(&self, batch: $crate::EventBatch) -> $crate::Result<()> {
                match self.event_journal() {
                    Some(journal) => journal.append(batch).await,
                    None => self.append_event_batches(std::slice::from_ref(&batch)).await.map(|_| ()),
                }
            }

            async fn flush_events(&self) -> $crate::Result<()> {
                self.settle_events().await
            }

            async fn list_events(&self, workspace: &str, run_id: &str, after_seq: i64, tail: Option<u32>) -> $crate::Result<Vec<$crate::EventRecord>> {
                self.settle_events().await?;
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
                let mut tx = self.begin().await?;
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
                Self::bump_credentials(&mut tx, workspace).await?;
                tx.commit().await?;
                if let Some(local) = self.local_generations() {
                    local.bump();
                }
                Ok(())
            }

            async fn agent_by_credential(&self, hash: &str) -> $crate::Result<Option<(String, String)>> {
                Ok(sqlx::query_as("SELECT workspace, agent FROM agent_credentials WHERE hash = $1").bind(hash).fetch_optional(&self.pool).await?)
            }

            async fn delete_agent_credentials(&self, workspace: &str, agent: &str) -> $crate::Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query("DELETE FROM agent_credentials WHERE workspace = $1 AND agent = $2").bind(workspace).bind(agent).execute(&mut *tx).await?;
                Self::bump_credentials(&mut tx, workspace).await?;
                tx.commit().await?;
                if let Some(local) = self.local_generations() {
                    local.bump();
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_run_store;
