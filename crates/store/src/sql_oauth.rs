//! SQL of `OAuthStore`, shared by both backends (see `sql.rs` for why a macro).

pub(crate) const COLUMNS: &str = "workspace, tool, user_id, access_sealed, refresh_sealed, expires_at, scope, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    pub(crate) workspace: String,
    pub(crate) tool: String,
    pub(crate) user_id: String,
    pub(crate) access_sealed: Vec<u8>,
    pub(crate) refresh_sealed: Option<Vec<u8>>,
    pub(crate) expires_at: i64,
    pub(crate) scope: String,
    pub(crate) version: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// The sealing slot of a connection's token field.
pub(crate) fn slot(workspace: &str, tool: &str, user_id: &str, field: &str) -> String {
    crate::seal::slot(
        workspace,
        "oauth_connection",
        &format!("{tool}\0{user_id}"),
        field,
    )
}

macro_rules! impl_oauth_store {
    ($store:ty) => {
        impl $store {
            fn oauth_connection(&self, row: $crate::sql_oauth::Row) -> $crate::Result<$crate::OAuthConnection> {
                let slot = |field: &str| $crate::sql_oauth::slot(&row.workspace, &row.tool, &row.user_id, field);
                let access_token = self.sealer.open(&slot("access_token"), &row.access_sealed)?;
                let refresh_token = match &row.refresh_sealed {
                    Some(sealed) => Some(self.sealer.open(&slot("refresh_token"), sealed)?),
                    None => None,
                };
                Ok($crate::OAuthConnection {
                    access_token,
                    refresh_token,
                    expires_at: runagents_domain::Timestamp(row.expires_at),
                    scope: row.scope,
                    version: row.version,
                    created_at: runagents_domain::Timestamp(row.created_at),
                    updated_at: runagents_domain::Timestamp(row.updated_at),
                    workspace: row.workspace,
                    tool: row.tool,
                    user_id: row.user_id,
                })
            }
        }

        #[async_trait::async_trait]
        impl $crate::OAuthStore for $store {
            async fn get_oauth_connection(&self, workspace: &str, tool: &str, user_id: &str) -> $crate::Result<Option<$crate::OAuthConnection>> {
                let row: Option<$crate::sql_oauth::Row> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE workspace = $1 AND tool = $2 AND user_id = $3",
                    $crate::sql_oauth::COLUMNS
                ))
                .bind(workspace)
                .bind(tool)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| self.oauth_connection(row)).transpose()
            }

            async fn put_oauth_connection(&self, c: &$crate::OAuthConnection, expected_version: Option<i64>) -> $crate::Result<bool> {
                let slot = |field: &str| $crate::sql_oauth::slot(&c.workspace, &c.tool, &c.user_id, field);
                let access = self.sealer.seal(&slot("access_token"), &c.access_token)?;
                let refresh = match &c.refresh_token {
                    Some(token) => Some(self.sealer.seal(&slot("refresh_token"), token)?),
                    None => None,
                };
                let written = match expected_version {
                    Some(version) => sqlx::query(
                        "UPDATE oauth_connections SET access_sealed = $4, refresh_sealed = $5, expires_at = $6, scope = $7, \
                         version = version + 1, refresh_locked_until = 0, updated_at = $8 WHERE workspace = $1 AND tool = $2 AND user_id = $3 AND version = $9",
                    )
                    .bind(&c.workspace)
                    .bind(&c.tool)
                    .bind(&c.user_id)
                    .bind(&access)
                    .bind(&refresh)
                    .bind(c.expires_at.millis())
                    .bind(&c.scope)
                    .bind(c.updated_at.millis())
                    .bind(version)
                    .execute(&self.pool)
                    .await?
                    .rows_affected(),
                    None => sqlx::query(&format!(
                        "INSERT INTO oauth_connections ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) \
                         ON CONFLICT (workspace, tool, user_id) DO UPDATE SET access_sealed = $4, refresh_sealed = $5, \
                         expires_at = $6, scope = $7, version = oauth_connections.version + 1, updated_at = $8",
                        $crate::sql_oauth::COLUMNS
                    ))
                    .bind(&c.workspace)
                    .bind(&c.tool)
                    .bind(&c.user_id)
                    .bind(&access)
                    .bind(&refresh)
                    .bind(c.expires_at.millis())
                    .bind(&c.scope)
                    .bind(c.updated_at.millis())
                    .execute(&self.pool)
                    .await?
                    .rows_affected(),
                };
                Ok(written == 1)
            }

            async fn claim_oauth_refresh(&self, workspace: &str, tool: &str, user_id: &str, version: i64, now: runagents_domain::Timestamp, until: runagents_domain::Timestamp) -> $crate::Result<bool> {
                let claimed = sqlx::query(
                    "UPDATE oauth_connections SET refresh_locked_until = $6 \
                     WHERE workspace = $1 AND tool = $2 AND user_id = $3 AND version = $4 AND refresh_locked_until < $5",
                )
                .bind(workspace)
                .bind(tool)
                .bind(user_id)
                .bind(version)
                .bind(now.millis())
                .bind(until.millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(claimed == 1)
            }

            async fn list_oauth_connections(&self, workspace: &str, user_id: Option<&str>) -> $crate::Result<Vec<$crate::OAuthConnection>> {
                let rows: Vec<$crate::sql_oauth::Row> = sqlx::query_as(&format!(
                    "SELECT {} FROM oauth_connections WHERE workspace = $1 AND ($2 = '' OR user_id = $2) ORDER BY tool, user_id",
                    $crate::sql_oauth::COLUMNS
                ))
                .bind(workspace)
                .bind(user_id.unwrap_or_default())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|row| self.oauth_connection(row)).collect()
            }

            async fn delete_oauth_connection(&self, workspace: &str, tool: &str, user_id: &str) -> $crate::Result<bool> {
                let deleted = sqlx::query("DELETE FROM oauth_connections WHERE workspace = $1 AND tool = $2 AND user_id = $3")
                    .bind(workspace)
                    .bind(tool)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }
        }
    };
}

pub(crate) use impl_oauth_store;
