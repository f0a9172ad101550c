//! Calling a provider over HTTP: the request in the provider's dialect with its credential
//! injected, the answer back as OpenAI JSON or as a stream of OpenAI chunks.
//!
//! Invariant: the credential leaves the process only here, as the header or query parameter
//! the provider's auth config names, and is redacted from any error text the provider sends
//! back (some echo the key they were given).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use runagents_domain::Secret;
use serde_json::Value;

use crate::wire::{ChatChunk, ChatRequest, ChatResponse, StreamOptions, error_message};
use crate::{Error, anthropic, bedrock, sigv4, sse};

/// A complete (non-streamed) answer must arrive within this.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions, spoken by OpenAI, Ollama and most self-hosted servers.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// Amazon Bedrock's Converse API, signed with SigV4. Streams are answered once complete.
    Bedrock,
}

/// Where a credential goes on the upstream request.
#[derive(Clone, Debug)]
pub enum Credential {
    Header {
        name: String,
        value: Secret,
    },
    Query {
        name: String,
        value: Secret,
    },
    /// AWS keys: each request is signed (SigV4) for Bedrock in `region`.
    Aws {
        access_key_id: Secret,
        secret_access_key: Secret,
        region: String,
    },
}

impl Credential {
    fn secrets(&self) -> Vec<&Secret> {
        match self {
            Credential::Header { value, .. } | Credential::Query { value, .. } => vec![value],
            Credential::Aws {
                access_key_id,
                secret_access_key,
                ..
            } => vec![access_key_id, secret_access_key],
        }
    }
}

/// One provider endpoint, ready to call.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub dialect: Dialect,
    /// The full URL requests are posted to.
    pub url: String,
    pub credential: Option<Credential>,
}

impl Upstream {
    /// An OpenAI-compatible base URL (`https://api.openai.com/v1`): `/chat/completions` is
    /// appended unless the endpoint already ends with it.
    pub fn openai(endpoint: &str, credential: Option<Credential>) -> Self {
        Upstream {
            dialect: Dialect::OpenAi,
            url: with_suffix(endpoint, &["/chat/completions"], "/chat/completions"),
            credential,
        }
    }

