//! The LLM gateway: an OpenAI Chat Completions request, routed by model name to a registered
//! provider of the caller's workspace, metered, and answered as JSON or as a stream.
//!
//! Routing: the first provider (by name) listing the model, else `provider/model`
//! (`domain::model_provider::route`). Providers are read with their credentials into a cache
//! per workspace; a change through this replica drops it at once, other replicas see it within
//! `ROUTES_TTL`. Metering and budgets are in `meter`.

mod meter;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::Stream;
use runagents_domain::agent::AgentSpec;
use runagents_domain::model_provider::{
    self, API_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ModelProviderSpec, Provider,
    ProviderAuthType,
};
use runagents_domain::tool::KeyLocation;
use runagents_domain::{Secret, Timestamp, from_json};
use runagents_llm::wire::ChatChunk;
use runagents_llm::{ChatRequest, ChatResponse, Credential, Upstream, playground};
use runagents_store::Kind;

use crate::{Engine, Error, Result};
use meter::Meter;

/// How long a replica may serve a provider list (or an agent's budgets) that another replica
/// has changed.
const ROUTES_TTL: Duration = Duration::from_secs(5);

/// Who a gateway call is for: the workspace whose providers serve it, and optionally the
/// agent (whose budgets apply and whose spend it adds to) and the run it belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub workspace: String,
    pub agent: Option<String>,
    pub run_id: Option<String>,
}

/// A gateway answer: complete, or a stream of chunks ending with `Err` if the provider failed
/// after the stream began.
pub enum Chat {
    Complete(ChatResponse),
    Stream(ChatStream),
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, String>> + Send>>;

/// A model the gateway can route, and the provider that serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutableModel {
    pub model: String,
    pub provider: String,
}

/// A registered provider, ready to be called.
#[derive(Debug)]
pub(crate) struct Route {
    name: String,
    spec: ModelProviderSpec,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Playground,
    Http(Upstream),
    /// Registered but not callable yet (a credential is missing): a 502 with this message.
    NotReady(String),
    /// A provider or auth type the gateway cannot call: a 501 with this message.
    Unsupported(String),
}

/// Values read from the store, kept for `ROUTES_TTL`: each workspace's providers, and the
/// specs of agents whose calls are metered.
pub(crate) struct TtlCache<V> {
    entries: Mutex<HashMap<String, (Instant, Arc<V>)>>,
}

impl<V> Default for TtlCache<V> {
    fn default() -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> TtlCache<V> {
    pub(crate) fn get(&self, key: &str) -> Option<Arc<V>> {
        let entries = self.entries.lock().ok()?;
        let (filled, value) = entries.get(key)?;
        (filled.elapsed() < ROUTES_TTL).then(|| value.clone())
    }

    pub(crate) fn put(&self, key: String, value: Arc<V>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, (Instant::now(), value));
        }
    }

    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

/// The key of an agent in `Engine::agent_specs`.
pub(crate) fn agent_key(workspace: &str, agent: &str) -> String {
    format!("{workspace}/{agent}")
}

impl Engine {
    /// Answers a Chat Completions request for `who`.
    pub async fn chat(&self, who: &Attribution, mut request: ChatRequest) -> Result<Chat> {
        if request.model.trim().is_empty() {
            return Err(Error::Invalid("model is required".into()));
        }
        if request.messages.is_empty() {
            return Err(Error::Invalid(
                "messages is required: a non-empty list of messages".into(),
            ));
        }
        let routes = self.routes(&who.workspace).await?;
        let candidates: Vec<(&str, &ModelProviderSpec)> = routes
            .iter()
            .map(|route| (route.name.as_str(), &route.spec))
            .collect();
        let Some((found, model)) = model_provider::route(&candidates, &request.model) else {
            return Err(Error::NotFound(format!(
                "no provider found for model {:?}",
                request.model
            )));
        };
        let route = &routes[found];
        // `None` is the built-in playground.
        let upstream = match &route.target {
            Target::NotReady(message) => return Err(Error::Upstream(message.clone())),
            Target::Unsupported(message) => return Err(Error::Unsupported(message.clone())),
            Target::Playground => None,
            Target::Http(upstream) => Some(upstream),
        };
        request.model = model;
        let meter = Meter::start(self, who, &route.name, &route.spec, &request).await?;
        let created = Timestamp::now().millis().div_euclid(1000);
        let streamed = request.is_stream();
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|options| options.include_usage)
            == Some(true);

