//! Resource documents as text: JSON, or YAML 1.2 converted to the same JSON value, so every
//! client (the CLI's `-f`, the console's policy editor) hands the rules one shape.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// A JSON or YAML document. JSON is tried first (it is also YAML, but JSON's errors are better
/// for a text that looks like JSON).
pub fn parse(text: &str) -> Result<Value, String> {
    let looks_like_json = text.trim_start().starts_with(['{', '[']);
    match serde_json::from_str::<Value>(text) {
        Ok(value) => return Ok(value),
        Err(error) if looks_like_json && !text.contains('\n') => {
            return Err(format!("invalid JSON: {error}"));
        }
        Err(_) => {}
    }
    let documents = YamlLoader::load_from_str(text).map_err(|error| {
        if looks_like_json {
            format!("neither JSON nor YAML: {error}")
        } else {
            format!("invalid YAML: {error}")
        }
    })?;
    let mut documents = documents.into_iter().filter(|d| !matches!(d, Yaml::Null));
    match (documents.next(), documents.next()) {
        (None, _) => Err("the document is empty".to_owned()),
        (Some(document), None) => to_json(document),
        (Some(_), Some(_)) => {
            Err("holds several YAML documents; put one resource per file".to_owned())
        }
    }
}

fn to_json(yaml: Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(flag) => Value::Bool(flag),
        Yaml::Integer(number) => Value::Number(number.into()),
        Yaml::Real(text) => {
            let number = yaml_float(&text)
                .and_then(Number::from_f64)
                .ok_or_else(|| format!("{text:?} is not a number JSON can hold"))?;
            Value::Number(number)
        }
        Yaml::String(text) => Value::String(text),
        Yaml::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(text) | Yaml::Real(text) => text,
                    Yaml::Integer(number) => number.to_string(),
                    Yaml::Boolean(flag) => flag.to_string(),
                    Yaml::Null => "null".to_owned(),
                    other => {
                        return Err(format!(
                            "a mapping key must be a plain value, not {other:?}"
                        ));
                    }
                };
                map.insert(key, to_json(value)?);
            }
            Value::Object(map)
        }
        Yaml::Alias(_) => return Err("unresolved YAML alias".to_owned()),
        Yaml::BadValue => return Err("a value YAML cannot read".to_owned()),
    })
}

/// YAML 1.2 core-schema floats (`1.5`, `1e3`, `.5`); `.inf`/`.nan` have no JSON form.
fn yaml_float(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_json_give_the_same_value() {
        let yaml = "\
name: stripe-guarded   # a comment
spec:
  policies:
    - permission: allow
      operations: [GET]
      resource: https://api.stripe.com/*
    - permission: approval_required
      operations:
        - POST
      tags: [financial]
  approvals:
    - name: finance
      defaultDuration: 4h
      delivery: {fallbackToUI: true, timeout: 1.5, retries: 3, note: ~}
";
        let expected = json!({"name": "stripe-guarded", "spec": {
            "policies": [
                {"permission": "allow", "operations": ["GET"], "resource": "https://api.stripe.com/*"},
                {"permission": "approval_required", "operations": ["POST"], "tags": ["financial"]}],
            "approvals": [{"name": "finance", "defaultDuration": "4h",
                "delivery": {"fallbackToUI": true, "timeout": 1.5, "retries": 3, "note": null}}]}});
        assert_eq!(parse(yaml).unwrap(), expected);
        assert_eq!(parse(&expected.to_string()).unwrap(), expected);
        assert_eq!(
            parse(&serde_json::to_string_pretty(&expected).unwrap()).unwrap(),
            expected
        );
    }

    #[test]
    fn yaml_1_2_keeps_words_as_strings_and_resolves_anchors() {
        let value =
            parse("country: no\nanswer: yes\nbase: &b {a: 1}\ncopy: *b\n'1': x\n2: y\n").unwrap();
        assert_eq!(
            value,
            json!({"country": "no", "answer": "yes", "base": {"a": 1}, "copy": {"a": 1}, "1": "x", "2": "y"})
        );
    }

    #[test]
    fn bad_documents_say_why() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("{\"a\": ").unwrap_err().contains("invalid JSON"));
        assert!(parse("a: [1, 2\n").unwrap_err().contains("invalid YAML"));
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().contains("several"));
        assert!(parse("a: .inf\n").unwrap_err().contains("number"));
        assert!(parse("? [a]\n: 1\n").unwrap_err().contains("plain value"));
    }
}