    /// Ollama's OpenAI-compatible API: `{endpoint}/v1/chat/completions`.
    pub fn ollama(endpoint: &str, credential: Option<Credential>) -> Self {
        let base = endpoint.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_owned()
        } else if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        Upstream {
            dialect: Dialect::OpenAi,
            url,
            credential,
        }
    }

    /// Anthropic's API root (`https://api.anthropic.com`): `{endpoint}/v1/messages`.
    pub fn anthropic(endpoint: &str, credential: Option<Credential>) -> Self {
        let base = endpoint.trim_end_matches('/');
        let url = if base.ends_with("/messages") {
            base.to_owned()
        } else if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        Upstream {
            dialect: Dialect::Anthropic,
            url,
            credential,
        }
    }

    /// Bedrock's root (`https://bedrock-runtime.{region}.amazonaws.com`): each call goes to
    /// `{endpoint}/model/{model}/converse`.
    pub fn bedrock(endpoint: &str, credential: Option<Credential>) -> Self {
        Upstream {
            dialect: Dialect::Bedrock,
            url: endpoint.trim_end_matches('/').to_owned(),
            credential,
        }
    }

    fn post(
        &self,
        http: &reqwest::Client,
        model: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let url = match self.dialect {
            Dialect::Bedrock => format!("{}/model/{}/converse", self.url, encode_segment(model)),
            Dialect::OpenAi | Dialect::Anthropic => self.url.clone(),
        };
        let mut builder = http.post(&url).header("content-type", "application/json");
        if self.dialect == Dialect::Anthropic {
            builder = builder.header("anthropic-version", anthropic::API_VERSION);
        }
        builder = match &self.credential {
            None => builder,
            Some(Credential::Header { name, value }) => builder.header(name, value.expose()),
            Some(Credential::Query { name, value }) => {
                builder.query(&[(name.as_str(), value.expose())])
            }
            Some(Credential::Aws {
                access_key_id,
                secret_access_key,
                region,
            }) => {
                let parsed = reqwest::Url::parse(&url)
                    .map_err(|e| Error::Transport(format!("invalid endpoint: {e}")))?;
                let host = match (parsed.host_str(), parsed.port()) {
                    (Some(host), Some(port)) => format!("{host}:{port}"),
                    (Some(host), None) => host.to_owned(),
                    (None, _) => return Err(Error::Transport("endpoint has no host".into())),
                };
                let now = time::OffsetDateTime::now_utc();
                let amz_date = format!(
                    "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                    now.year(),
                    u8::from(now.month()),
                    now.day(),
                    now.hour(),
                    now.minute(),
                    now.second()
                );
                let signed = sigv4::Request {
                    method: "POST",
                    host: &host,
                    path: parsed.path(),
                    query: parsed.query().unwrap_or_default(),
                    content_type: Some("application/json"),
                    body: &body,
                };
                let credentials = sigv4::Credentials {
                    access_key_id: access_key_id.expose(),
                    secret_access_key: secret_access_key.expose(),
                    region,
                    service: "bedrock",
                };
                builder.header("x-amz-date", &amz_date).header(
                    "authorization",
                    sigv4::authorization(&signed, &credentials, &amz_date),
                )
            }
        };
        Ok(builder.body(body))
    }

    fn body(&self, request: &ChatRequest) -> Result<Vec<u8>, Error> {
        let encoded = match self.dialect {
            Dialect::OpenAi => serde_json::to_vec(request),
            Dialect::Anthropic => serde_json::to_vec(&anthropic::request(request, &request.model)),
            Dialect::Bedrock => serde_json::to_vec(&bedrock::request(request)),
        };
        encoded.map_err(|e| Error::Malformed(format!("request could not be encoded: {e}")))
    }

    /// Removes the credential from text a provider sent back.
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.credential.iter().flat_map(Credential::secrets) {
            let secret = secret.expose();
            if secret.is_empty() {
                continue;
            }
            text = text.replace(secret, "***");
            // A header value like `Bearer KEY`: the key alone too.
            let bare = secret
                .rsplit_once(' ')
                .map_or(secret, |(_, key)| key)
                .trim();
            if bare.len() >= 8 {
                text = text.replace(bare, "***");
            }
        }
        text
    }

    async fn send(
        &self,
        http: &reqwest::Client,
        request: &ChatRequest,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, Error> {
        let mut builder = self.post(http, &request.model, self.body(request)?)?;
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| Error::Transport(self.redact(&describe(e))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(Error::Status {
            status: status.as_u16(),
            message: self.redact(&error_message(&body)),
        })
    }
}

fn with_suffix(endpoint: &str, already: &[&str], suffix: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if already.iter().any(|end| base.ends_with(end)) {
        base.to_owned()
    } else {
        format!("{base}{suffix}")
    }
}

/// A transport error with its causes, without the URL (which may carry a query credential).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Asks for a complete answer. `request.model` is the provider's name for the model.
pub async fn complete(
    http: &reqwest::Client,
    upstream: &Upstream,
    mut request: ChatRequest,
    created: i64,
) -> Result<ChatResponse, Error> {
    request.stream = None;
    request.stream_options = None;
    let response = upstream
        .send(http, &request, Some(COMPLETE_TIMEOUT))
        .await?;
    let request_id = response
        .headers()
        .get("x-amzn-requestid")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::Transport(upstream.redact(&describe(e))))?;
    match upstream.dialect {
        Dialect::OpenAi => serde_json::from_slice::<ChatResponse>(&bytes)
            .map_err(|e| Error::Malformed(format!("not a chat completion: {e}"))),
        Dialect::Anthropic => {
            let body: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Malformed(format!("not JSON: {e}")))?;
            anthropic::response(&body, created)
        }
        Dialect::Bedrock => {
            let body: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Malformed(format!("not JSON: {e}")))?;
            let id = format!(
                "chatcmpl-bedrock-{}",
                request_id.unwrap_or_else(|| created.to_string())
            );
            bedrock::response(&body, &request.model, &id, created)
        }
    }
}

/// A path segment, percent-encoded (Bedrock model ids carry `:` and ARNs `/`).
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, Error>> + Send>>;