        match (upstream, streamed) {
            (None, false) => {
                let response = playground::complete(&request, created);
                meter.settle(response.usage);
                Ok(Chat::Complete(response))
            }
            (None, true) => {
                let chunks = playground::complete(&request, created).into_chunks();
                let upstream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
                Ok(Chat::Stream(meter.stream(upstream, include_usage)))
            }
            (Some(upstream), false) => {
                match runagents_llm::complete(&self.http, upstream, request, created).await {
                    Ok(response) => {
                        meter.settle(response.usage);
                        Ok(Chat::Complete(response))
                    }
                    Err(error) => {
                        meter.release().await;
                        Err(upstream_error(error))
                    }
                }
            }
            (Some(upstream), true) => {
                match runagents_llm::stream(&self.http, upstream, request, created).await {
                    Ok(chunks) => Ok(Chat::Stream(meter.stream(chunks, include_usage))),
                    Err(error) => {
                        meter.release().await;
                        Err(upstream_error(error))
                    }
                }
            }
        }
    }

    /// Every model the workspace's providers list, once each, with the provider that serves
    /// it (the first by name), sorted by model.
    pub async fn routable_models(&self, workspace: &str) -> Result<Vec<RoutableModel>> {
        let routes = self.routes(workspace).await?;
        let mut models: Vec<RoutableModel> = Vec::new();
        for route in routes.iter() {
            for model in &route.spec.models {
                if !models.iter().any(|known| &known.model == model) {
                    models.push(RoutableModel {
                        model: model.clone(),
                        provider: route.name.clone(),
                    });
                }
            }
        }
        models.sort_by(|a, b| a.model.cmp(&b.model));
        Ok(models)
    }

    async fn routes(&self, workspace: &str) -> Result<Arc<Vec<Route>>> {
        if let Some(routes) = self.routes.get(workspace) {
            return Ok(routes);
        }
        // Sorted by name: ties between providers listing the same model go to the first.
        let documents = self
            .store
            .list_documents(workspace, Kind::ModelProvider)
            .await?;
        let mut routes = Vec::with_capacity(documents.len());
        for document in documents {
            let spec: ModelProviderSpec =
                from_json("stored model provider", document.body["spec"].clone())?;
            let secrets = self
                .store
                .secrets(workspace, Kind::ModelProvider, &document.key)
                .await?;
            let target = target(&document.key, &spec, secrets);
            routes.push(Route {
                name: document.key,
                spec,
                target,
            });
        }
        let routes = Arc::new(routes);
        self.routes.put(workspace.to_owned(), routes.clone());
        Ok(routes)
    }

    /// An agent's spec as the gateway meters it: cached like the routes, dropped by this
    /// replica's deploys, config updates and deletes.
    async fn agent_spec(&self, workspace: &str, agent: &str) -> Result<Arc<AgentSpec>> {
        let key = agent_key(workspace, agent);
        if let Some(spec) = self.agent_specs.get(&key) {
            return Ok(spec);
        }
        let spec = Arc::new(self.get_agent(workspace, agent).await?.spec);
        self.agent_specs.put(key, spec.clone());
        Ok(spec)
    }
}

/// How to call a provider, from its spec and stored credentials.
fn target(name: &str, spec: &ModelProviderSpec, secrets: Vec<(String, Secret)>) -> Target {
    let endpoint = match (spec.provider, &spec.endpoint) {
        (Provider::Playground, _) => return Target::Playground,
        (_, Some(endpoint)) => endpoint.clone(),
        (_, None) => {
            return Target::NotReady(format!("model provider {name:?} has no endpoint"));
        }
    };
    let mut secrets: HashMap<String, Secret> = secrets.into_iter().collect();
    let credential = match spec.auth.kind {
        ProviderAuthType::None => None,
        ProviderAuthType::ApiKey => {
            let Some(key) = secrets.remove(API_KEY) else {
                return Target::NotReady(format!(
                    "model provider {name:?} has no API key: send credentials.api_key with POST /model-providers"
                ));
            };
            let config = spec.auth.api_key_config.clone().unwrap_or_default();
            let value = Secret::new(format!("{}{}", config.value_prefix, key.expose()));
            Some(match config.location {
                KeyLocation::Header => Credential::Header {
                    name: config.name,
                    value,
                },
                KeyLocation::Query => Credential::Query {
                    name: config.name,
                    value,
                },
            })
        }
        ProviderAuthType::AwsSignature => {
            let keys = (
                secrets.remove(AWS_ACCESS_KEY_ID),
                secrets.remove(AWS_SECRET_ACCESS_KEY),
                spec.auth.aws_config.as_ref(),
            );
            let (Some(access_key_id), Some(secret_access_key), Some(aws)) = keys else {
                return Target::NotReady(format!(
                    "model provider {name:?} has no AWS credentials: send credentials.aws_access_key_id and credentials.aws_secret_access_key with POST /model-providers"
                ));
            };
            Some(Credential::Aws {
                access_key_id,
                secret_access_key,
                region: aws.region.clone(),
            })
        }
        ProviderAuthType::OAuth2 => {
            return Target::Unsupported(format!(
                "model provider {name:?} uses auth type OAuth2, which the gateway does not support yet; use APIKey or None"
            ));
        }
    };
    Target::Http(match spec.provider {
        Provider::Anthropic => Upstream::anthropic(&endpoint, credential),
        Provider::Ollama => Upstream::ollama(&endpoint, credential),
        Provider::Bedrock => Upstream::bedrock(&endpoint, credential),
        Provider::OpenAi | Provider::Playground => Upstream::openai(&endpoint, credential),
    })
}

fn upstream_error(error: runagents_llm::Error) -> Error {
    match error {
        runagents_llm::Error::Status { status, message } => {
            Error::UpstreamStatus { status, message }
        }
        other => Error::Upstream(format!("provider request failed: {other}")),
    }
}
