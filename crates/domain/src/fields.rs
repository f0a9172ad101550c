//! Reading client JSON one field at a time, so that every error names the field it is about
//! (`serde_json::from_value` reports only "invalid type", never where).
//!
//! Rule shared by all readers: an absent field and an explicit `null` both mean "not given".

use serde_json::{Map, Value};

use crate::{Invalid, ResourceName};

/// Removes the first of `keys` present in `doc` and returns its value; the other aliases are
/// removed too, so a snake_case alias next to its camelCase twin is not read twice.
pub(crate) fn take(doc: &mut Map<String, Value>, keys: &[&str]) -> Option<Value> {
    let mut found = None;
    for key in keys {
        if let Some(value) = doc.remove(*key)
            && found.is_none()
            && !value.is_null()
        {
            found = Some(value);
        }
    }
    found
}

/// An optional string field of a request body, trimmed; absent or `null` reads as "".
pub fn text(body: &Value, key: &str) -> Result<String, Invalid> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.trim().to_owned()),
        Some(_) => Err(Invalid(format!("{key} must be a string"))),
    }
}

pub(crate) fn string(field: &str, value: Option<Value>) -> Result<Option<String>, Invalid> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Invalid(format!("{field} must be a string"))),
    }
}

pub(crate) fn strings(field: &str, value: Option<Value>) -> Result<Option<Vec<String>>, Invalid> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Invalid(format!("{field} must be a list of strings"))),
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(text) => Ok(text),
            _ => Err(Invalid(format!("{field} must be a list of strings"))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

pub(crate) fn object(
    field: &str,
    value: Option<Value>,
) -> Result<Option<Map<String, Value>>, Invalid> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(Invalid(format!("{field} must be an object"))),
    }
}

/// A trimmed, non-empty string without whitespace inside (claims, issuers, model ids).
pub(crate) fn word(field: &str, raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Invalid(format!("{field} must not be empty")));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid(format!("{field} {text:?} must not contain spaces")));
    }
    Ok(text.to_owned())
}

/// The resource name: `name`, else the Kubernetes-style `metadata.name`.
pub(crate) fn resource_name(doc: &mut Map<String, Value>) -> Result<ResourceName, Invalid> {
    let metadata_name = match doc.get("metadata") {
        Some(Value::Object(metadata)) => metadata.get("name").cloned(),
        _ => None,
    };
    match doc.remove("name").or(metadata_name) {
        Some(Value::String(name)) => ResourceName::parse(&name),
        None | Some(Value::Null) => Err(Invalid::new("name is required")),
        Some(_) => Err(Invalid::new("name must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn take_prefers_the_first_alias_and_removes_all() {
        let mut doc = map(json!({"jwks_uri": "b", "jwksUri": "a", "other": 1}));
        assert_eq!(take(&mut doc, &["jwksUri", "jwks_uri"]), Some(json!("a")));
        assert_eq!(doc, map(json!({"other": 1})));
        let mut doc = map(json!({"jwksUri": null, "jwks_uri": "b"}));
        assert_eq!(take(&mut doc, &["jwksUri", "jwks_uri"]), Some(json!("b")));
    }

    #[test]
    fn readers_name_the_field() {
        assert_eq!(string("host", Some(json!(null))), Ok(None));
        assert_eq!(
            string("host", Some(json!(5))).unwrap_err().0,
            "host must be a string"
        );
        assert_eq!(
            strings("models", Some(json!(["a", 1]))).unwrap_err().0,
            "models must be a list of strings"
        );
        assert_eq!(
            strings("models", Some(json!("a"))).unwrap_err().0,
            "models must be a list of strings"
        );
        assert_eq!(
            object("auth", Some(json!([]))).unwrap_err().0,
            "auth must be an object"
        );
        assert_eq!(word("claim", " sub ").unwrap(), "sub");
        assert!(word("claim", "  ").is_err());
        assert!(word("claim", "a b").is_err());
    }

    #[test]
    fn name_or_metadata_name() {
        let mut doc = map(json!({"metadata": {"name": "openai"}}));
        assert_eq!(resource_name(&mut doc).unwrap().as_str(), "openai");
        let mut doc = map(json!({"name": "a", "metadata": {"name": "b"}}));
        assert_eq!(resource_name(&mut doc).unwrap().as_str(), "a");
        assert_eq!(
            resource_name(&mut map(json!({}))).unwrap_err().0,
            "name is required"
        );
        assert_eq!(
            resource_name(&mut map(json!({"name": 3}))).unwrap_err().0,
            "name must be a string"
        );
    }
}