/// Asks for a streamed answer. Resolves once the provider has accepted the request (a refusal
/// is an `Error::Status`), then yields OpenAI chunks; the last one carries the usage when the
/// provider reports it (OpenAI dialect providers are asked to).
pub async fn stream(
    http: &reqwest::Client,
    upstream: &Upstream,
    mut request: ChatRequest,
    created: i64,
) -> Result<ChunkStream, Error> {
    if upstream.dialect == Dialect::Bedrock {
        // Converse streams use AWS's binary event framing; the answer is streamed once whole.
        let response = complete(http, upstream, request, created).await?;
        let chunks = response.into_chunks().into_iter().map(Ok);
        return Ok(Box::pin(futures_util::stream::iter(chunks)));
    }
    request.stream = Some(true);
    if upstream.dialect == Dialect::OpenAi {
        let options = request
            .stream_options
            .get_or_insert_with(StreamOptions::default);
        options.include_usage = Some(true);
    }
    let response = upstream.send(http, &request, None).await?;
    let translator = match upstream.dialect {
        Dialect::OpenAi | Dialect::Bedrock => None,
        Dialect::Anthropic => Some(anthropic::StreamTranslator::new(created)),
    };
    Ok(relay(response.bytes_stream(), translator, upstream.clone()))
}

struct Relay<S> {
    bytes: Pin<Box<S>>,
    parser: sse::Parser,
    events: Vec<sse::Event>,
    pending: VecDeque<Result<ChatChunk, Error>>,
    translator: Option<anthropic::StreamTranslator>,
    upstream: Upstream,
    finished: bool,
}

fn relay<S, B>(
    bytes: S,
    translator: Option<anthropic::StreamTranslator>,
    upstream: Upstream,
) -> ChunkStream
where
    S: Stream<Item = reqwest::Result<B>> + Send + 'static,
    B: AsRef<[u8]>,
{
    let state = Relay {
        bytes: Box::pin(bytes),
        parser: sse::Parser::new(),
        events: Vec::new(),
        pending: VecDeque::new(),
        translator,
        upstream,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            loop {
                if let Some(item) = state.pending.pop_front() {
                    return Some((item, state));
                }
                if state.finished {
                    return None;
                }
                match state.bytes.next().await {
                    Some(Ok(bytes)) => {
                        let mut events = std::mem::take(&mut state.events);
                        state.parser.feed(bytes.as_ref(), &mut events);
                        state.take(&mut events);
                        state.events = events;
                    }
                    Some(Err(error)) => {
                        let message = state.upstream.redact(&describe(error));
                        state.pending.push_back(Err(Error::Transport(message)));
                        state.finished = true;
                    }
                    None => {
                        let mut events = Vec::new();
                        state.parser.finish(&mut events);
                        state.take(&mut events);
                        state.finished = true;
                    }
                }
            }
        },
    ))
}

impl<S> Relay<S> {
    fn take(&mut self, events: &mut Vec<sse::Event>) {
        for event in events.drain(..) {
            if self.finished {
                continue;
            }
            match &mut self.translator {
                Some(translator) => match translator.event(&event) {
                    Ok(chunks) => self.pending.extend(chunks.into_iter().map(Ok)),
                    Err(error) => self.fail(error),
                },
                None => {
                    if event.data.trim() == "[DONE]" {
                        self.finished = true;
                        continue;
                    }
                    match serde_json::from_str::<ChatChunk>(&event.data) {
                        Ok(chunk) if chunk.extra.contains_key("error") => {
                            self.fail(Error::Stream(error_message(&event.data)));
                        }
                        Ok(chunk) => self.pending.push_back(Ok(chunk)),
                        Err(error) => self.fail(Error::Malformed(format!(
                            "stream chunk is not a chat completion chunk: {error}"
                        ))),
                    }
                }
            }
        }
    }

    fn fail(&mut self, error: Error) {
        let error = match error {
            Error::Stream(message) => Error::Stream(self.upstream.redact(&message)),
            other => other,
        };
        self.pending.push_back(Err(error));
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            Upstream::openai("https://api.openai.com/v1/", None).url,
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            Upstream::openai("http://h/v1/chat/completions", None).url,
            "http://h/v1/chat/completions"
        );
        assert_eq!(
            Upstream::ollama("http://127.0.0.1:11434", None).url,
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            Upstream::ollama("http://127.0.0.1:11434/v1", None).url,
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            Upstream::anthropic("https://api.anthropic.com", None).url,
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            Upstream::anthropic("http://h/v1", None).url,
            "http://h/v1/messages"
        );
    }

    #[test]
    fn credentials_are_redacted_from_provider_text() {
        let upstream = Upstream::openai(
            "http://h/v1",
            Some(Credential::Header {
                name: "Authorization".into(),
                value: Secret::new("Bearer sk-very-secret-key"),
            }),
        );
        assert_eq!(
            upstream.redact("Incorrect API key provided: sk-very-secret-key."),
            "Incorrect API key provided: ***."
        );
        assert_eq!(
            upstream.redact("header was Bearer sk-very-secret-key"),
            "header was ***"
        );
    }
}
