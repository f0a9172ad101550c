//! Egress on the agent plane: policy, capabilities, credential injection, identity headers,
//! and what is recorded — driven with an agent credential against a local fake upstream.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use serde_json::{Value, json};

use crate::server;

/// What the fake upstream saw: method, path and query, headers, body.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

#[derive(Clone, Default)]
pub(crate) struct Upstream(Arc<Mutex<Vec<Seen>>>);

impl Upstream {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

pub(crate) async fn fake_upstream() -> (String, Upstream) {
    let upstream = Upstream::default();
    let recorder = upstream.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let recorder = recorder.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body =
                String::from_utf8(axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec())
                    .unwrap();
            recorder.0.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body,
            });
            if parts.uri.path() == "/v1/broken" {
                // Promises 100 bytes, sends 9, then the connection breaks.
                let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                    Ok(r#"{"partial"#),
                    Err(std::io::Error::other("upstream died")),
                ];
                return axum::response::Response::builder()
                    .status(200)
                    .header("content-length", "100")
                    .body(axum::body::Body::from_stream(futures_util::stream::iter(
                        chunks,
                    )))
                    .unwrap();
            }
            if parts.uri.path() == "/v1/export" {
                // 256 KiB in 64 chunks of unknown total length: relayed as a stream.
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 4096]));
                return axum::response::Response::builder()
                    .status(200)
                    .header("content-type", "text/plain")
                    .body(axum::body::Body::from_stream(futures_util::stream::iter(
                        chunks,
                    )))
                    .unwrap();
            }
            if parts.uri.path() == "/v1/slow" {
                // Long enough for a test to stop the server while the call is in flight.
                tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                return axum::response::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(r#"{"ok":true,"slow":true}"#))
                    .unwrap();
            }
            if parts.uri.path() == "/redirect" {
                return axum::response::Response::builder()
                    .status(302)
                    .header("location", "https://elsewhere.example/steal")
                    .body(axum::body::Body::empty())
                    .unwrap();
            }
            axum::response::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"ok":true}"#))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, upstream)
}

pub(crate) struct Setup {
    pub(crate) server: runagents_testkit::TestServer,
    pub(crate) upstream: Upstream,
    pub(crate) upstream_url: String,
    pub(crate) tool_url: String,
    pub(crate) credential: Value,
    pub(crate) run_id: String,
}

/// A Stripe-like tool with an API key, a reads-allowed / writes-need-approval / deletes-denied
/// policy, an agent bound to it, its credential, and a run.
pub(crate) async fn setup() -> Setup {
    setup_on(server().await).await
}

