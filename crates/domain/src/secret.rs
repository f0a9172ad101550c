//! Secret values (tool API keys, OAuth client secrets, connector credentials).
//!
//! Invariant: a `Secret` cannot be serialized and its `Debug` is redacted, so it cannot reach a
//! response, a log or an event by accident. `expose()` is called only where the value leaves
//! the process on purpose (sealing at rest, header injection at egress).

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert!(!format!("{:?}", vec![secret]).contains("xoxb"));
    }
}
