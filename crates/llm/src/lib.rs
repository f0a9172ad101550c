//! The LLM side of the gateway: OpenAI Chat Completions wire types, translation to and from
//! each provider's dialect (Anthropic Messages, Bedrock Converse with SigV4), SSE parsing, the
//! offline `playground` model, and the HTTP call.
//!
//! Translations are pure functions (`anthropic::request`, `anthropic::response`,
//! `anthropic::StreamTranslator`, `playground::complete`), tested against golden files;
//! `client` is the only part that does I/O. Nothing here knows about agents, budgets or the
//! store: the engine decides what to call and records what it cost.

pub mod anthropic;
pub mod bedrock;
pub mod client;
pub mod playground;
pub mod sigv4;
pub mod sse;
pub mod wire;

pub use client::{ChunkStream, Credential, Dialect, Upstream, complete, stream};
pub use wire::{ChatChunk, ChatRequest, ChatResponse, Usage};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The provider refused the request with this HTTP status.
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    /// The provider could not be reached, or the connection broke.
    #[error("{0}")]
    Transport(String),
    /// The provider answered something that is not what its API promises.
    #[error("unreadable provider response: {0}")]
    Malformed(String),
    /// The provider reported an error in the middle of a stream.
    #[error("{0}")]
    Stream(String),
}
