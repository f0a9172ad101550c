#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step should stop the test loudly"
)]
//! HTTP tests: each starts the real `runagents serve` binary and talks to it over HTTP.
//! One file per resource; every case asserts observable results, error cases included.

mod agents;
mod approvals;
mod auth;
mod callbacks;
mod cli;
mod connectors;
mod console;
mod console_sso;
mod dispatch;
mod egress;
mod egress_client;
mod end_user_identity;
mod flow;
mod gateway;
mod gateway_budgets;
mod hosting;
mod identity_providers;
mod invoke;
mod lifecycle;
mod model_providers;
mod oauth;
mod policies;
mod policy_preview;
mod runs;
mod tools;
mod workspace;

use runagents_testkit::{Backend, TestServer};

/// A server on a fresh SQLite data directory.
pub async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite).await
}

/// A server on a fresh PostgreSQL database.
pub async fn postgres_server() -> TestServer {
    TestServer::start(Backend::fresh("postgres").await).await
}
