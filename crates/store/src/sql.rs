//! The SQL both backends share. The statements are portable (`$n` placeholders, `ON CONFLICT`,
//! `RETURNING`), so one body serves both; the macro stamps it out per pool type, because
//! sqlx's executor bounds make a generic impl far harder to read than this.

/// Columns of `documents` in the order `DocumentRow` reads them.
pub(crate) const DOCUMENT_COLUMNS: &str = "key, body, version, created_at, updated_at";
pub(crate) const API_KEY_COLUMNS: &str = "id, workspace, name, role, hash, last4, created_at, expires_at, last_used_at, revoked_at, subject, approver_groups";

pub(crate) type DocumentRow = (String, String, i64, i64, i64);
pub(crate) type ApiKeyRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
    String,
);

pub(crate) fn document(row: DocumentRow) -> crate::Result<crate::Document> {
    let (key, body, version, created_at, updated_at) = row;
    let body = serde_json::from_str(&body)
        .map_err(|e| crate::Error::Backend(format!("stored document is not JSON: {e}")))?;
    Ok(crate::Document {
        key,
        body,
        version,
        created_at: runagents_domain::Timestamp(created_at),
        updated_at: runagents_domain::Timestamp(updated_at),
    })
}

pub(crate) fn api_key(row: ApiKeyRow) -> crate::ApiKeyRecord {
    use runagents_domain::Timestamp;
    let (
        id,
        workspace,
        name,
        role,
        hash,
        last4,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
        subject,
        groups,
    ) = row;
    // Unreadable groups grant nothing (fail closed); they are only ever written as a JSON list.
    let groups = serde_json::from_str(&groups).unwrap_or_default();
    crate::ApiKeyRecord {
        id,
        workspace,
        name,
        role,
        hash,
        last4,
        created_at: Timestamp(created_at),
        expires_at: expires_at.map(Timestamp),
        last_used_at: last_used_at.map(Timestamp),
        revoked_at: revoked_at.map(Timestamp),
        subject,
        groups,
    }
}

