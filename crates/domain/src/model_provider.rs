//! Model providers: the LLM backends the gateway routes a request to, matched by model name.
//!
//! `ModelProviderInput::parse` accepts the contract's `{name, spec}` and the CLI docs' flat
//! `{name, provider, endpoint, models, auth}`, fills in the provider's defaults (endpoint and
//! auth) and produces one validated `ModelProviderSpec`. Credentials come out separately so they
//! can only go to the secret store. Readiness (`ProviderStatus`) is derived from the spec and the
//! names of the stored credentials on every read, never stored, so it cannot go stale.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tool::{ApiKeyConfig, OAuth2Config, SecretRef};
use crate::{Invalid, ResourceName, Secret, fields, from_json};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelProviderSpec {
    pub provider: Provider,
    /// Absent only for `playground`, which runs inside the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub models: Vec<String>,
    pub auth: ProviderAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Model name → price, for estimating spend. An unpriced model costs nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: BTreeMap<String, Price>,
}

/// What a model costs, in US dollars per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    #[serde(default, alias = "inputPerMillion")]
    pub input_per_million: f64,
    #[serde(default, alias = "outputPerMillion")]
    pub output_per_million: f64,
}

/// Billionths of a US dollar: spend is counted in whole nano-dollars so sums are exact.
pub const NANOS_PER_USD: f64 = 1e9;

impl Price {
    /// The cost of a call, in nano-dollars, rounded up.
    pub fn cost_nanos(&self, prompt_tokens: u64, completion_tokens: u64) -> i64 {
        // USD/million tokens × tokens × 1e9 nano/USD / 1e6 = × 1000.
        let nanos = (self.input_per_million * prompt_tokens as f64
            + self.output_per_million * completion_tokens as f64)
            * 1000.0;
        if nanos.is_finite() && nanos > 0.0 {
            // Saturates at i64::MAX: no real price comes near.
            nanos.ceil() as i64
        } else {
            0
        }
    }
}

