#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should stop the test loudly"
)]
//! Test support: a private PostgreSQL built with the machine's PostgreSQL binaries, and a
//! helper that runs the real `runagents` binary and waits for it to say it is listening.

pub mod postgres;
pub mod server;

pub use server::{Backend, TestServer};
