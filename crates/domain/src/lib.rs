//! Pure rules and types of the platform: resource names, the resource documents and their
//! validation, secrets, timestamps. Nothing here performs I/O or knows about HTTP or SQL.

pub mod agent;
pub mod api_key;
pub mod approval;
pub mod approver;
pub mod connector;
pub mod decision;
pub mod dispatch;
pub mod document;
pub mod duration;
pub mod fields;
pub mod hex;
pub mod identity_provider;
pub mod jwt;
pub mod model_provider;
pub mod name;
pub mod oauth;
pub mod policy;
pub mod policy_preview;
pub mod run;
pub mod secret;
pub mod session;
pub mod sso;
pub mod timestamp;
pub mod tool;
pub mod translate;
pub mod url;

pub use name::ResourceName;
pub use secret::Secret;
pub use timestamp::Timestamp;

/// Input that breaks a rule of the domain; the message is written for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid(message.into())
    }
}

/// Deserializes a JSON document into `T`, naming the offending field in the error.
pub fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, Invalid> {
    serde_json::from_value(value).map_err(|error| Invalid(format!("invalid {what}: {error}")))
}
