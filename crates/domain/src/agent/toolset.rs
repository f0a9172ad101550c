//! The functions an agent's model is offered, built from its tools' capabilities, and how a
//! function call becomes an HTTP request to the tool.
//!
//! Each capability becomes one OpenAI function named `{tool}__{capability}` (characters outside
//! `[A-Za-z0-9_-]` become `_`, cut to 64). Its parameters are the path's `{placeholders}`
//! (required strings), `path` when the capability's path ends in a wildcard, and any other
//! arguments: the JSON body for POST/PUT/PATCH, the query string for GET/DELETE. A tool with no
//! capabilities gets one function `{tool}__request` taking `method`, `path` and `body`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Invalid;
use crate::tool::ToolSpec;

/// OpenAI limits function names to 64 characters.
const MAX_FUNCTION_NAME: usize = 64;

/// Where a function call goes: the tool, and the capability's method and path template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRoute {
    pub tool: String,
    /// The capability's name; empty for a tool without capabilities.
    pub capability: String,
    /// Upper case; empty when the caller chooses (`{tool}__request`).
    pub method: String,
    /// The capability's path, e.g. `/v1/charges/{id}` or `/files/*`.
    pub path: String,
}

/// The functions offered to the model and the route of each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Toolset {
    /// OpenAI `tools` entries (`{"type":"function","function":{...}}`).
    pub definitions: Vec<Value>,
    /// Function name → route.
    pub routes: BTreeMap<String, FunctionRoute>,
}

/// One HTTP request to a tool, below its base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRequest {
    pub method: String,
    /// Starts with '/'; includes `?query` when there is one.
    pub path_and_query: String,
    pub body: Vec<u8>,
}

/// `{tool}__{capability}`, made safe for a function name.
pub fn function_name(tool: &str, capability: &str) -> String {
    let raw = format!("{tool}__{capability}");
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(MAX_FUNCTION_NAME);
    name
}

/// The functions for `tools` (name and spec), in the order given. A later function whose name
/// collides with an earlier one is left out.
pub fn toolset<'a>(tools: impl IntoIterator<Item = (&'a str, &'a ToolSpec)>) -> Toolset {
    let mut set = Toolset::default();
    for (tool, spec) in tools {
        if spec.capabilities.is_empty() {
            let name = function_name(tool, "request");
            if set.routes.contains_key(&name) {
                continue;
            }
            let description = format!(
                "Call the {tool} tool: any method and path. {}",
                spec.description
            );
            set.definitions.push(definition(
                &name,
                description.trim(),
                json!({
                    "type": "object",
                    "properties": {
                        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                        "path": {"type": "string", "description": "Path below the tool's URL, starting with /"},
                        "body": {"type": "object", "description": "JSON body, for POST, PUT and PATCH"},
                    },
                    "required": ["method", "path"],
                }),
            ));
            set.routes.insert(
                name,
                FunctionRoute {
                    tool: tool.to_owned(),
                    capability: String::new(),
                    method: String::new(),
                    path: "/*".to_owned(),
                },
            );
            continue;
        }
        for capability in &spec.capabilities {
            let name = function_name(tool, &capability.name);
            if set.routes.contains_key(&name) {
                continue;
            }
            let route = FunctionRoute {
                tool: tool.to_owned(),
                capability: capability.name.clone(),
                method: effective_method(&capability.method),
                path: capability.path.clone(),
            };
            let mut description = capability.description.trim().to_owned();
            if description.is_empty() {
                description = format!("{} on {tool}", capability.name);
            }
            let description = format!(
                "{description} ({} {} on the {tool} tool)",
                route.method, route.path
            );
            set.definitions
                .push(definition(&name, &description, route.parameters()));
            set.routes.insert(name, route);
        }
    }
    set
}

fn definition(name: &str, description: &str, parameters: Value) -> Value {
    json!({
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    })
}

