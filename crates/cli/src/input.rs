//! Documents read with `-f/--file`: JSON, or YAML converted to the same JSON value, so every
//! command handles one shape. `-` reads standard input.

use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The file's text (`-` is stdin).
pub fn read_text(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::file(Path::new("<stdin>"), e))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| Error::file(path, e))
}

/// A JSON or YAML document (`runagents_domain::document::parse`).
pub fn read_document(path: &Path) -> Result<Value> {
    runagents_domain::document::parse(&read_text(path)?)
        .map_err(|message| Error::file(path, message))
}
