//! Tools: external or internal HTTP APIs that agents call through egress.
//!
//! `ToolInput::parse` accepts the three shapes clients send (the `spec` document, the SDK's flat
//! `{name, base_url, auth_type, port, scheme}`, and spec fields at the top level) and produces one
//! validated `ToolSpec`; credentials come out separately so they can only go to the secret store.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Invalid, ResourceName, Secret, Timestamp, from_json};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    #[serde(default)]
    pub description: String,
    pub connection: Connection,
    #[serde(default)]
    pub governance: Map<String, Value>,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub risk_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<AccessMode>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(default)]
    pub topology: Topology,
    #[serde(alias = "base_url")]
    pub base_url: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub scheme: Option<Scheme>,
    #[serde(default)]
    pub authentication: Authentication,
    #[serde(default)]
    pub tls: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topology {
    #[default]
    External,
    Internal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Scheme {
    #[serde(alias = "http")]
    Http,
    #[serde(alias = "https")]
    Https,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessMode {
    Open,
    Restricted,
    Critical,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    #[serde(rename = "type", default)]
    pub kind: AuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_config: Option<ApiKeyConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "oauth2Config"
    )]
    pub oauth2_config: Option<OAuth2Config>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    #[default]
    None,
    #[serde(rename = "APIKey")]
    ApiKey,
    OAuth2,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyConfig {
    #[serde(rename = "in", default)]
    pub location: KeyLocation,
    #[serde(default = "default_key_header")]
    pub name: String,
    #[serde(default)]
    pub value_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

fn default_key_header() -> String {
    "Authorization".to_owned()
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        ApiKeyConfig {
            location: KeyLocation::Header,
            name: default_key_header(),
            value_prefix: "Bearer ".to_owned(),
            secret_ref: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyLocation {
    #[default]
    Header,
    Query,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    #[serde(default)]
    pub auth_url: String,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub auth_params: Map<String, Value>,
    #[serde(default)]
    pub grant_type: GrantType,
    /// The provider's token revocation endpoint (RFC 7009), used when a connection is revoked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revoke_url: String,
    /// Send a PKCE challenge (S256) with authorization requests; on unless the provider
    /// rejects it.
    #[serde(default = "pkce_default")]
    pub pkce: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
}

fn pkce_default() -> bool {
    true
}

impl Default for OAuth2Config {
    fn default() -> Self {
        OAuth2Config {
            auth_url: String::new(),
            token_url: String::new(),
            scopes: Vec::new(),
            auth_params: Map::new(),
            grant_type: GrantType::default(),
            revoke_url: String::new(),
            pkce: true,
            credentials_secret_ref: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    #[default]
    AuthorizationCode,
    ClientCredentials,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretRef {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    pub name: String,
    #[serde(default = "any_method")]
    pub method: String,
    #[serde(default = "root_path")]
    pub path: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub risk_tags: Vec<String>,
}

fn any_method() -> String {
    "*".to_owned()
}

fn root_path() -> String {
    "/*".to_owned()
}

/// The status the platform keeps about a tool; probes update it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolStatus {
    pub phase: ToolPhase,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_latency_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToolPhase {
    Pending,
    Available,
    Unreachable,
}

impl ToolStatus {
    pub fn pending() -> Self {
        ToolStatus {
            phase: ToolPhase::Pending,
            message: "not probed yet".to_owned(),
            last_probe_time: None,
            probe_latency_ms: None,
        }
    }

    pub fn from_probe(probe: &Probe, at: Timestamp) -> Self {
        let (phase, message) = match (probe.reachable, probe.status_code) {
            (true, Some(code)) => (ToolPhase::Available, format!("reachable (HTTP {code})")),
            (true, None) => (ToolPhase::Available, "reachable".to_owned()),
            (false, Some(code)) => (
                ToolPhase::Unreachable,
                format!("server error (HTTP {code})"),
            ),
            (false, None) => (
                ToolPhase::Unreachable,
                probe
                    .error
                    .clone()
                    .unwrap_or_else(|| "unreachable".to_owned()),
            ),
        };
        ToolStatus {
            phase,
            message,
            last_probe_time: Some(at.rfc3339()),
            probe_latency_ms: Some(probe.latency_ms),
        }
    }
}

/// The outcome of one reachability probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Probe {
    /// 401 and 403 mean the server is there and wants credentials: reachable. Only a 5xx or a
    /// network failure counts as unreachable.
    pub fn from_status(status_code: u16, latency_ms: u64) -> Self {
        Probe {
            reachable: status_code < 500,
            status_code: Some(status_code),
            latency_ms,
            error: None,
        }
    }

    pub fn failed(error: String, latency_ms: u64) -> Self {
        Probe {
            reachable: false,
            status_code: None,
            latency_ms,
            error: Some(error),
        }
    }
}

/// Credentials a client may send with a tool; they go to the secret store only.
#[derive(Debug, Default)]
pub struct ToolCredentials {
    pub api_key: Option<Secret>,
    pub client_id: Option<Secret>,
    pub client_secret: Option<Secret>,
}

impl ToolCredentials {
    pub fn fields(self) -> Vec<(&'static str, Secret)> {
        [
            ("api_key", self.api_key),
            ("client_id", self.client_id),
            ("client_secret", self.client_secret),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.map(|secret| (field, secret)))
        .collect()
    }
}

/// A parsed, validated create-or-update request for a tool.
#[derive(Debug)]
pub struct ToolInput {
    pub name: ResourceName,
    pub spec: ToolSpec,
    pub credentials: ToolCredentials,
}

/// Keys of the SDK's flat shape and where they go in the spec.
const FLAT_CONNECTION_KEYS: [(&str, &str); 5] = [
    ("base_url", "baseUrl"),
    ("baseUrl", "baseUrl"),
    ("port", "port"),
    ("scheme", "scheme"),
    ("topology", "topology"),
];

impl ToolInput {
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let Value::Object(mut doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let name = match doc.remove("name") {
            Some(Value::String(name)) => ResourceName::parse(&name)?,
            Some(_) => return Err(Invalid::new("name must be a string")),
            None => return Err(Invalid::new("name is required")),
        };
        let credentials = parse_credentials(doc.remove("credentials"))?;
        let spec_doc = match doc.remove("spec") {
            Some(Value::Object(spec)) => spec,
            Some(_) => return Err(Invalid::new("spec must be an object")),
            None => flat_to_spec(doc)?,
        };
        let mut spec: ToolSpec = from_json("tool spec", Value::Object(spec_doc))?;
        spec.normalize()?;
        spec.attach_credentials(&name, &credentials)?;
        Ok(ToolInput {
            name,
            spec,
            credentials,
        })
    }
}

fn parse_credentials(value: Option<Value>) -> Result<ToolCredentials, Invalid> {
    let Some(value) = value else {
        return Ok(ToolCredentials::default());
    };
    let Value::Object(map) = value else {
        return Err(Invalid::new("credentials must be an object"));
    };
    let mut credentials = ToolCredentials::default();
    for (key, value) in map {
        let secret = match value {
            Value::String(text) if !text.is_empty() => Secret::new(text),
            Value::String(_) | Value::Null => continue,
            _ => return Err(Invalid(format!("credentials.{key} must be a string"))),
        };
        match key.as_str() {
            "api_key" | "apiKey" => credentials.api_key = Some(secret),
            "client_id" | "clientId" => credentials.client_id = Some(secret),
            "client_secret" | "clientSecret" => credentials.client_secret = Some(secret),
            other => {
                return Err(Invalid(format!(
                    "unknown credentials field {other:?}: use api_key, client_id or client_secret"
                )));
            }
        }
    }
    Ok(credentials)
}

/// Builds a spec document out of the flat shapes (SDK and CLI docs).
fn flat_to_spec(mut doc: Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    let mut connection = match doc.remove("connection") {
        Some(Value::Object(connection)) => connection,
        Some(_) => return Err(Invalid::new("connection must be an object")),
        None => Map::new(),
    };
    for (flat, nested) in FLAT_CONNECTION_KEYS {
        if let Some(value) = doc.remove(flat) {
            connection.entry(nested).or_insert(value);
        }
    }
    if let Some(auth_type) = doc.remove("auth_type") {
        let authentication = connection
            .entry("authentication")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(authentication) = authentication {
            authentication.entry("type").or_insert(auth_type);
        }
    }
    if let Some(access_mode) = doc.remove("access_mode") {
        doc.entry("accessMode").or_insert(access_mode);
    }
    if !connection.contains_key("baseUrl") && !connection.contains_key("base_url") {
        return Err(Invalid::new(
            "base_url is required (or spec.connection.baseUrl)",
        ));
    }
    doc.insert("connection".to_owned(), Value::Object(connection));
    Ok(doc)
}

const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Normalises an HTTP method name to upper case; `*` means any.
pub fn parse_method(field: &str, raw: &str, allow_any: bool) -> Result<String, Invalid> {
    let method = raw.trim().to_ascii_uppercase();
    if HTTP_METHODS.contains(&method.as_str()) || (allow_any && method == "*") {
        Ok(method)
    } else {
        Err(Invalid(format!(
            "{field} {raw:?} is not an HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)"
        )))
    }
}

fn tag(field: &str, raw: &str) -> Result<String, Invalid> {
    let tag = raw.trim();
    if tag.is_empty() || tag.len() > 63 || tag.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Invalid(format!(
            "{field} {raw:?} must be a short word without spaces"
        )));
    }
    Ok(tag.to_owned())
}

pub fn tags(field: &str, raw: &[String]) -> Result<Vec<String>, Invalid> {
    raw.iter().map(|t| tag(field, t)).collect()
}

impl ToolSpec {
    /// Validates every field and makes `baseUrl`, `scheme` and `port` agree with each other.
    fn normalize(&mut self) -> Result<(), Invalid> {
        let connection = &mut self.connection;
        let raw = connection.base_url.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            let scheme = match connection.scheme.unwrap_or(Scheme::Https) {
                Scheme::Http => "http",
                Scheme::Https => "https",
            };
            match connection.port {
                Some(port) => format!("{scheme}://{raw}:{port}"),
                None => format!("{scheme}://{raw}"),
            }
        };
        connection.base_url = crate::url::http_url("base_url", &with_scheme)?;
        let parsed =
            url::Url::parse(&connection.base_url).map_err(|e| Invalid(format!("base_url: {e}")))?;
        connection.scheme = Some(if parsed.scheme() == "http" {
            Scheme::Http
        } else {
            Scheme::Https
        });
        connection.port = parsed.port_or_known_default();
        if let Some(oauth2) = &connection.authentication.oauth2_config {
            for (field, value) in [
                ("oauth2Config.authUrl", &oauth2.auth_url),
                ("oauth2Config.tokenUrl", &oauth2.token_url),
                ("oauth2Config.revokeUrl", &oauth2.revoke_url),
            ] {
                if !value.is_empty() {
                    crate::url::http_url(field, value)?;
                }
            }
        }
        if connection.authentication.kind == AuthType::ApiKey
            && connection.authentication.api_key_config.is_none()
        {
            connection.authentication.api_key_config = Some(ApiKeyConfig::default());
        }
        if let Some(config) = &connection.authentication.api_key_config
            && config.name.trim().is_empty()
        {
            return Err(Invalid::new(
                "apiKeyConfig.name must name the header or query parameter",
            ));
        }
        self.risk_tags = tags("riskTags", &self.risk_tags)?;
        let mut seen = std::collections::HashSet::new();
        for capability in &mut self.capabilities {
            if capability.name.trim().is_empty() {
                return Err(Invalid::new("every capability needs a name"));
            }
            if !seen.insert(capability.name.clone()) {
                return Err(Invalid(format!(
                    "capability {:?} is declared twice",
                    capability.name
                )));
            }
            capability.method = parse_method("capability method", &capability.method, true)?;
            if !capability.path.starts_with('/') {
                return Err(Invalid(format!(
                    "capability {:?}: path {:?} must start with '/'",
                    capability.name, capability.path
                )));
            }
            if capability
                .path
                .find('*')
                .is_some_and(|at| at != capability.path.len() - 1)
            {
                return Err(Invalid(format!(
                    "capability {:?}: '*' is allowed only at the end of the path",
                    capability.name
                )));
            }
            capability.risk_tags = tags("capability riskTags", &capability.risk_tags)?;
        }
        Ok(())
    }

    /// Points the auth config at the stored credentials and refuses credentials the tool can't use.
    fn attach_credentials(
        &mut self,
        name: &ResourceName,
        credentials: &ToolCredentials,
    ) -> Result<(), Invalid> {
        let secret_ref = || SecretRef {
            name: format!("{name}-credentials"),
        };
        let authentication = &mut self.connection.authentication;
        if credentials.api_key.is_some() {
            match (authentication.kind, authentication.api_key_config.as_mut()) {
                (AuthType::ApiKey, Some(config)) => config.secret_ref = Some(secret_ref()),
                _ => {
                    return Err(Invalid::new(
                        "credentials.api_key needs authentication type APIKey",
                    ));
                }
            }
        }
        if credentials.client_id.is_some() || credentials.client_secret.is_some() {
            if authentication.kind != AuthType::OAuth2 {
                return Err(Invalid::new(
                    "credentials.client_id/client_secret need authentication type OAuth2",
                ));
            }
            authentication
                .oauth2_config
                .get_or_insert_with(OAuth2Config::default)
                .credentials_secret_ref = Some(secret_ref());
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "tool_tests.rs"]
mod tests;