/// `setup` on a server started by the caller (with extra flags or environment).
pub(crate) async fn setup_on(server: runagents_testkit::TestServer) -> Setup {
    let api = server.client();
    let (upstream_url, upstream) = fake_upstream().await;
    let (status, body) = api
        .post("/tools", json!({"name": "stripe", "spec": {"connection": {"baseUrl": upstream_url, "authentication": {"type": "APIKey",
            "apiKeyConfig": {"in": "Header", "name": "Authorization", "valuePrefix": "Bearer "}}},
            "capabilities": [{"name": "charge", "method": "POST", "path": "/v1/charges", "riskTags": ["financial"]},
                             {"name": "read", "method": "GET", "path": "/*"}, {"name": "remove", "method": "DELETE", "path": "/v1/*"}]},
            "credentials": {"api_key": "sk_egress_secret"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    api.post("/tools", json!({"name": "other", "base_url": upstream_url}))
        .await;
    let (status, body) = api
        .post("/policies", json!({"name": "stripe-guarded", "spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": format!("{upstream_url}/*")},
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{upstream_url}/*")},
            {"permission": "deny", "operations": ["DELETE"], "resource": format!("{upstream_url}/*")}]}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api.post("/deploy", json!({"agent_name": "billing", "source_files": {}, "required_tools": ["stripe"], "policies": ["stripe-guarded"]})).await;
    assert_eq!(status, 201, "{body}");
    let (status, credential) = api.send("POST", "/agents/billing/credentials", None).await;
    assert_eq!(status, 201, "{credential}");
    let tool_url = credential["tool_urls"]["TOOL_URL_STRIPE"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tool_url.starts_with(&server.agent_url));
    let (_, run) = api
        .post(
            "/runs",
            json!({"agent_id": "billing", "user_id": "alice@example.com"}),
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    Setup {
        server,
        upstream,
        upstream_url,
        tool_url,
        credential,
        run_id,
    }
}

pub(crate) async fn call(
    method: &str,
    url: &str,
    run_id: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .header("Authorization", "Bearer forged-by-agent")
        .header("X-End-User-ID", "mallory");
    if let Some(run_id) = run_id {
        request = request.header("X-Run-ID", run_id);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn allowed_reads_reach_the_upstream_with_injected_credentials_and_identity() {
    let s = setup().await;
    let (status, body) = call(
        "GET",
        &format!("{}/v1/customers?limit=3", s.tool_url),
        Some(&s.run_id),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    let seen = s.upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("GET", "/v1/customers?limit=3")
    );
    assert_eq!(
        seen[0].headers["authorization"], "Bearer sk_egress_secret",
        "the agent's own Authorization is replaced"
    );
    assert_eq!(
        seen[0].headers["x-end-user-id"], "alice@example.com",
        "the user comes from the run, not the agent"
    );
    assert_eq!(seen[0].headers["x-run-id"], s.run_id.as_str());

    let (_, events) = s
        .server
        .client()
        .get(&format!("/runs/{}/events", s.run_id))
        .await;
    let events = events.as_array().unwrap();
    let request = events.iter().find(|e| e["type"] == "TOOL_REQUEST").unwrap();
    assert_eq!(
        (
            request["data"]["tool_method"].as_str(),
            request["data"]["capability"].as_str()
        ),
        (Some("GET"), Some("read"))
    );
    let response = events
        .iter()
        .find(|e| e["type"] == "TOOL_RESPONSE")
        .unwrap();
    assert_eq!(response["data"]["status_code"], 200);
    assert!(response["data"]["latency_ms"].is_u64());
    let everything = format!("{events:?}{}", s.server.output());
    assert!(
        !everything.contains("sk_egress_secret"),
        "no secret in events or logs"
    );
}

#[tokio::test]
async fn small_answers_that_break_off_are_a_bad_gateway_and_large_ones_stream_whole() {
    let s = setup().await;
    // A small answer is read whole before it is relayed, so one that breaks off is refused
    // cleanly instead of reaching the agent truncated.
    let (status, body) = call(
        "GET",
        &format!("{}/v1/broken", s.tool_url),
        Some(&s.run_id),
        None,
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "UPSTREAM_FAILED", "{body}");

    let response = reqwest::Client::new()
        .get(format!("{}/v1/export", s.tool_url))
        .header("X-Run-ID", &s.run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), 64 * 4096);
    assert!(bytes.iter().all(|b| *b == b'x'));
}

#[tokio::test]
async fn denials_never_reach_the_upstream() {
    let s = setup().await;
    let (status, body) = call(
        "DELETE",
        &format!("{}/v1/customers/cus_1", s.tool_url),
        Some(&s.run_id),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["error"].as_str()),
        (403, Some("POLICY_DENIED"), Some("POLICY_DENIED"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("policy \"stripe-guarded\" rule 2"),
        "{body}"
    );
    let (status, body) = call(
        "PUT",
        &format!("{}/v1/customers/cus_1", s.tool_url),
        Some(&s.run_id),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("POLICY_DENIED")),
        "no rule → default deny"
    );
    assert!(body["message"].as_str().unwrap().contains("default deny"));
    let (status, body) = call(
        "POST",
        &format!("{}/v1/charges", s.tool_url),
        Some(&s.run_id),
        Some(json!({"amount": 100})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("APPROVAL_REQUIRED")),
        "{body}"
    );
    let other_url = s.tool_url.replace("/tools/stripe", "/tools/other");
    let (status, body) = call("GET", &other_url, None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("UNKNOWN_TOOL")),
        "a tool the agent does not use"
    );
    let (status, body) = call(
        "GET",
        &s.tool_url.replace("/tools/stripe", "/tools/nope"),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("UNKNOWN_TOOL")));
    assert!(
        s.upstream.seen().is_empty(),
        "nothing denied reached the upstream"
    );

    let (_, events) = s
        .server
        .client()
        .get(&format!("/runs/{}/events", s.run_id))
        .await;
    let refused: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TOOL_RESPONSE")
        .map(|e| e["data"]["error"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["POLICY_DENIED", "POLICY_DENIED"]);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "APPROVAL_REQUIRED"),
        "the write paused the run for approval"
    );
}

#[tokio::test]
async fn capabilities_guard_after_policy() {
    let s = setup().await;
    let api = s.server.client();
    // Allow everything by policy; the tool's capability list still refuses what it does not declare.
    api.put(
        "/policies/stripe-guarded",
        json!({"name": "stripe-guarded", "spec": {"policies": [{"permission": "allow"}]}}),
    )
    .await;
    let (status, body) = call(
        "PATCH",
        &format!("{}/v1/charges/ch_1", s.tool_url),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("OPERATION_NOT_PERMITTED")),
        "{body}"
    );
    let (status, _) = call(
        "POST",
        &format!("{}/v1/charges", s.tool_url),
        None,
        Some(json!({"amount": 1})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(s.upstream.seen().len(), 1);
    assert_eq!(s.upstream.seen()[0].body, r#"{"amount":1}"#);
    assert!(
        s.upstream.seen()[0].headers.get("x-end-user-id").is_none(),
        "no run, no user: the agent's header is still stripped"
    );
}

#[tokio::test]
async fn credentials_runs_and_redirects() {
    let s = setup().await;
    let api = s.server.client();
    let forged = s.tool_url.replace(
        s.credential["credential"].as_str().unwrap(),
        "rag_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert_eq!(call("GET", &forged, None, None).await.0, 401);
    // A run of another agent is not this agent's to act in.
    api.post(
        "/deploy",
        json!({"agent_name": "support", "source_files": {}}),
    )
    .await;
    let (_, foreign) = api
        .post("/runs", json!({"agent_id": "support", "user_id": "bob"}))
        .await;
    let (status, body) = call(
        "GET",
        &format!("{}/v1/x", s.tool_url),
        foreign["id"].as_str(),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("UNKNOWN_RUN")));
    // Redirects come back to the agent; egress does not follow them elsewhere.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/redirect", s.tool_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(s.upstream.seen().len(), 1);
    // Rotating retires the old credential; deleting the agent retires the new one.
    let (_, rotated) = api.send("POST", "/agents/billing/credentials", None).await;
    assert_eq!(
        call("GET", &format!("{}/v1/x", s.tool_url), None, None)
            .await
            .0,
        401
    );
    let new_url = rotated["tool_urls"]["TOOL_URL_STRIPE"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call("GET", &format!("{new_url}/v1/x"), None, None).await.0,
        200
    );
    api.delete("/agents/billing").await;
    assert_eq!(
        call("GET", &format!("{new_url}/v1/x"), None, None).await.0,
        401
    );
    assert_eq!(
        api.send("POST", "/agents/ghost/credentials", None).await.0,
        404
    );
}

#[tokio::test]
async fn no_policy_bound_means_deny_and_query_keys_are_injected() {
    let server = server().await;
    let api = server.client();
    let (upstream_url, upstream) = fake_upstream().await;
    api.post("/tools", json!({"name": "maps", "spec": {"connection": {"baseUrl": upstream_url, "authentication": {"type": "APIKey",
        "apiKeyConfig": {"in": "Query", "name": "key", "valuePrefix": ""}}}}, "credentials": {"api_key": "maps-secret"}})).await;
    api.post(
        "/deploy",
        json!({"agent_name": "unbound", "source_files": {}, "required_tools": ["maps"]}),
    )
    .await;
    let (_, credential) = api.send("POST", "/agents/unbound/credentials", None).await;
    let url = credential["tool_urls"]["TOOL_URL_MAPS"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call("GET", &format!("{url}/geocode?q=x"), None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("POLICY_DENIED"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no policy is bound")
    );
    api.post(
        "/policies",
        json!({"name": "open", "spec": {"policies": [{"permission": "allow"}]}}),
    )
    .await;
    api.put("/agents/unbound/config", json!({"policies": ["open"]}))
        .await;
    let (status, _) = call("GET", &format!("{url}/geocode?q=x"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(upstream.seen()[0].uri, "/geocode?q=x&key=maps-secret");
}

/// The policy in `setup` with GET denied instead of allowed.
fn reads_denied(upstream_url: &str) -> Value {
    json!({"name": "stripe-guarded", "spec": {"policies": [
        {"permission": "deny", "operations": ["GET"], "resource": format!("{upstream_url}/*")},
        {"permission": "approval_required", "operations": ["POST"], "resource": format!("{upstream_url}/*")}]}})
}

/// Caches never outlive a write: policy, tool and credential changes made on the API are
/// enforced on the very next call.
#[tokio::test]
async fn changes_on_the_api_are_enforced_on_the_very_next_call() {
    let s = setup().await;
    let api = s.server.client();
    let read = format!("{}/v1/customers", s.tool_url);
    // Warm every cache.
    for _ in 0..3 {
        assert_eq!(call("GET", &read, Some(&s.run_id), None).await.0, 200);
    }
    let (status, body) = api
        .put("/policies/stripe-guarded", reads_denied(&s.upstream_url))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call("GET", &read, Some(&s.run_id), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("POLICY_DENIED"))
    );
    // A new API key for the tool is injected on the next call.
    let (status, body) = api
        .post("/tools", json!({"name": "stripe", "spec": {"connection": {"baseUrl": s.upstream_url, "authentication": {"type": "APIKey",
            "apiKeyConfig": {"in": "Header", "name": "Authorization", "valuePrefix": "Bearer "}}},
            "capabilities": [{"name": "read", "method": "GET", "path": "/*"}]},
            "credentials": {"api_key": "sk_rotated"}}))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = api
        .put("/policies/stripe-guarded", json!({"name": "stripe-guarded", "spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": format!("{}/*", s.upstream_url)}]}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(call("GET", &read, Some(&s.run_id), None).await.0, 200);
    let seen = s.upstream.seen();
    assert_eq!(
        seen.last().unwrap().headers["authorization"],
        "Bearer sk_rotated"
    );
    // Unbinding the tool from the agent: the next call is refused.
    let (status, body) = api
        .post("/deploy", json!({"agent_name": "billing", "source_files": {}, "required_tools": ["other"], "policies": ["stripe-guarded"]}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call("GET", &read, Some(&s.run_id), None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("UNKNOWN_TOOL")));
}

#[tokio::test]
async fn a_replaced_or_deleted_agent_credential_stops_working_at_once() {
    let s = setup().await;
    let api = s.server.client();
    let read = format!("{}/v1/customers", s.tool_url);
    assert_eq!(call("GET", &read, Some(&s.run_id), None).await.0, 200);
    // Issuing a new credential retires the old one.
    let (status, fresh) = api.send("POST", "/agents/billing/credentials", None).await;
    assert_eq!(status, 201, "{fresh}");
    assert_eq!(call("GET", &read, Some(&s.run_id), None).await.0, 401);
    let fresh_read = format!(
        "{}/v1/customers",
        fresh["tool_urls"]["TOOL_URL_STRIPE"].as_str().unwrap()
    );
    assert_eq!(call("GET", &fresh_read, Some(&s.run_id), None).await.0, 200);
    // Deleting the agent: its credential is refused on the next call.
    let (status, body) = api.delete("/agents/billing").await;
    assert!(status == 200 || status == 204, "{body}");
    let (status, body) = call("GET", &fresh_read, Some(&s.run_id), None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        s.upstream.seen().len() == 2,
        "nothing more reached the upstream"
    );
}

/// Two replicas on one PostgreSQL: each sees the other's policy and credential writes on its
/// very next call, whatever it had cached.
#[tokio::test]
async fn two_replicas_see_each_others_writes_on_the_next_call() {
    use runagents_testkit::{Backend, TestServer};
    let database = runagents_testkit::postgres::fresh_database().await.unwrap();
    let master = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let env = [("RUNAGENTS_MASTER_KEY", master)];
    let first = TestServer::start_with_env(Backend::Postgres(database.clone()), &[], &env).await;
    let second = TestServer::start_with_env(Backend::Postgres(database), &[], &env).await;
    let b = second.client().with_key(&first.admin_key);
    // Everything set up through replica A; the agent calls replica B's agent plane.
    let s = setup_on(first).await;
    let a = s.server.client();
    let (_, credential) = b.send("POST", "/agents/billing/credentials", None).await;
    let tool_url = credential["tool_urls"]["TOOL_URL_STRIPE"].as_str().unwrap();
    assert!(tool_url.starts_with(&second.agent_url), "{tool_url}");
    let read = format!("{tool_url}/v1/customers");
    for _ in 0..3 {
        assert_eq!(call("GET", &read, Some(&s.run_id), None).await.0, 200);
    }
    let (status, body) = a
        .put("/policies/stripe-guarded", reads_denied(&s.upstream_url))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call("GET", &read, Some(&s.run_id), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("POLICY_DENIED")),
        "{body}"
    );
    // The agent deleted on A: B refuses its credential on the next call.
    let (status, body) = a.delete("/agents/billing").await;
    assert!(status == 200 || status == 204, "{body}");
    assert_eq!(call("GET", &read, Some(&s.run_id), None).await.0, 401);
}

/// On SQLite a call is answered once its events are journaled, before their commit: a read
/// right after still sees them in order, and a SIGKILL before the commit loses none of them.
#[tokio::test]
async fn answered_calls_keep_their_events_through_a_crash_before_the_commit() {
    use runagents_testkit::{Backend, TestServer};
    // The journal waits a minute before committing unless a reader or a transaction needs it.
    let server = TestServer::start_with_env(
        Backend::Sqlite,
        &[],
        &[
            ("RUNAGENTS_EVENT_LINGER_MS", "60000"),
            // Idle workers open transactions, which settle the journal too: keep them asleep.
            ("RUNAGENTS_WORKER_IDLE_POLL_MS", "600000"),
        ],
    )
    .await;
    let s = setup_on(server).await;
    let read = |n: usize| format!("{}/v1/customers/{n}", s.tool_url);
    let (status, _) = call("GET", &read(0), Some(&s.run_id), None).await;
    assert_eq!(status, 200);
    // A reader settles the journal: the call's events are there at once.
    let events_path = format!("/runs/{}/events", s.run_id);
    let (_, events) = s.server.client().get(&events_path).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(kinds[kinds.len() - 2..], ["TOOL_REQUEST", "TOOL_RESPONSE"]);
    let before = kinds.len();
    for n in 1..=5 {
        let (status, _) = call("GET", &read(n), Some(&s.run_id), None).await;
        assert_eq!(status, 200);
    }
    // Not committed yet: a second handle on the database (which cannot settle the server's
    // journal) sees only the events read above.
    let master = std::fs::read_to_string(s.server.data_dir.join("master.key")).unwrap();
    let master = runagents_store::MasterKey::from_base64(master.trim()).unwrap();
    let beside =
        runagents_store::SqliteStore::open(&s.server.data_dir.join("runagents.db"), &master)
            .await
            .unwrap();
    use runagents_store::RunStore as _;
    let committed = beside
        .list_events("default", &s.run_id, 0, None)
        .await
        .unwrap();
    assert_eq!(committed.len(), before);
    drop(beside);
    let Setup { server, run_id, .. } = s;
    let server = server.crash_and_restart().await;
    let (_, events) = server.client().get(&format!("/runs/{run_id}/events")).await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), before + 10, "{events:?}");
    for (n, pair) in events[before..].chunks(2).enumerate() {
        assert_eq!(pair[0]["type"], "TOOL_REQUEST");
        assert_eq!(pair[1]["type"], "TOOL_RESPONSE");
        assert_eq!(
            pair[1]["data"]["tool_url"]
                .as_str()
                .map(|u| u.ends_with(&format!("/v1/customers/{}", n + 1))),
            Some(true)
        );
    }
    assert!(
        events
            .iter()
            .zip(1..)
            .all(|(event, seq)| event["seq"] == seq),
        "gapless"
    );
}