macro_rules! impl_store {
    ($store:ty, $backend:literal) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn work_notices(&self) -> Option<tokio::sync::mpsc::Receiver<$crate::Work>> {
                self.listen_for_work()
            }

            async fn list_documents(&self, workspace: &str, kind: $crate::Kind) -> $crate::Result<Vec<$crate::Document>> {
                let sql = format!(
                    "SELECT {} FROM documents WHERE workspace = $1 AND kind = $2 ORDER BY key",
                    $crate::sql::DOCUMENT_COLUMNS
                );
                let rows: Vec<$crate::sql::DocumentRow> =
                    sqlx::query_as(&sql).bind(workspace).bind(kind.as_str()).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::sql::document).collect()
            }

            async fn get_document(&self, workspace: &str, kind: $crate::Kind, key: &str) -> $crate::Result<Option<$crate::Document>> {
                let sql = format!(
                    "SELECT {} FROM documents WHERE workspace = $1 AND kind = $2 AND key = $3",
                    $crate::sql::DOCUMENT_COLUMNS
                );
                let row: Option<$crate::sql::DocumentRow> =
                    sqlx::query_as(&sql).bind(workspace).bind(kind.as_str()).bind(key).fetch_optional(&self.pool).await?;
                row.map($crate::sql::document).transpose()
            }

            async fn put_document(
                &self,
                workspace: &str,
                kind: $crate::Kind,
                document: &$crate::Document,
                secrets: &$crate::SecretFields,
                write: $crate::Write,
            ) -> $crate::Result<$crate::Document> {
                let body = document.body.to_string();
                let at = document.updated_at.millis();
                let returning = format!("RETURNING {}", $crate::sql::DOCUMENT_COLUMNS);
                let sql = match write {
                    $crate::Write::Upsert => format!(
                        "INSERT INTO documents (workspace, kind, key, body, version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 1, $5, $5) \
                         ON CONFLICT (workspace, kind, key) DO UPDATE \
                         SET body = excluded.body, version = documents.version + 1, updated_at = excluded.updated_at {returning}"
                    ),
                    $crate::Write::Create => format!(
                        "INSERT INTO documents (workspace, kind, key, body, version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 1, $5, $5) ON CONFLICT (workspace, kind, key) DO NOTHING {returning}"
                    ),
                    $crate::Write::Replace => format!(
                        "UPDATE documents SET body = $4, version = version + 1, updated_at = $5 \
                         WHERE workspace = $1 AND kind = $2 AND key = $3 {returning}"
                    ),
                };
                let mut tx = self.begin().await?;
                let row: Option<$crate::sql::DocumentRow> = sqlx::query_as(&sql)
                    .bind(workspace)
                    .bind(kind.as_str())
                    .bind(&document.key)
                    .bind(&body)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(match write {
                        $crate::Write::Create => $crate::Error::Conflict(format!("{} {:?} already exists", kind.as_str(), document.key)),
                        _ => $crate::Error::NotFound,
                    });
                };
                for (field, secret) in secrets {
                    let slot = $crate::seal::slot(workspace, kind.as_str(), &document.key, field);
                    let sealed = self.sealer.seal(&slot, secret)?;
                    sqlx::query(
                        "INSERT INTO secrets (workspace, kind, key, field, sealed, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (workspace, kind, key, field) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                    )
                    .bind(workspace)
                    .bind(kind.as_str())
                    .bind(&document.key)
                    .bind(field)
                    .bind(sealed)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO generations (workspace, kind, generation) VALUES ($1, $2, 1) \
                     ON CONFLICT (workspace, kind) DO UPDATE SET generation = generations.generation + 1",
                )
                .bind(workspace)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if let Some(local) = self.local_generations() {
                    local.bump();
                }
                $crate::sql::document(row)
            }

            async fn delete_document(&self, workspace: &str, kind: $crate::Kind, key: &str) -> $crate::Result<bool> {
                let mut tx = self.begin().await?;
                let deleted = sqlx::query("DELETE FROM documents WHERE workspace = $1 AND kind = $2 AND key = $3")
                    .bind(workspace)
                    .bind(kind.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM secrets WHERE workspace = $1 AND kind = $2 AND key = $3")
                    .bind(workspace)
                    .bind(kind.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                                sqlx::query(
                    "INSERT INTO generations (workspace, kind, generation) VALUES ($1, $2, 1) \
                     ON CONFLICT (workspace, kind) DO UPDATE SET generation = generations.generation + 1",
                )
                .bind(workspace)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if let Some(local) = self.local_generations() {
                    local.bump();
                }
                Ok(deleted > 0)
            }

            async fn generation(&self, workspace: &str, kind: $crate::Kind) -> $crate::Result<i64> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT generation FROM generations WHERE workspace = $1 AND kind = $2")
                    .bind(workspace)
                    .bind(kind.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map_or(0, |(generation,)| generation))
            }

            async fn egress_generations(&self, workspace: &str) -> $crate::Result<$crate::Generations> {
                let local = self.local_generations();
                let epoch = local.map(|local| local.epoch()).unwrap_or_default();
                if let Some(generations) = local.and_then(|local| local.get(workspace, epoch)) {
                    return Ok(generations);
                }
                let (agents, tools, policies, credentials): (i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT COALESCE(MAX(CASE WHEN kind = 'agent' THEN generation END), 0), \
                     COALESCE(MAX(CASE WHEN kind = 'tool' THEN generation END), 0), \
                     COALESCE(MAX(CASE WHEN kind = 'policy' THEN generation END), 0), \
                     COALESCE(MAX(CASE WHEN kind = $2 THEN generation END), 0) \
                     FROM generations WHERE workspace = $1",
                )
                .bind(workspace)
                .bind($crate::CREDENTIALS_GENERATION)
                .fetch_one(&self.pool)
                .await?;
                let generations = $crate::Generations { agents, tools, policies, credentials };
                if let Some(local) = local {
                    local.put(workspace, epoch, generations);
                }
                Ok(generations)
            }

            async fn secrets(&self, workspace: &str, kind: $crate::Kind, key: &str) -> $crate::Result<Vec<(String, runagents_domain::Secret)>> {
                let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
                    "SELECT field, sealed FROM secrets WHERE workspace = $1 AND kind = $2 AND key = $3 ORDER BY field",
                )
                .bind(workspace)
                .bind(kind.as_str())
                .bind(key)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(field, sealed)| {
                        let slot = $crate::seal::slot(workspace, kind.as_str(), key, &field);
                        Ok((field, self.sealer.open(&slot, &sealed)?))
                    })
                    .collect()
            }

            async fn secret_fields(&self, workspace: &str, kind: $crate::Kind, key: &str) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT field FROM secrets WHERE workspace = $1 AND kind = $2 AND key = $3 ORDER BY field")
                        .bind(workspace)
                        .bind(kind.as_str())
                        .bind(key)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(|(field,)| field).collect())
            }

            async fn ensure_workspace(&self, name: &str, at: runagents_domain::Timestamp) -> $crate::Result<bool> {
                let inserted = sqlx::query("INSERT INTO workspaces (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(at.millis())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(inserted > 0)
            }

            async fn list_workspaces(&self) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM workspaces ORDER BY name").fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(name,)| name).collect())
            }

            async fn insert_api_key(&self, key: &$crate::ApiKeyRecord) -> $crate::Result<()> {
                insert_api_key(&self.pool, key).await
            }

            async fn create_workspace_with_key(&self, name: &str, key: &$crate::ApiKeyRecord) -> $crate::Result<()> {
                let mut tx = self.begin().await?;
                let inserted = sqlx::query("INSERT INTO workspaces (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(key.created_at.millis())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    return Err($crate::Error::Conflict(format!("workspace {name:?} already exists")));
                }
                insert_api_key(&mut *tx, key).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn api_key_by_hash(&self, hash: &str) -> $crate::Result<Option<$crate::ApiKeyRecord>> {
                let sql = format!("SELECT {} FROM api_keys WHERE hash = $1", $crate::sql::API_KEY_COLUMNS);
                let row: Option<$crate::sql::ApiKeyRow> = sqlx::query_as(&sql).bind(hash).fetch_optional(&self.pool).await?;
                Ok(row.map($crate::sql::api_key))
            }

            async fn list_api_keys(&self, workspace: &str) -> $crate::Result<Vec<$crate::ApiKeyRecord>> {
                let sql = format!(
                    "SELECT {} FROM api_keys WHERE workspace = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                    $crate::sql::API_KEY_COLUMNS
                );
                let rows: Vec<$crate::sql::ApiKeyRow> = sqlx::query_as(&sql).bind(workspace).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map($crate::sql::api_key).collect())
            }

            async fn revoke_api_key(&self, workspace: &str, id: &str, at: runagents_domain::Timestamp) -> $crate::Result<bool> {
                let updated = sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE workspace = $1 AND id = $2 AND revoked_at IS NULL")
                    .bind(workspace)
                    .bind(id)
                    .bind(at.millis())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(updated > 0)
            }

            async fn rotate_api_key(
                &self,
                workspace: &str,
                id: &str,
                rotation: &$crate::Rotation,
            ) -> $crate::Result<Option<$crate::ApiKeyRecord>> {
                let sql = format!(
                    "UPDATE api_keys SET hash = $3, last4 = $4, expires_at = $5 \
                     WHERE workspace = $1 AND id = $2 AND revoked_at IS NULL RETURNING {}",
                    $crate::sql::API_KEY_COLUMNS
                );
                let row: Option<$crate::sql::ApiKeyRow> = sqlx::query_as(&sql)
                    .bind(workspace)
                    .bind(id)
                    .bind(&rotation.hash)
                    .bind(&rotation.last4)
                    .bind(rotation.expires_at.map(|at| at.millis()))
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map($crate::sql::api_key))
            }

            async fn touch_api_key(&self, id: &str, at: runagents_domain::Timestamp) -> $crate::Result<()> {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at.millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn get_setting(&self, workspace: &str, key: &str) -> $crate::Result<Option<serde_json::Value>> {
                let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE workspace = $1 AND key = $2")
                    .bind(workspace)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(value,)| serde_json::from_str(&value).map_err(|e| $crate::Error::Backend(format!("stored setting is not JSON: {e}"))))
                    .transpose()
            }

            async fn put_setting(
                &self,
                workspace: &str,
                key: &str,
                value: &serde_json::Value,
                at: runagents_domain::Timestamp,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO settings (workspace, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (workspace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(workspace)
                .bind(key)
                .bind(value.to_string())
                .bind(at.millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn append_activity(&self, workspace: &str, record: &$crate::ActivityRecord) -> $crate::Result<()> {
                sqlx::query("INSERT INTO activity (id, workspace, at, body) VALUES ($1, $2, $3, $4)")
                    .bind(&record.id)
                    .bind(workspace)
                    .bind(record.at.millis())
                    .bind(record.body.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn list_activity(&self, workspace: &str, limit: u32) -> $crate::Result<Vec<$crate::ActivityRecord>> {
                let rows: Vec<(String, i64, String)> =
                    sqlx::query_as("SELECT id, at, body FROM activity WHERE workspace = $1 ORDER BY at DESC, id DESC LIMIT $2")
                        .bind(workspace)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map(|(id, at, body)| {
                        let body = serde_json::from_str(&body).map_err(|e| $crate::Error::Backend(format!("stored activity is not JSON: {e}")))?;
                        Ok($crate::ActivityRecord { id, at: runagents_domain::Timestamp(at), body })
                    })
                    .collect()
            }

            // LLM usage and budgets.
            async fn reserve_spend(&self, key: &$crate::SpendKey, estimate_nanos: i64, cap_nanos: i64) -> $crate::Result<bool> {
                let _turn = self.write_turn().await;
                // The check and the reservation are this one statement.
                let reserve = || {
                    sqlx::query_as::<_, (i64,)>(
                        "UPDATE llm_spend SET reserved = reserved + $5 \
                         WHERE workspace = $1 AND agent = $2 AND label = $3 AND period_start = $4 \
                         AND spent + reserved + $5 <= $6 AND spent + reserved < $6 RETURNING reserved",
                    )
                    .bind(&key.workspace)
                    .bind(&key.agent)
                    .bind(&key.label)
                    .bind(key.period_start.millis())
                    .bind(estimate_nanos)
                    .bind(cap_nanos)
                };
                if reserve().fetch_optional(&self.pool).await?.is_some() {
                    return Ok(true);
                }
                // No room, or no counter yet: create it at zero (a no-op if it exists, perhaps
                // just created by a concurrent call) and check once more.
                sqlx::query(
                    "INSERT INTO llm_spend (workspace, agent, label, period_start, reserved, spent) VALUES ($1, $2, $3, $4, 0, 0) \
                     ON CONFLICT (workspace, agent, label, period_start) DO NOTHING",
                )
                .bind(&key.workspace)
                .bind(&key.agent)
                .bind(&key.label)
                .bind(key.period_start.millis())
                .execute(&self.pool)
                .await?;
                Ok(reserve().fetch_optional(&self.pool).await?.is_some())
            }

            async fn record_llm_usage(
                &self,
                record: &$crate::LlmUsageRecord,
                settle: Option<(&$crate::SpendKey, i64)>,
            ) -> $crate::Result<()> {
                let Some((key, reserved_nanos)) = settle else {
                    let _turn = self.write_turn().await;
                    // One statement needs no transaction (and costs one round trip, not three).
                    return insert_llm_usage(&self.pool, record).await;
                };
                // The turn first, then the transaction (which takes SQLite's write lock at once):
                // the journal's flusher takes them in that order too. It writes no events, so
                // it does not wait for the journal.
                let _turn = self.write_turn().await;
                let mut tx = self.begin_without_events().await?;
                insert_llm_usage(&mut *tx, record).await?;
                settle_spend(&mut *tx, key, reserved_nanos, record.cost_nanos).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn release_spend(&self, key: &$crate::SpendKey, reserved_nanos: i64) -> $crate::Result<()> {
                let _turn = self.write_turn().await;
                settle_spend(&self.pool, key, reserved_nanos, 0).await
            }

            async fn list_spend(&self, workspace: &str, period_start: runagents_domain::Timestamp) -> $crate::Result<Vec<$crate::SpendRow>> {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT agent, label, reserved, spent FROM llm_spend WHERE workspace = $1 AND period_start = $2 ORDER BY agent, label",
                )
                .bind(workspace)
                .bind(period_start.millis())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(agent, label, reserved_nanos, spent_nanos)| $crate::SpendRow { agent, label, reserved_nanos, spent_nanos })
                    .collect())
            }

            async fn list_llm_usage(
                &self,
                workspace: &str,
                since: runagents_domain::Timestamp,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::LlmUsageRecord>> {
                let rows: Vec<(String, String, String, String, String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT id, workspace, agent, run_id, model, provider, at, prompt_tokens, completion_tokens, cost_nanos \
                     FROM llm_usage WHERE workspace = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3",
                )
                .bind(workspace)
                .bind(since.millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, workspace, agent, run_id, model, provider, at, prompt_tokens, completion_tokens, cost_nanos)| {
                        $crate::LlmUsageRecord {
                            id,
                            workspace,
                            agent,
                            run_id,
                            model,
                            provider,
                            at: runagents_domain::Timestamp(at),
                            prompt_tokens,
                            completion_tokens,
                            cost_nanos,
                        }
                    })
                    .collect())
            }
        }

        async fn insert_llm_usage<'e, E>(executor: E, record: &$crate::LlmUsageRecord) -> $crate::Result<()>
        where
            E: sqlx::Executor<'e, Database = Backend>,
        {
            sqlx::query(
                "INSERT INTO llm_usage (id, workspace, agent, run_id, model, provider, at, prompt_tokens, completion_tokens, cost_nanos) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&record.id)
            .bind(&record.workspace)
            .bind(&record.agent)
            .bind(&record.run_id)
            .bind(&record.model)
            .bind(&record.provider)
            .bind(record.at.millis())
            .bind(record.prompt_tokens)
            .bind(record.completion_tokens)
            .bind(record.cost_nanos)
            .execute(executor)
            .await?;
            Ok(())
        }

        /// Moves `reserved_nanos` out of the counter's reservations and adds `spent_nanos` to
        /// its spend, creating the counter when a call had nothing reserved.
        async fn settle_spend<'e, E>(executor: E, key: &$crate::SpendKey, reserved_nanos: i64, spent_nanos: i64) -> $crate::Result<()>
        where
            E: sqlx::Executor<'e, Database = Backend>,
        {
            sqlx::query(
                "INSERT INTO llm_spend (workspace, agent, label, period_start, reserved, spent) VALUES ($1, $2, $3, $4, 0, $6) \
                 ON CONFLICT (workspace, agent, label, period_start) DO UPDATE SET \
                 reserved = CASE WHEN llm_spend.reserved > $5 THEN llm_spend.reserved - $5 ELSE 0 END, \
                 spent = llm_spend.spent + $6",
            )
            .bind(&key.workspace)
            .bind(&key.agent)
            .bind(&key.label)
            .bind(key.period_start.millis())
            .bind(reserved_nanos)
            .bind(spent_nanos)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn insert_api_key<'e, E>(executor: E, key: &$crate::ApiKeyRecord) -> $crate::Result<()>
        where
            E: sqlx::Executor<'e, Database = Backend>,
        {
            sqlx::query(
                "INSERT INTO api_keys (id, workspace, name, role, hash, last4, created_at, expires_at, last_used_at, revoked_at, subject, approver_groups) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&key.id)
            .bind(&key.workspace)
            .bind(&key.name)
            .bind(&key.role)
            .bind(&key.hash)
            .bind(&key.last4)
            .bind(key.created_at.millis())
            .bind(key.expires_at.map(|at| at.millis()))
            .bind(key.last_used_at.map(|at| at.millis()))
            .bind(key.revoked_at.map(|at| at.millis()))
            .bind(&key.subject)
            .bind(serde_json::Value::from(key.groups.clone()).to_string())
            .execute(executor)
            .await?;
            Ok(())
        }
    };
}

pub(crate) use impl_store;
