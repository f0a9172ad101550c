//! SQL of `CallbackStore`, shared by both backends (see `sql.rs` for why a macro).

use runagents_domain::Timestamp;

pub(crate) const CALLBACK_COLUMNS: &str =
    "run_id, workspace, url, state, attempts, next_attempt_at, last_error, created_at";

pub(crate) type CallbackRow = (String, String, String, String, i64, i64, String, i64);

pub(crate) fn callback(row: CallbackRow) -> crate::CallbackRecord {
    let (run_id, workspace, url, state, attempts, next_attempt_at, last_error, created_at) = row;
    crate::CallbackRecord {
        run_id,
        workspace,
        url,
        state,
        attempts,
        next_attempt_at: Timestamp(next_attempt_at),
        last_error,
        created_at: Timestamp(created_at),
    }
}

macro_rules! impl_callback_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::CallbackStore for $store {
            async fn claim_callback(&self, worker: &str, now: runagents_domain::Timestamp, lease_ms: i64) -> $crate::Result<Option<$crate::CallbackRecord>> {
                let sql = format!(
                    "UPDATE run_callbacks SET locked_until = $2, locked_by = $3, attempts = attempts + 1, updated_at = $1 \
                     WHERE run_id = (SELECT run_id FROM run_callbacks WHERE state = 'pending' AND next_attempt_at <= $1 AND locked_until < $1 \
                        ORDER BY next_attempt_at, created_at LIMIT 1{SKIP_LOCKED}) \
                     AND state = 'pending' AND locked_until < $1 RETURNING {}",
                    $crate::sql_callbacks::CALLBACK_COLUMNS
                );
                let row: Option<$crate::sql_callbacks::CallbackRow> =
                    sqlx::query_as(&sql).bind(now.millis()).bind(now.millis() + lease_ms).bind(worker).fetch_optional(&self.pool).await?;
                Ok(row.map($crate::sql_callbacks::callback))
            }

            async fn complete_callback(&self, run_id: &str, events: &[$crate::NewEvent], at: runagents_domain::Timestamp) -> $crate::Result<()> {
                let mut tx = self.begin().await?;
                let row: Option<(String,)> = sqlx::query_as(
                    "UPDATE run_callbacks SET state = 'delivered', locked_until = 0, locked_by = '', last_error = '', updated_at = $2 \
                     WHERE run_id = $1 AND state = 'pending' RETURNING workspace",
                )
                .bind(run_id)
                .bind(at.millis())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((workspace,)) = row {
                    Self::insert_events(&mut tx, &workspace, run_id, events, at.millis()).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn retry_callback(
                &self,
                run_id: &str,
                error: &str,
                retry_at: Option<runagents_domain::Timestamp>,
                events: &[$crate::NewEvent],
                at: runagents_domain::Timestamp,
            ) -> $crate::Result<()> {
                let (state, next) = match retry_at {
                    Some(retry_at) => ("pending", retry_at.millis()),
                    None => ("failed", at.millis()),
                };
                let mut tx = self.begin().await?;
                let row: Option<(String,)> = sqlx::query_as(
                    "UPDATE run_callbacks SET state = $2, next_attempt_at = $3, locked_until = 0, locked_by = '', last_error = $4, updated_at = $5 \
                     WHERE run_id = $1 AND state = 'pending' RETURNING workspace",
                )
                .bind(run_id)
                .bind(state)
                .bind(next)
                .bind(error)
                .bind(at.millis())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((workspace,)) = row {
                    Self::insert_events(&mut tx, &workspace, run_id, events, at.millis()).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_callback(&self, workspace: &str, run_id: &str) -> $crate::Result<Option<$crate::CallbackRecord>> {
                let sql = format!("SELECT {} FROM run_callbacks WHERE workspace = $1 AND run_id = $2", $crate::sql_callbacks::CALLBACK_COLUMNS);
                let row: Option<$crate::sql_callbacks::CallbackRow> = sqlx::query_as(&sql).bind(workspace).bind(run_id).fetch_optional(&self.pool).await?;
                Ok(row.map($crate::sql_callbacks::callback))
            }
        }
    };
}

pub(crate) use impl_callback_store;