/// Which provider serves `model`, among `(name, spec)` pairs sorted by name, and the model
/// name to send it. The first provider listing the model wins (ambiguity is settled by
/// provider name); otherwise `prefix/model` picks a provider named `prefix`, or of type
/// `prefix`, that lists `model`.
pub fn route(providers: &[(&str, &ModelProviderSpec)], model: &str) -> Option<(usize, String)> {
    if let Some(found) = providers
        .iter()
        .position(|(_, spec)| spec.models.iter().any(|listed| listed == model))
    {
        return Some((found, model.to_owned()));
    }
    let (prefix, rest) = model.split_once('/')?;
    providers
        .iter()
        .position(|(name, spec)| {
            (*name == prefix || spec.provider.as_str() == prefix)
                && spec.models.iter().any(|listed| listed == rest)
        })
        .map(|found| (found, rest.to_owned()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    OpenAi,
    Anthropic,
    Bedrock,
    Ollama,
    /// Built in and offline: answers deterministically, needs no endpoint and no key.
    Playground,
}

const PROVIDERS: &str = "openai, anthropic, bedrock, ollama, playground";

impl Provider {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "openai" => Ok(Provider::OpenAi),
            "anthropic" => Ok(Provider::Anthropic),
            "bedrock" => Ok(Provider::Bedrock),
            "ollama" => Ok(Provider::Ollama),
            "playground" => Ok(Provider::Playground),
            _ => Err(Invalid(format!(
                "unknown provider {raw:?}: use one of {PROVIDERS}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Bedrock => "bedrock",
            Provider::Ollama => "ollama",
            Provider::Playground => "playground",
        }
    }

    /// The public API endpoint, or a local Ollama; Bedrock's depends on the region.
    fn default_endpoint(self, region: Option<&str>) -> Option<String> {
        match self {
            Provider::OpenAi => Some("https://api.openai.com/v1".to_owned()),
            Provider::Anthropic => Some("https://api.anthropic.com".to_owned()),
            Provider::Bedrock => {
                region.map(|region| format!("https://bedrock-runtime.{region}.amazonaws.com"))
            }
            Provider::Ollama => Some("http://127.0.0.1:11434".to_owned()),
            Provider::Playground => None,
        }
    }

    fn default_auth_type(self) -> ProviderAuthType {
        match self {
            Provider::OpenAi | Provider::Anthropic => ProviderAuthType::ApiKey,
            Provider::Bedrock => ProviderAuthType::AwsSignature,
            Provider::Ollama | Provider::Playground => ProviderAuthType::None,
        }
    }

    /// Anthropic reads its key from `x-api-key`; everyone else from a bearer token.
    fn default_api_key_config(self) -> ApiKeyConfig {
        match self {
            Provider::Anthropic => ApiKeyConfig {
                name: "x-api-key".to_owned(),
                value_prefix: String::new(),
                ..ApiKeyConfig::default()
            },
            _ => ApiKeyConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAuth {
    #[serde(rename = "type")]
    pub kind: ProviderAuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_config: Option<ApiKeyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_config: Option<AwsConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "oauth2Config"
    )]
    pub oauth2_config: Option<OAuth2Config>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderAuthType {
    None,
    #[serde(rename = "APIKey")]
    ApiKey,
    #[serde(rename = "AWSSignature")]
    AwsSignature,
    OAuth2,
}

impl ProviderAuthType {
    fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ProviderAuthType::None),
            "apikey" => Ok(ProviderAuthType::ApiKey),
            "awssignature" => Ok(ProviderAuthType::AwsSignature),
            "oauth2" => Ok(ProviderAuthType::OAuth2),
            _ => Err(Invalid(format!(
                "unknown auth.type {raw:?}: use one of None, APIKey, AWSSignature, OAuth2"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ProviderAuthType::None => "None",
            ProviderAuthType::ApiKey => "APIKey",
            ProviderAuthType::AwsSignature => "AWSSignature",
            ProviderAuthType::OAuth2 => "OAuth2",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsConfig {
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Recorded for the gateway; positive when present.
    pub requests_per_minute: u32,
}

/// Names of the credential fields, as stored beside the provider document.
pub const API_KEY: &str = "api_key";
pub const AWS_ACCESS_KEY_ID: &str = "aws_access_key_id";
pub const AWS_SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
pub const CLIENT_ID: &str = "client_id";
pub const CLIENT_SECRET: &str = "client_secret";

/// Credentials a client may send with a provider; they go to the secret store only.
#[derive(Debug, Default)]
pub struct ProviderCredentials {
    pub api_key: Option<Secret>,
    pub aws_access_key_id: Option<Secret>,
    pub aws_secret_access_key: Option<Secret>,
    pub client_id: Option<Secret>,
    pub client_secret: Option<Secret>,
}

impl ProviderCredentials {
    pub fn fields(self) -> Vec<(&'static str, Secret)> {
        [
            (API_KEY, self.api_key),
            (AWS_ACCESS_KEY_ID, self.aws_access_key_id),
            (AWS_SECRET_ACCESS_KEY, self.aws_secret_access_key),
            (CLIENT_ID, self.client_id),
            (CLIENT_SECRET, self.client_secret),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.map(|secret| (field, secret)))
        .collect()
    }

    fn parse(value: Option<Value>) -> Result<Self, Invalid> {
        let mut credentials = ProviderCredentials::default();
        let Some(map) = fields::object("credentials", value)? else {
            return Ok(credentials);
        };
        for (key, value) in map {
            let secret = match value {
                Value::String(text) if !text.trim().is_empty() => Secret::new(text.trim()),
                // An empty value means "not sent", as the SDKs fill unset fields with "".
                Value::String(_) | Value::Null => continue,
                _ => return Err(Invalid(format!("credentials.{key} must be a string"))),
            };
            let slot = match key.as_str() {
                "api_key" | "apiKey" => &mut credentials.api_key,
                "aws_access_key_id" | "awsAccessKeyId" => &mut credentials.aws_access_key_id,
                "aws_secret_access_key" | "awsSecretAccessKey" => {
                    &mut credentials.aws_secret_access_key
                }
                "client_id" | "clientId" => &mut credentials.client_id,
                "client_secret" | "clientSecret" => &mut credentials.client_secret,
                other => {
                    return Err(Invalid(format!(
                        "unknown credentials field {other:?}: use api_key, aws_access_key_id, \
                         aws_secret_access_key, client_id or client_secret"
                    )));
                }
            };
            *slot = Some(secret);
        }
        Ok(credentials)
    }

    /// Refuses credentials the provider's auth type would never use.
    fn check_against(&self, provider: Provider, auth: ProviderAuthType) -> Result<(), Invalid> {
        let sent = |fields: &[(&str, &Option<Secret>)]| {
            fields
                .iter()
                .filter(|(_, value)| value.is_some())
                .map(|(name, _)| format!("credentials.{name}"))
                .collect::<Vec<_>>()
        };
        let all = sent(&[
            (API_KEY, &self.api_key),
            (AWS_ACCESS_KEY_ID, &self.aws_access_key_id),
            (AWS_SECRET_ACCESS_KEY, &self.aws_secret_access_key),
            (CLIENT_ID, &self.client_id),
            (CLIENT_SECRET, &self.client_secret),
        ]);
        if provider == Provider::Playground && !all.is_empty() {
            return Err(Invalid(format!(
                "provider playground is built in and takes no credentials (got {})",
                all.join(", ")
            )));
        }
        let unusable = match auth {
            ProviderAuthType::None => all,
            ProviderAuthType::ApiKey => sent(&[
                (AWS_ACCESS_KEY_ID, &self.aws_access_key_id),
                (AWS_SECRET_ACCESS_KEY, &self.aws_secret_access_key),
                (CLIENT_ID, &self.client_id),
                (CLIENT_SECRET, &self.client_secret),
            ]),
            ProviderAuthType::AwsSignature => sent(&[
                (API_KEY, &self.api_key),
                (CLIENT_ID, &self.client_id),
                (CLIENT_SECRET, &self.client_secret),
            ]),
            ProviderAuthType::OAuth2 => sent(&[
                (API_KEY, &self.api_key),
                (AWS_ACCESS_KEY_ID, &self.aws_access_key_id),
                (AWS_SECRET_ACCESS_KEY, &self.aws_secret_access_key),
            ]),
        };
        if unusable.is_empty() {
            Ok(())
        } else {
            Err(Invalid(format!(
                "{} not used with auth type {}",
                unusable.join(", "),
                auth.as_str()
            )))
        }
    }
}

/// A parsed, validated create-or-update request for a model provider.
#[derive(Debug)]
pub struct ModelProviderInput {
    pub name: ResourceName,
    pub spec: ModelProviderSpec,
    pub credentials: ProviderCredentials,
}

impl ModelProviderInput {
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let Value::Object(mut doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let name = fields::resource_name(&mut doc)?;
        let credentials = ProviderCredentials::parse(doc.remove("credentials"))?;
        // Without `spec`, the spec fields are at the top level (the CLI docs' flat shape).
        let spec = match doc.remove("spec") {
            None | Some(Value::Null) => doc,
            Some(Value::Object(spec)) => spec,
            Some(_) => return Err(Invalid::new("spec must be an object")),
        };
        let spec = ModelProviderSpec::parse(&name, spec)?;
        credentials.check_against(spec.provider, spec.auth.kind)?;
        Ok(ModelProviderInput {
            name,
            spec,
            credentials,
        })
    }
}

impl ModelProviderSpec {
    fn parse(name: &ResourceName, mut doc: Map<String, Value>) -> Result<Self, Invalid> {
        let provider = match fields::string("provider", doc.remove("provider"))? {
            Some(raw) => Provider::parse(&raw)?,
            None => {
                return Err(Invalid(format!("provider is required: one of {PROVIDERS}")));
            }
        };
        let models = parse_models(doc.remove("models"))?;
        let auth = ProviderAuth::parse(
            provider,
            name,
            fields::object("auth", doc.remove("auth"))?.unwrap_or_default(),
        )?;
        let endpoint = fields::string("endpoint", doc.remove("endpoint"))?
            .filter(|endpoint| !endpoint.trim().is_empty());
        let region = auth.aws_config.as_ref().map(|aws| aws.region.as_str());
        let endpoint = match (provider, endpoint) {
            (Provider::Playground, Some(_)) => {
                return Err(Invalid::new(
                    "provider playground is built in and takes no endpoint",
                ));
            }
            (_, Some(endpoint)) => Some(crate::url::http_url("endpoint", &endpoint)?),
            (_, None) => provider.default_endpoint(region),
        };
        let rate_limit = parse_rate_limit(fields::take(&mut doc, &["rateLimit", "rate_limit"]))?;
        let pricing = parse_pricing(doc.remove("pricing"), &models)?;
        Ok(ModelProviderSpec {
            provider,
            endpoint,
            models,
            auth,
            rate_limit,
            pricing,
        })
    }

    /// Whether the gateway could use this provider now, given the names of its stored
    /// credentials; `Pending` says what is missing.
    pub fn status(&self, stored: &[String]) -> ProviderStatus {
        let missing = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .filter(|name| !stored.iter().any(|field| field == *name))
                .map(|name| format!("credentials.{name}"))
                .collect()
        };
        let (missing, what) = match (self.provider, self.auth.kind) {
            (Provider::Playground, _) => {
                return ProviderStatus::available(
                    "built-in offline provider: deterministic answers, no endpoint or key needed",
                );
            }
            (_, ProviderAuthType::None) => {
                return ProviderStatus::available("no credentials needed");
            }
            (_, ProviderAuthType::ApiKey) => (missing(&[API_KEY]), "API key"),
            (_, ProviderAuthType::AwsSignature) => (
                missing(&[AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]),
                "AWS credentials",
            ),
            (_, ProviderAuthType::OAuth2) => (
                missing(&[CLIENT_ID, CLIENT_SECRET]),
                "OAuth2 client credentials",
            ),
        };
        if missing.is_empty() {
            ProviderStatus::available(&format!("{what} set"))
        } else {
            ProviderStatus {
                phase: ProviderPhase::Pending,
                message: format!("{what} not set: send {}", missing.join(" and ")),
            }
        }
    }
}

fn parse_models(value: Option<Value>) -> Result<Vec<String>, Invalid> {
    let raw = fields::strings("models", value)?.unwrap_or_default();
    if raw.is_empty() {
        return Err(Invalid::new(
            "models is required: a non-empty list of model names",
        ));
    }
    let mut models: Vec<String> = Vec::with_capacity(raw.len());
    for model in &raw {
        let model = fields::word("every entry of models", model)?;
        if models.contains(&model) {
            return Err(Invalid(format!("model {model:?} is listed twice")));
        }
        models.push(model);
    }
    Ok(models)
}

fn parse_pricing(
    value: Option<Value>,
    models: &[String],
) -> Result<BTreeMap<String, Price>, Invalid> {
    let Some(prices) = fields::object("pricing", value)? else {
        return Ok(BTreeMap::new());
    };
    let mut pricing = BTreeMap::new();
    for (model, price) in prices {
        if !models.contains(&model) {
            return Err(Invalid(format!(
                "pricing.{model}: model {model:?} is not in models"
            )));
        }
        let Value::Object(mut price) = price else {
            return Err(Invalid(format!(
                "pricing.{model} must be an object with input_per_million and output_per_million"
            )));
        };
        let mut per_million = |keys: [&str; 2]| -> Result<f64, Invalid> {
            match fields::take(&mut price, &keys) {
                None | Some(Value::Null) => Ok(0.0),
                Some(Value::Number(number)) => match number.as_f64() {
                    Some(usd) if usd.is_finite() && usd >= 0.0 => Ok(usd),
                    _ => Err(Invalid(format!(
                        "pricing.{model}.{} must be a non-negative number of USD per million tokens",
                        keys[0]
                    ))),
                },
                Some(_) => Err(Invalid(format!(
                    "pricing.{model}.{} must be a non-negative number of USD per million tokens",
                    keys[0]
                ))),
            }
        };
        let input_per_million = per_million(["input_per_million", "inputPerMillion"])?;
        let output_per_million = per_million(["output_per_million", "outputPerMillion"])?;
        if let Some(unknown) = price.keys().next() {
            return Err(Invalid(format!(
                "pricing.{model}.{unknown} is not a price field: use input_per_million and output_per_million"
            )));
        }
        pricing.insert(
            model,
            Price {
                input_per_million,
                output_per_million,
            },
        );
    }
    Ok(pricing)
}

fn parse_rate_limit(value: Option<Value>) -> Result<Option<RateLimit>, Invalid> {
    let Some(mut doc) = fields::object("rateLimit", value)? else {
        return Ok(None);
    };
    let requests = match fields::take(&mut doc, &["requestsPerMinute", "requests_per_minute"]) {
        None => return Ok(None),
        Some(Value::Number(number)) => number.as_u64(),
        Some(_) => None,
    };
    match requests.and_then(|n| u32::try_from(n).ok()) {
        Some(requests_per_minute) if requests_per_minute > 0 => Ok(Some(RateLimit {
            requests_per_minute,
        })),
        _ => Err(Invalid::new(
            "rateLimit.requestsPerMinute must be a positive integer",
        )),
    }
}

impl ProviderAuth {
    fn parse(
        provider: Provider,
        name: &ResourceName,
        mut doc: Map<String, Value>,
    ) -> Result<Self, Invalid> {
        let kind = match fields::string("auth.type", doc.remove("type"))? {
            Some(raw) => ProviderAuthType::parse(&raw)?,
            None => provider.default_auth_type(),
        };
        match (provider, kind) {
            (Provider::Playground, ProviderAuthType::None) => {}
            (Provider::Playground, other) => {
                return Err(Invalid(format!(
                    "provider playground is built in and takes auth type None, not {}",
                    other.as_str()
                )));
            }
            (Provider::Bedrock, ProviderAuthType::AwsSignature) => {}
            (Provider::Bedrock, other) => {
                return Err(Invalid(format!(
                    "provider bedrock uses auth type AWSSignature, not {}",
                    other.as_str()
                )));
            }
            (other, ProviderAuthType::AwsSignature) => {
                return Err(Invalid(format!(
                    "auth type AWSSignature is for provider bedrock, not {}",
                    other.as_str()
                )));
            }
            _ => {}
        }
        let api_key_config = fields::take(&mut doc, &["apiKeyConfig", "api_key_config"]);
        let aws_config = fields::take(&mut doc, &["awsConfig", "aws_config"]);
        let oauth2_config = fields::take(&mut doc, &["oauth2Config", "oauth2_config"]);
        for (field, value, used_by) in [
            ("apiKeyConfig", &api_key_config, ProviderAuthType::ApiKey),
            ("awsConfig", &aws_config, ProviderAuthType::AwsSignature),
            ("oauth2Config", &oauth2_config, ProviderAuthType::OAuth2),
        ] {
            if value.is_some() && kind != used_by {
                return Err(Invalid(format!(
                    "auth.{field} is used only with auth type {}, not {}",
                    used_by.as_str(),
                    kind.as_str()
                )));
            }
        }
        // The credentials live beside the provider document under this name, whether or not
        // they have been sent yet; a client's own secretRef would point nowhere, so it is replaced.
        let secret_ref = || {
            Some(SecretRef {
                name: format!("{name}-credentials"),
            })
        };
        let mut auth = ProviderAuth {
            kind,
            api_key_config: None,
            aws_config: None,
            oauth2_config: None,
        };
        match kind {
            ProviderAuthType::None => {}
            ProviderAuthType::ApiKey => {
                let mut config = match api_key_config {
                    Some(value) => from_json("auth.apiKeyConfig", value)?,
                    None => provider.default_api_key_config(),
                };
                if config.name.trim().is_empty() {
                    return Err(Invalid::new(
                        "auth.apiKeyConfig.name must name the header or query parameter",
                    ));
                }
                config.secret_ref = secret_ref();
                auth.api_key_config = Some(config);
            }
            ProviderAuthType::AwsSignature => {
                let mut config = fields::object("auth.awsConfig", aws_config)?.unwrap_or_default();
                let region = fields::string("auth.awsConfig.region", config.remove("region"))?
                    .unwrap_or_default();
                auth.aws_config = Some(AwsConfig {
                    region: parse_region(&region)?,
                    credentials_secret_ref: secret_ref(),
                });
            }
            ProviderAuthType::OAuth2 => {
                let mut config: OAuth2Config = match oauth2_config {
                    Some(value) => from_json("auth.oauth2Config", value)?,
                    None => OAuth2Config::default(),
                };
                if config.token_url.trim().is_empty() {
                    return Err(Invalid::new(
                        "auth.oauth2Config.tokenUrl is required for auth type OAuth2",
                    ));
                }
                config.token_url =
                    crate::url::http_url("auth.oauth2Config.tokenUrl", &config.token_url)?;
                if !config.auth_url.trim().is_empty() {
                    config.auth_url =
                        crate::url::http_url("auth.oauth2Config.authUrl", &config.auth_url)?;
                }
                config.credentials_secret_ref = secret_ref();
                auth.oauth2_config = Some(config);
            }
        }
        Ok(auth)
    }
}

/// An AWS region name such as `us-east-1` or `eu-central-2`.
fn parse_region(raw: &str) -> Result<String, Invalid> {
    let region = raw.trim();
    if region.is_empty() {
        return Err(Invalid::new(
            "provider bedrock needs auth.awsConfig.region (for example us-east-1)",
        ));
    }
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = region.len() <= 32
        && parts.len() >= 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Err(Invalid(format!(
            "auth.awsConfig.region {region:?} is not an AWS region (for example us-east-1)"
        )));
    }
    Ok(region.to_owned())
}

/// A provider's readiness, always an object on the wire (the SDK reads `status.phase`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderStatus {
    pub phase: ProviderPhase,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ProviderPhase {
    Pending,
    Available,
}

impl ProviderStatus {
    fn available(message: &str) -> Self {
        ProviderStatus {
            phase: ProviderPhase::Available,
            message: message.to_owned(),
        }
    }
}

#[cfg(test)]
#[path = "model_provider_tests.rs"]
mod tests;
