//! Delegated-user OAuth connections: the tokens the platform holds for an end user and a tool.

use async_trait::async_trait;
use runagents_domain::{Secret, Timestamp};

use crate::Result;

/// One user's connection to one OAuth2 tool. `user_id` is empty for a tool's own
/// client-credentials token.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthConnection {
    pub workspace: String,
    pub tool: String,
    pub user_id: String,
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// When the access token stops working; `Timestamp(0)` when the provider did not say.
    pub expires_at: Timestamp,
    pub scope: String,
    /// Starts at 1 and grows by one with every write.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[async_trait]
pub trait OAuthStore: Send + Sync {
    async fn get_oauth_connection(
        &self,
        workspace: &str,
        tool: &str,
        user_id: &str,
    ) -> Result<Option<OAuthConnection>>;
    /// Writes the connection. With `expected_version`, only if the stored one still has that
    /// version (a refresh that lost a race returns false and writes nothing); without it, an
    /// insert or a replacement (a new consent). The stored version is the one given plus one.
    async fn put_oauth_connection(
        &self,
        connection: &OAuthConnection,
        expected_version: Option<i64>,
    ) -> Result<bool>;
    /// Takes the lease to refresh the connection's token at `version` until `until`: true for
    /// one caller (on any replica) while the lease runs; false if another holds it or the
    /// connection moved on (re-read it).
    async fn claim_oauth_refresh(
        &self,
        workspace: &str,
        tool: &str,
        user_id: &str,
        version: i64,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool>;
    /// The workspace's connections, of one user or of all, by tool then user.
    async fn list_oauth_connections(
        &self,
        workspace: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<OAuthConnection>>;
    async fn delete_oauth_connection(
        &self,
        workspace: &str,
        tool: &str,
        user_id: &str,
    ) -> Result<bool>;
}