/// A capability open to any method is called with POST, as the public runtime does.
fn effective_method(method: &str) -> String {
    let method = method.trim();
    if method.is_empty() || method == "*" {
        "POST".to_owned()
    } else {
        method.to_ascii_uppercase()
    }
}

/// The `{name}` placeholders of a path template, in order.
fn placeholders(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .filter(|name| !name.is_empty())
        .collect()
}

impl FunctionRoute {
    fn has_body(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")
    }

    fn wildcard(&self) -> bool {
        self.path.ends_with('*')
    }

    /// The JSON schema of the function's arguments. Properties are listed only for what the
    /// path needs, so a model (and the playground) fills the rest as it likes.
    fn parameters(&self) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for name in placeholders(&self.path) {
            properties.insert(
                name.to_owned(),
                json!({"type": "string", "description": format!("The {name} in the path")}),
            );
            required.push(json!(name));
        }
        if self.wildcard() {
            properties.insert(
                "path".to_owned(),
                json!({"type": "string", "description": "Rest of the path, below the capability's prefix"}),
            );
        }
        let rest = if self.has_body() {
            "Other arguments are sent as the JSON body."
        } else {
            "Other arguments are sent as query parameters."
        };
        let mut schema =
            json!({"type": "object", "description": rest, "additionalProperties": true});
        if !properties.is_empty() {
            schema["properties"] = Value::Object(properties);
        }
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }

    /// The request a call with `arguments` (the model's JSON text) makes.
    pub fn request(&self, arguments: &str) -> Result<ToolRequest, Invalid> {
        let mut args: Map<String, Value> = if arguments.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str(arguments) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(Invalid::new("arguments must be a JSON object")),
                Err(error) => {
                    return Err(Invalid(format!("arguments are not valid JSON: {error}")));
                }
            }
        };
        let method = if self.method.is_empty() {
            let method = args
                .remove("method")
                .and_then(|m| m.as_str().map(str::to_ascii_uppercase))
                .unwrap_or_else(|| "POST".to_owned());
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                return Err(Invalid(format!("method {method:?} is not allowed")));
            }
            method
        } else {
            self.method.clone()
        };
        let mut path = String::new();
        for segment in self.path.trim_end_matches('*').split('/') {
            if !path.ends_with('/') {
                path.push('/');
            }
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if !name.is_empty() => {
                    let value = args
                        .remove(name)
                        .map(|v| scalar_text(&v))
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| Invalid(format!("argument {name:?} is required")))?;
                    path.push_str(&encode(&value));
                }
                _ => path.push_str(segment),
            }
        }
        if self.wildcard()
            && let Some(rest) = args.remove("path")
        {
            let rest = scalar_text(&rest);
            if rest.split('/').any(|segment| segment == "..") {
                return Err(Invalid::new("path may not contain '..'"));
            }
            if path.ends_with('/') {
                path.push_str(rest.trim_start_matches('/'));
            } else if !rest.is_empty() {
                path.push('/');
                path.push_str(rest.trim_start_matches('/'));
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        let has_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
        if has_body {
            let body = match args.remove("body") {
                Some(Value::String(raw)) if args.is_empty() => raw.into_bytes(),
                Some(body @ (Value::Object(_) | Value::Array(_))) if args.is_empty() => {
                    body.to_string().into_bytes()
                }
                Some(other) => {
                    args.insert("body".to_owned(), other);
                    Value::Object(args).to_string().into_bytes()
                }
                None => Value::Object(args).to_string().into_bytes(),
            };
            return Ok(ToolRequest {
                method,
                path_and_query: path,
                body,
            });
        }
        let query: Vec<String> = args
            .iter()
            .map(|(key, value)| format!("{}={}", encode(key), encode(&scalar_text(value))))
            .collect();
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        Ok(ToolRequest {
            method,
            path_and_query: path,
            body: Vec::new(),
        })
    }
}

