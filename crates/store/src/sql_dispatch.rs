//! SQL of `DispatchStore`, shared by both backends (see `sql.rs` for why a macro).

use runagents_domain::Timestamp;

pub(crate) const DISPATCH_COLUMNS: &str = "id, workspace, request_id, connector_id, purpose, mode, position, state, attempts, next_attempt_at, locked_until, locked_by, external_ref, last_error, created_at, updated_at";

/// Copies delivered rows into pending follow-ups (`<id>-f`, once each); `$1` is the time and
/// the caller appends the condition on `d`.
pub(crate) const FOLLOWUPS_FROM: &str = "INSERT INTO dispatches (id, workspace, request_id, connector_id, purpose, mode, position, state, attempts, next_attempt_at, locked_until, locked_by, external_ref, last_error, created_at, updated_at) \
     SELECT d.id || '-f', d.workspace, d.request_id, d.connector_id, 'followup', 'all', d.position, 'pending', 0, $1, 0, '', d.external_ref, '', $1, $1 \
     FROM dispatches d WHERE d.purpose = 'deliver' AND ";

/// The same for an approval window that expired (`<id>-x`, once each).
pub(crate) const EXPIRY_FOLLOWUPS_FROM: &str = "INSERT INTO dispatches (id, workspace, request_id, connector_id, purpose, mode, position, state, attempts, next_attempt_at, locked_until, locked_by, external_ref, last_error, created_at, updated_at) \
     SELECT d.id || '-x', d.workspace, d.request_id, d.connector_id, 'followup', 'all', d.position, 'pending', 0, $1, 0, '', d.external_ref, '', $1, $1 \
     FROM dispatches d WHERE d.purpose = 'deliver' AND ";

#[derive(sqlx::FromRow)]
pub(crate) struct DispatchRow {
    id: String,
    workspace: String,
    request_id: String,
    connector_id: String,
    purpose: String,
    mode: String,
    position: i64,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    #[expect(
        dead_code,
        reason = "selected with the other columns; leases are read in SQL only"
    )]
    locked_until: i64,
    #[expect(
        dead_code,
        reason = "selected with the other columns; leases are read in SQL only"
    )]
    locked_by: String,
    external_ref: String,
    last_error: String,
    created_at: i64,
    #[expect(dead_code, reason = "selected with the other columns")]
    updated_at: i64,
}

pub(crate) fn dispatch(row: DispatchRow) -> crate::Result<crate::DispatchRecord> {
    let external_ref = if row.external_ref.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&row.external_ref)
            .map_err(|e| crate::Error::Backend(format!("stored external_ref is invalid: {e}")))?
    };
    Ok(crate::DispatchRecord {
        id: row.id,
        workspace: row.workspace,
        request_id: row.request_id,
        connector_id: row.connector_id,
        purpose: row.purpose,
        mode: row.mode,
        position: row.position,
        state: row.state,
        attempts: row.attempts,
        next_attempt_at: Timestamp(row.next_attempt_at),
        external_ref,
        last_error: row.last_error,
        created_at: Timestamp(row.created_at),
    })
}

pub(crate) fn external_ref_text(value: &serde_json::Value) -> String {
    if value.is_null() {
        String::new()
    } else {
        value.to_string()
    }
}

