#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should stop the test loudly"
)]
//! Test support: a private PostgreSQL built with the machine's PostgreSQL binaries, and a
//! helper that runs the real `runagents` binary and waits for it to say it is listening, and
//! fake upstreams (an LLM provider speaking the OpenAI and Anthropic wire formats).

pub mod fake_llm;
pub mod postgres;
pub mod server;

pub use server::{Backend, TestServer};