/// A string as itself; anything else as its JSON text.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(capabilities: Value) -> ToolSpec {
        crate::from_json(
            "tool",
            json!({"connection": {"baseUrl": "https://api.example.com"}, "capabilities": capabilities}),
        )
        .unwrap()
    }

    #[test]
    fn names_are_tool_and_capability() {
        assert_eq!(function_name("echo-tool", "echo"), "echo-tool__echo");
        assert_eq!(function_name("crm", "list leads.v2"), "crm__list_leads_v2");
        assert_eq!(function_name(&"x".repeat(80), "y").len(), 64);
    }

    #[test]
    fn one_function_per_capability_with_its_route() {
        let stripe = spec(json!([
            {"name": "create-charge", "method": "post", "path": "/v1/charges", "description": "Charge a card"},
            {"name": "get-charge", "method": "GET", "path": "/v1/charges/{id}"},
        ]));
        let set = toolset([("stripe", &stripe)]);
        assert_eq!(set.definitions.len(), 2);
        let charge = &set.definitions[0]["function"];
        assert_eq!(charge["name"], "stripe__create-charge");
        assert!(
            charge["description"]
                .as_str()
                .unwrap()
                .starts_with("Charge a card (POST /v1/charges")
        );
        assert!(charge["parameters"].get("properties").is_none());
        let get = &set.definitions[1]["function"]["parameters"];
        assert_eq!(get["required"], json!(["id"]));
        assert_eq!(set.routes["stripe__get-charge"].method, "GET");
    }

    #[test]
    fn body_methods_send_the_other_arguments_as_json() {
        let route = FunctionRoute {
            tool: "t".into(),
            capability: "c".into(),
            method: "POST".into(),
            path: "/v1/items/{id}/notes".into(),
        };
        let request = route.request(r#"{"id": "a b", "text": "hi"}"#).unwrap();
        assert_eq!(request.path_and_query, "/v1/items/a%20b/notes");
        assert_eq!(request.body, br#"{"text":"hi"}"#);
        // The runtime's convention: a string `body` is sent as it is.
        let raw = route.request(r#"{"id": "1", "body": "raw text"}"#).unwrap();
        assert_eq!(raw.body, b"raw text");
        assert!(route.request("{}").is_err(), "a missing placeholder");
        assert!(route.request("[1]").is_err());
    }

    #[test]
    fn get_sends_the_other_arguments_as_query() {
        let route = FunctionRoute {
            tool: "t".into(),
            capability: "c".into(),
            method: "GET".into(),
            path: "/search".into(),
        };
        let request = route.request(r#"{"q": "a&b", "limit": 5}"#).unwrap();
        assert_eq!(request.path_and_query, "/search?limit=5&q=a%26b");
        assert!(request.body.is_empty());
    }

    #[test]
    fn wildcards_take_a_path_without_escaping_upwards() {
        let route = FunctionRoute {
            tool: "t".into(),
            capability: "c".into(),
            method: "GET".into(),
            path: "/files/*".into(),
        };
        assert_eq!(
            route
                .request(r#"{"path": "a/b.txt"}"#)
                .unwrap()
                .path_and_query,
            "/files/a/b.txt"
        );
        assert!(route.request(r#"{"path": "../etc"}"#).is_err());
        assert_eq!(route.request("").unwrap().path_and_query, "/files/");
    }

    #[test]
    fn tools_without_capabilities_take_method_and_path() {
        let open = spec(json!([]));
        let set = toolset([("open", &open)]);
        let route = &set.routes["open__request"];
        let request = route
            .request(r#"{"method": "put", "path": "/x", "body": {"a": 1}}"#)
            .unwrap();
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path_and_query, "/x");
        assert_eq!(request.body, br#"{"a":1}"#);
        assert!(route.request(r#"{"method": "TRACE"}"#).is_err());
    }

    #[test]
    fn any_method_capabilities_use_post() {
        let any = spec(json!([{"name": "do"}]));
        let set = toolset([("svc", &any)]);
        assert_eq!(set.routes["svc__do"].method, "POST");
        assert_eq!(set.routes["svc__do"].path, "/*");
    }
}
