//! Resource names: DNS-label-like, so they are safe in URLs, env var names and file paths.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::Invalid;

/// A DNS-label-like name: 1–63 chars of `[a-z0-9-]`, starting and ending with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceName(String);

impl ResourceName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid::new("name is required"));
        }
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let valid_ends = !name.starts_with('-') && !name.ends_with('-');
        if name.len() > 63 || !valid_chars || !valid_ends {
            return Err(Invalid(format!(
                "invalid name {name:?}: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"
            )));
        }
        Ok(ResourceName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourceName {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        ResourceName::parse(&raw)
    }
}

impl From<ResourceName> for String {
    fn from(name: ResourceName) -> String {
        name.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ResourceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for name in ["a", "echo-tool", "stripe-api", "x1", &"a".repeat(63)] {
            assert_eq!(ResourceName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn trims_whitespace() {
        assert_eq!(ResourceName::parse("  abc ").unwrap().as_str(), "abc");
    }

    #[test]
    fn rejects_everything_else() {
        for name in [
            "",
            " ",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "a b",
            "ä",
            &"a".repeat(64),
            "../x",
        ] {
            assert!(
                ResourceName::parse(name).is_err(),
                "{name:?} should be rejected"
            );
        }
    }
}