macro_rules! impl_dispatch_store {
    ($store:ty) => {
        impl $store {
            /// Writes outbox rows inside the caller's transaction.
            async fn insert_dispatches(tx: &mut sqlx::Transaction<'_, Backend>, rows: &[$crate::DispatchRecord]) -> $crate::Result<()> {
                for row in rows {
                    sqlx::query(&format!(
                        "INSERT INTO dispatches ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, '', $11, $12, $13, $13)",
                        $crate::sql_dispatch::DISPATCH_COLUMNS
                    ))
                    .bind(&row.id)
                    .bind(&row.workspace)
                    .bind(&row.request_id)
                    .bind(&row.connector_id)
                    .bind(&row.purpose)
                    .bind(&row.mode)
                    .bind(row.position)
                    .bind(&row.state)
                    .bind(row.attempts)
                    .bind(row.next_attempt_at.millis())
                    .bind($crate::sql_dispatch::external_ref_text(&row.external_ref))
                    .bind(&row.last_error)
                    .bind(row.created_at.millis())
                    .execute(&mut **tx)
                    .await?;
                }
                match rows.first() {
                    Some(row) => Self::announce(tx, $crate::Work::Dispatch, &row.workspace).await,
                    None => Ok(()),
                }
            }

            /// On a decision: pending deliveries not in flight are skipped, delivered ones get
            /// a follow-up.
            async fn followups_on_decision(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str, request_id: &str, at: i64) -> $crate::Result<()> {
                Self::skip_pending_deliveries(tx, workspace, request_id, at).await?;
                let followups = sqlx::query(&format!(
                    "{}d.workspace = $2 AND d.request_id = $3 AND d.state = 'delivered' ON CONFLICT (id) DO NOTHING",
                    $crate::sql_dispatch::FOLLOWUPS_FROM
                ))
                .bind(at)
                .bind(workspace)
                .bind(request_id)
                .execute(&mut **tx)
                .await?;
                if followups.rows_affected() > 0 {
                    Self::announce(tx, $crate::Work::Dispatch, workspace).await?;
                }
                Ok(())
            }

            /// A PENDING request closed without a decision (its run ended): deliveries not yet
            /// made are skipped, and every delivered one gets an expiry follow-up.
            async fn followups_on_closing(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str, request_id: &str, at: i64) -> $crate::Result<()> {
                Self::skip_pending_deliveries(tx, workspace, request_id, at).await?;
                Self::followups_on_expiry(tx, workspace, request_id, at).await
            }

            /// Deliveries of a request that is no longer PENDING are not made (one in flight
            /// finishes; its message is followed up like the others).
            async fn skip_pending_deliveries(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str, request_id: &str, at: i64) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE dispatches SET state = 'skipped', updated_at = $1 WHERE workspace = $2 AND request_id = $3 \
                     AND purpose = 'deliver' AND state = 'pending' AND locked_until < $1",
                )
                .bind(at)
                .bind(workspace)
                .bind(request_id)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// On expiry: every delivered row of the request gets an expiry follow-up.
            async fn followups_on_expiry(tx: &mut sqlx::Transaction<'_, Backend>, workspace: &str, request_id: &str, at: i64) -> $crate::Result<()> {
                let followups = sqlx::query(&format!(
                    "{}d.workspace = $2 AND d.request_id = $3 AND d.state = 'delivered' ON CONFLICT (id) DO NOTHING",
                    $crate::sql_dispatch::EXPIRY_FOLLOWUPS_FROM
                ))
                .bind(at)
                .bind(workspace)
                .bind(request_id)
                .execute(&mut **tx)
                .await?;
                if followups.rows_affected() > 0 {
                    Self::announce(tx, $crate::Work::Dispatch, workspace).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::DispatchStore for $store {
            async fn claim_dispatch(&self, worker: &str, now: runagents_domain::Timestamp, lease_ms: i64) -> $crate::Result<Option<$crate::DispatchRecord>> {
                let sql = format!(
                    "UPDATE dispatches SET locked_until = $2, locked_by = $3, attempts = attempts + 1, updated_at = $1 \
                     WHERE id = (SELECT d.id FROM dispatches d WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND d.locked_until < $1 \
                        AND NOT (d.mode = 'first_success' AND d.purpose = 'deliver' AND EXISTS (SELECT 1 FROM dispatches e \
                            WHERE e.request_id = d.request_id AND e.purpose = 'deliver' AND e.position < d.position \
                            AND e.state = 'pending' AND (e.attempts = 0 OR e.locked_until >= $1))) \
                        ORDER BY d.next_attempt_at, d.created_at, d.position LIMIT 1{SKIP_LOCKED}) \
                     AND state = 'pending' AND locked_until < $1 RETURNING {}",
                    $crate::sql_dispatch::DISPATCH_COLUMNS
                );
                let row: Option<$crate::sql_dispatch::DispatchRow> =
                    sqlx::query_as(&sql).bind(now.millis()).bind(now.millis() + lease_ms).bind(worker).fetch_optional(&self.pool).await?;
                row.map($crate::sql_dispatch::dispatch).transpose()
            }

            async fn complete_dispatch(&self, id: &str, external_ref: &serde_json::Value, external_key: &str, at: runagents_domain::Timestamp) -> $crate::Result<()> {
                let mut tx = self.begin().await?;
                let sql = format!(
                    "UPDATE dispatches SET state = 'delivered', locked_until = 0, locked_by = '', last_error = '', external_ref = $2, external_key = $4, updated_at = $3 \
                     WHERE id = $1 RETURNING {}",
                    $crate::sql_dispatch::DISPATCH_COLUMNS
                );
                let row: Option<$crate::sql_dispatch::DispatchRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .bind($crate::sql_dispatch::external_ref_text(external_ref))
                    .bind(at.millis())
                    .bind(external_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let row = row.map($crate::sql_dispatch::dispatch).transpose()?.ok_or($crate::Error::NotFound)?;
                if row.purpose == $crate::dispatch::DELIVER {
                    if row.mode == "first_success" {
                        sqlx::query(
                            "UPDATE dispatches SET state = 'skipped', locked_until = 0, updated_at = $1 \
                             WHERE request_id = $2 AND purpose = 'deliver' AND state = 'pending' AND id <> $3",
                        )
                        .bind(at.millis())
                        .bind(&row.request_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlx::query(&format!(
                        "{}d.id = $2 AND EXISTS (SELECT 1 FROM access_requests r WHERE r.id = d.request_id AND r.status <> 'PENDING') ON CONFLICT (id) DO NOTHING",
                        $crate::sql_dispatch::FOLLOWUPS_FROM
                    ))
                    .bind(at.millis())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn retry_dispatch(&self, id: &str, error: &str, retry_at: Option<runagents_domain::Timestamp>, at: runagents_domain::Timestamp) -> $crate::Result<()> {
                let (state, next) = match retry_at {
                    Some(retry_at) => ("pending", retry_at.millis()),
                    None => ("failed", at.millis()),
                };
                sqlx::query(
                    "UPDATE dispatches SET state = $2, next_attempt_at = $3, locked_until = 0, locked_by = '', last_error = $4, updated_at = $5 \
                     WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(state)
                .bind(next)
                .bind(error)
                .bind(at.millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_dispatch(&self, id: &str) -> $crate::Result<Option<$crate::DispatchRecord>> {
                let sql = format!("SELECT {} FROM dispatches WHERE id = $1", $crate::sql_dispatch::DISPATCH_COLUMNS);
                let row: Option<$crate::sql_dispatch::DispatchRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?;
                row.map($crate::sql_dispatch::dispatch).transpose()
            }

            async fn list_dispatches(&self, workspace: &str, request_id: &str) -> $crate::Result<Vec<$crate::DispatchRecord>> {
                let sql = format!(
                    "SELECT {} FROM dispatches WHERE workspace = $1 AND request_id = $2 ORDER BY purpose, position, id",
                    $crate::sql_dispatch::DISPATCH_COLUMNS
                );
                let rows: Vec<$crate::sql_dispatch::DispatchRow> = sqlx::query_as(&sql).bind(workspace).bind(request_id).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::sql_dispatch::dispatch).collect()
            }

            async fn find_delivery(&self, workspace: &str, connector_id: &str, external_key: &str) -> $crate::Result<Option<$crate::DispatchRecord>> {
                if external_key.is_empty() {
                    return Ok(None);
                }
                let sql = format!(
                    "SELECT {} FROM dispatches WHERE connector_id = $1 AND external_key = $2 AND workspace = $3 AND purpose = 'deliver' \
                     ORDER BY created_at DESC, id LIMIT 1",
                    $crate::sql_dispatch::DISPATCH_COLUMNS
                );
                let row: Option<$crate::sql_dispatch::DispatchRow> =
                    sqlx::query_as(&sql).bind(connector_id).bind(external_key).bind(workspace).fetch_optional(&self.pool).await?;
                row.map($crate::sql_dispatch::dispatch).transpose()
            }

            async fn use_decision_link(&self, workspace: &str, link_id: &str, request_id: &str, at: runagents_domain::Timestamp) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO decision_links_used (id, workspace, request_id, used_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .bind(link_id)
                .bind(workspace)
                .bind(request_id)
                .bind(at.millis())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_dispatch_store;
