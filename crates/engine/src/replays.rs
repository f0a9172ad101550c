//! Nothing runs twice on a turn invoked again: when the platform invokes a hosted runtime a
//! second time to continue a run after an approval, the agent's handler starts over, and the
//! calls it made before the pause would reach their upstreams again. Egress keeps the answer
//! of every call such a run makes (status, a few headers, the body up to 1 MiB) keyed by the
//! run, the call's payload hash and its occurrence, and a later turn is served those answers,
//! in order of occurrence, instead of calling again.
//!
//! A kept answer is served before policy is evaluated again: the call already happened under
//! the policy of its time, and serving its answer reaches no upstream.
//!
//! Invariants: only runs whose turn the platform drives (`turn > 0`) are kept, and only while
//! they are not COMPLETED or FAILED (the transaction that ends a run deletes its calls). A
//! call that reached its upstream is kept before its answer is relayed; one whose answer could
//! not be read is not, and would be made again.

use base64::Engine as _;
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use runagents_domain::Timestamp;
use runagents_store::{RecordedCall, RunRecord};
use serde_json::{Map, Value, json};

use crate::Engine;
use crate::egress::{Answer, Outcome, refuse};
use crate::runs::event;

/// Answers longer than this are kept cut, and served cut (`x-runagents-truncated: true`).
pub(crate) const MAX_KEPT_BODY: usize = 1024 * 1024;

/// The response headers a kept answer holds.
const KEPT_HEADERS: [&str; 5] = [
    "content-type",
    "location",
    "idempotency-key",
    "request-id",
    "etag",
];

/// A kept answer, as the agent gets it.
pub(crate) fn recorded_outcome(call: RecordedCall) -> Outcome {
    let mut headers: Vec<(String, String)> = call
        .headers
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    if call.truncated {
        headers.push(("x-runagents-truncated".into(), "true".into()));
    }
    Outcome::Replayed {
        status: call.status,
        headers,
        body: call.body,
    }
}

/// An approved action's recorded answer (`{status, headers, body_base64}`) as a kept call.
pub(crate) fn recorded_of(response: &Value) -> RecordedCall {
    let body = response["body_base64"]
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .unwrap_or_default();
    RecordedCall {
        status: response["status"]
            .as_u64()
            .and_then(|status| u16::try_from(status).ok())
            .unwrap_or(200),
        headers: response
            .get("headers")
            .filter(|headers| headers.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
        body,
        truncated: false,
    }
}

impl Engine {
    /// Keeps a call's answer for later turns of the run (best effort: a failure is logged).
    pub(crate) async fn keep_answer(&self, run: &RunRecord, hash: &str, call: RecordedCall) {
        if let Err(error) = self
            .store
            .record_run_call(
                &run.workspace,
                &run.id,
                hash,
                run.turn,
                &call,
                Timestamp::now(),
            )
            .await
        {
            tracing::warn!(run = %run.id, %error, "could not keep a call's answer for a later turn");
        }
    }

    /// Reads the upstream's answer (up to the kept size), keeps it, and relays it whole: the
    /// part read first, then whatever is still streaming.
    pub(crate) async fn kept_response(
        &self,
        run: &RunRecord,
        hash: &str,
        response: Answer,
    ) -> Outcome {
        let (head, mut rest) = response.into_parts();
        let mut chunks = Vec::new();
        let mut size = 0;
        while size <= MAX_KEPT_BODY {
            match rest.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(chunk) = frame.into_data() {
                        size += chunk.len();
                        chunks.push(chunk);
                    }
                }
                None => break,
                Some(Err(error)) => {
                    return refuse(
                        502,
                        "UPSTREAM_FAILED",
                        format!("the upstream's answer broke off: {error}"),
                    );
                }
            }
        }
        let truncated = size > MAX_KEPT_BODY;
        let mut body = Vec::with_capacity(size.min(MAX_KEPT_BODY));
        for chunk in &chunks {
            body.extend_from_slice(chunk);
        }
        body.truncate(MAX_KEPT_BODY);
        let headers: Map<String, Value> = head
            .headers
            .iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), json!(value.to_str().ok()?)))
            })
            .collect();
        let kept = RecordedCall {
            status: head.status.as_u16(),
            headers: Value::Object(headers),
            body,
            truncated,
        };
        self.keep_answer(run, hash, kept).await;
        let read =
            futures_util::stream::iter(chunks.into_iter().map(|chunk| Ok(Frame::data(chunk))));
        let relayed = BodyExt::boxed(StreamBody::new(read.chain(BodyStream::new(rest))));
        Outcome::Forwarded(http::Response::from_parts(head, relayed))
    }

    /// TOOL_REQUEST + TOOL_RESPONSE for a call answered from the run's kept calls.
    pub(crate) async fn record_replay(
        &self,
        run: &RunRecord,
        tool: &str,
        method: &str,
        recorded_url: &str,
        status: u16,
    ) {
        let request = event(
            "TOOL_REQUEST",
            &run.agent,
            json!({"tool": tool, "tool_method": method, "tool_url": recorded_url}),
        );
        let response = event(
            "TOOL_RESPONSE",
            "platform",
            json!({"tool": tool, "tool_method": method, "tool_url": recorded_url, "status_code": status, "replayed": true}),
        );
        self.append_call_events(run, vec![request, response]).await;
    }
}
