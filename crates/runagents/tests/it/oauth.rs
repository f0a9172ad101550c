//! Delegated-user OAuth2 against a local fake provider speaking RFC 6749 / 7636 / 7009:
//! consent pauses the run and resumes it (then an approval, in the same run), tokens refresh
//! once under concurrency (also across two replicas), a revoked grant brings consent back
//! (also when it is revoked after an approval, before the approved call is replayed),
//! client-credentials tools need no consent, and connections are listed and revoked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use runagents_testkit::server::ApiClient;
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[derive(Default)]
struct Provider {
    /// code → (PKCE challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    live_access: Vec<String>,
    live_refresh: Vec<String>,
    issued: u32,
    refreshes: u32,
    client_credentials: u32,
    revoked: Vec<String>,
    /// `expires_in` of tokens from a code exchange (short: stale at once).
    code_expires_in: i64,
    /// Bearer tokens the API saw.
    api_tokens: Vec<String>,
}

#[derive(Clone, Default)]
pub(crate) struct Fake(Arc<Mutex<Provider>>);

impl Fake {
    fn with<T>(&self, f: impl FnOnce(&mut Provider) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }
}

async fn authorize(State(fake): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-1");
    assert_eq!(q["scope"], "mail.send");
    assert_eq!(q["code_challenge_method"], "S256");
    let code = fake.with(|p| {
        p.issued += 1;
        let code = format!("code-{}", p.issued);
        p.codes.insert(
            code.clone(),
            (q["code_challenge"].clone(), q["redirect_uri"].clone()),
        );
        code
    });
    let location = format!(
        "{}?code={code}&state={}",
        q["redirect_uri"],
        url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
    );
    (StatusCode::FOUND, [("location", location)]).into_response()
}

fn tokens(p: &mut Provider, expires_in: i64, refresh: bool) -> Value {
    p.issued += 1;
    let access = format!("at-{}", p.issued);
    p.live_access.push(access.clone());
    let mut body = json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in, "scope": "mail.send"});
    if refresh {
        let refresh = format!("rt-{}", p.issued);
        p.live_refresh.push(refresh.clone());
        body["refresh_token"] = json!(refresh);
    }
    body
}

async fn token(State(fake): State<Fake>, body: Bytes) -> Response {
    let form = form(&body);
    if form.get("client_id").map(String::as_str) != Some("client-1")
        || form.get("client_secret").map(String::as_str) != Some("secret-1")
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let grant = form["grant_type"].as_str();
    if grant == "refresh_token" {
        // Slow enough that concurrent callers would overlap if they all refreshed.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    fake.with(|p| match grant {
        "authorization_code" => {
            let Some((challenge, redirect)) = p.codes.remove(&form["code"]) else {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
            };
            let digest = ring::digest::digest(&ring::digest::SHA256, form["code_verifier"].as_bytes());
            let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
            assert_eq!(expected, challenge, "PKCE verifier must match the challenge");
            // The same callback (a restarted test server has a new port, nothing else).
            let path = |uri: &str| url::Url::parse(uri).unwrap().path().to_owned();
            assert_eq!(path(&form["redirect_uri"]), path(&redirect));
            let expires_in = p.code_expires_in;
            axum::Json(tokens(p, expires_in, true)).into_response()
        }
        "refresh_token" => {
            let presented = &form["refresh_token"];
            if !p.live_refresh.contains(presented) {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": "refresh token revoked or used"}))).into_response();
            }
            // Rotating refresh tokens: the old one is spent.
            p.live_refresh.retain(|t| t != presented);
            p.refreshes += 1;
            axum::Json(tokens(p, 3600, true)).into_response()
        }
        "client_credentials" => {
            p.client_credentials += 1;
            axum::Json(tokens(p, 3600, false)).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "unsupported_grant_type"}))).into_response(),
    })
}

async fn revoke(State(fake): State<Fake>, body: Bytes) -> StatusCode {
    let form = form(&body);
    fake.with(|p| {
        p.revoked.push(form["token"].clone());
        p.live_refresh.retain(|t| t != &form["token"]);
        p.live_access.clear();
    });
    StatusCode::OK
}

async fn api(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let user = headers
        .get("x-end-user-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    fake.with(|p| {
        p.api_tokens.push(token.clone());
        if p.live_access.contains(&token) {
            axum::Json(json!({"ok": true, "user": user})).into_response()
        } else {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_token"})),
            )
                .into_response()
        }
    })
}

pub(crate) async fn fake_provider() -> (String, Fake) {
    let fake = Fake::default();
    fake.with(|p| p.code_expires_in = 3600);
    let app = axum::Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/api/{*rest}", axum::routing::any(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

/// The `gmail` OAuth2 tool, policies (reads allowed, sends need approval), and a Tier-1
/// agent on the playground model bound to them.
pub(crate) async fn setup(api: &ApiClient, provider: &str) {
    api.send("POST", "/starter-kit", None).await;
    let (status, body) = api
        .post("/tools", json!({"name": "gmail", "spec": {
            "connection": {"baseUrl": format!("{provider}/api"), "authentication": {"type": "OAuth2", "oauth2Config": {
                "authUrl": format!("{provider}/authorize"), "tokenUrl": format!("{provider}/token"),
                "revokeUrl": format!("{provider}/revoke"), "scopes": ["mail.send"]}}},
            "capabilities": [{"name": "send", "method": "POST", "path": "/send"}, {"name": "profile", "method": "GET", "path": "/me"}]},
            "credentials": {"client_id": "client-1", "client_secret": "secret-1"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post("/policies", json!({"name": "mail", "spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": format!("{provider}/api/*")},
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{provider}/api/*")}]}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post("/deploy", json!({"agent_name": "mailer", "source_files": {}, "required_tools": ["gmail"],
            "llm_configs": [{"provider": "playground", "model": "playground"}], "policies": ["mail"]}))
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn wait_status(api: &ApiClient, run_id: &str, want: &str) -> Value {
    for _ in 0..100 {
        let (_, run) = api.get(&format!("/runs/{run_id}")).await;
        if run["status"] == want {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, run) = api.get(&format!("/runs/{run_id}")).await;
    panic!("run never became {want}: {run}");
}

/// The user follows the authorization link: the provider redirects to our callback.
async fn consent(authorization_url: &str) -> (u16, String) {
    consent_at(authorization_url, None).await
}

/// `consent`, with the callback's address replaced by `platform` (a restarted test server).
async fn consent_at(authorization_url: &str, platform: Option<&str>) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = http.get(authorization_url).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    let mut callback = redirect.headers()["location"].to_str().unwrap().to_owned();
    if let Some(platform) = platform {
        let rest = callback.split_once("/oauth/callback").unwrap().1.to_owned();
        callback = format!("{platform}/oauth/callback{rest}");
    }
    let page = http.get(&callback).send().await.unwrap();
    (page.status().as_u16(), page.text().await.unwrap())
}

#[tokio::test]
async fn consent_then_approval_resume_the_same_run_and_the_call_carries_the_users_token() {
    let server = crate::server().await;
    let api = server.client();
    let (provider, fake) = fake_provider().await;
    setup(&api, &provider).await;

    let (status, paused) = api
        .post(
            "/agents/mailer/invoke",
            json!({"message": "gmail__send hello bob", "user_id": "alice@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "PAUSED_CONSENT", "{paused}");
    assert_eq!(paused["code"], "CONSENT_REQUIRED");
    let url = paused["authorization_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{provider}/authorize?")), "{url}");
    assert_eq!(paused["consent_required"]["resume_id"], paused["resume_id"]);
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "CONSENT_REQUIRED")
    );
    // The consent queue is not the approvals queue.
    assert_eq!(api.get("/approvals/requests").await.1, json!([]));

    // A forged or tampered state is refused and changes nothing.
    let forged = reqwest::get(format!(
        "{}/oauth/callback?code=x&state=abc.def",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), 400);

    let (status, page) = consent(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("gmail is connected for alice@example.com"),
        "{page}"
    );

    // The turn goes on: the send needs approval now that it can be made.
    wait_status(&api, &run_id, "PAUSED_APPROVAL").await;
    let (_, requests) = api.get("/approvals/requests").await;
    let id = requests[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200);
    let run = wait_status(&api, &run_id, "COMPLETED").await;
    let answer = run["final_answer"].as_str().unwrap();
    assert!(
        answer.contains("\"ok\":true") && answer.contains("alice@example.com"),
        "{run}"
    );
    let sent_with: Vec<String> = fake.with(|p| p.api_tokens.clone());
    assert_eq!(
        sent_with,
        ["at-2"],
        "one upstream call, with the user's access token"
    );
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for expected in [
        "CONSENT_REQUIRED",
        "CONSENT_GRANTED",
        "RESUMED",
        "APPROVAL_REQUIRED",
        "APPROVED",
        "COMPLETED",
    ] {
        assert!(types.contains(&expected), "{expected} missing: {types:?}");
    }
    assert!(
        !events.to_string().contains("at-2"),
        "tokens never reach events"
    );

    // The CLI lists them too.
    let listed = cli(
        &server,
        &[
            "connections",
            "list",
            "--user",
            "alice@example.com",
            "-o",
            "json",
        ],
    );
    assert_eq!(listed[0]["tool"], "gmail", "{listed}");

    // Connections are listed without tokens and can be revoked (at the provider too).
    let (_, connections) = api
        .get("/oauth/connections?user_id=alice@example.com")
        .await;
    assert_eq!(connections[0]["tool"], "gmail");
    assert!(!connections.to_string().contains("at-2") && !connections.to_string().contains("rt-2"));
    let (status, _) = api
        .delete("/oauth/connections/gmail?user_id=alice@example.com")
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.with(|p| p.revoked.clone()), ["rt-2"]);
    assert_eq!(api.get("/oauth/connections").await.1, json!([]));
    assert_eq!(
        api.delete("/oauth/connections/gmail?user_id=alice@example.com")
            .await
            .0,
        404
    );
    let home = tempfile::tempdir().unwrap();
    let revoke = std::process::Command::new(TestServer::binary())
        .args([
            "connections",
            "revoke",
            "gmail",
            "--user",
            "alice@example.com",
        ])
        .env("HOME", home.path())
        .env("RUNAGENTS_ENDPOINT", &server.url)
        .env("RUNAGENTS_API_KEY", &server.admin_key)
        .output()
        .unwrap();
    assert_eq!(
        revoke.status.code(),
        Some(3),
        "not found has its own exit code"
    );
    assert!(
        !server.output().contains("at-2") && !server.output().contains("rt-2"),
        "tokens never reach the log"
    );
}

/// A Tier-1 run of `user` that consented and now waits for the approval of its send: the run
/// id, the access request and its action.
async fn connected_and_waiting_for_approval(
    api: &ApiClient,
    user: &str,
) -> (String, String, String) {
    let (_, paused) = api
        .post(
            "/agents/mailer/invoke",
            json!({"message": "gmail__send hello bob", "user_id": user}),
        )
        .await;
    assert_eq!(paused["status"], "PAUSED_CONSENT", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let (status, page) = consent(paused["authorization_url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    wait_status(api, &run_id, "PAUSED_APPROVAL").await;
    let (_, requests) = api.get("/approvals/requests").await;
    let request = &requests[0];
    (
        run_id,
        request["id"].as_str().unwrap().to_owned(),
        request["action_id"].as_str().unwrap().to_owned(),
    )
}

/// The run's events from the approval on, by type.
async fn types_since_approval(api: &ApiClient, run_id: &str) -> Vec<String> {
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let types: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    let approved = types.iter().position(|t| t == "APPROVED").unwrap();
    types[approved..].to_vec()
}

/// The approved send waits for consent again, APPROVED and unsent; the consent link is in a
/// CONSENT_REQUIRED event naming the approved action. Returns the link.
async fn waiting_for_consent_again(
    api: &ApiClient,
    provider: &str,
    run_id: &str,
    request_id: &str,
    action_id: &str,
) -> String {
    let run = wait_status(api, run_id, "PAUSED_CONSENT").await;
    assert_eq!(run["blocked_action_id"], action_id, "{run}");
    let (_, action) = api
        .get(&format!("/runs/{run_id}/actions/{action_id}"))
        .await;
    assert_eq!(action["status"], "APPROVED", "{action}");
    let (_, request) = api.get(&format!("/approvals/requests/{request_id}")).await;
    assert_eq!(request["status"], "APPROVED", "{request}");
    assert_eq!(
        api.get("/approvals/requests").await.1,
        json!([]),
        "no second approval is asked for"
    );
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let consent = events
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["type"] == "CONSENT_REQUIRED")
        .unwrap()
        .clone();
    let data = &consent["data"];
    assert_eq!(
        (data["tool"].as_str(), data["action_id"].as_str()),
        (Some("gmail"), Some(action_id)),
        "{consent}"
    );
    assert!(data["message"].is_string(), "{consent}");
    let url = data["authorization_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{provider}/authorize?")), "{url}");
    url
}

/// The user's connection is deleted between the send's approval and its replay: the run does
/// not fail, it waits for the user's consent again with the approval standing, and the consent
/// replays the approved send once and completes the run.
#[tokio::test]
async fn a_connection_revoked_before_the_replay_brings_back_consent_and_the_approval_stands() {
    let server = crate::server().await;
    let api = server.client();
    let (provider, fake) = fake_provider().await;
    setup(&api, &provider).await;
    let (run_id, request_id, action_id) =
        connected_and_waiting_for_approval(&api, "carol@example.com").await;
    // Revoked first, approved next: the decision needs no token, the replay does.
    let (status, _) = api
        .delete("/oauth/connections/gmail?user_id=carol@example.com")
        .await;
    assert_eq!(status, 200);
    let (status, approved) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");

    let url = waiting_for_consent_again(&api, &provider, &run_id, &request_id, &action_id).await;
    assert!(
        fake.with(|p| p.api_tokens.is_empty()),
        "nothing reached the upstream without a token"
    );
    let (status, page) = consent(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("continuing where it stopped"), "{page}");

    let run = wait_status(&api, &run_id, "COMPLETED").await;
    assert!(
        run["final_answer"]
            .as_str()
            .unwrap()
            .contains("carol@example.com"),
        "{run}"
    );
    let sent_with = fake.with(|p| p.api_tokens.clone());
    assert_eq!(sent_with.len(), 1, "the approved send, once: {sent_with:?}");
    assert!(
        fake.with(|p| p.live_access.contains(&sent_with[0])),
        "with the new token"
    );
    let (_, action) = api
        .get(&format!("/runs/{run_id}/actions/{action_id}"))
        .await;
    assert_eq!(action["status"], "EXECUTED", "{action}");
    assert_eq!(
        types_since_approval(&api, &run_id).await,
        [
            "APPROVED",
            "CONSENT_REQUIRED",
            "CONSENT_GRANTED",
            "TOOL_CALLED",
            "RESUMED",
            "INVOKE_COMPLETED",
            "AGENT_MESSAGE",
            "COMPLETED"
        ]
    );
    // The same link again: connected, but nothing is replayed twice.
    let (status, _) = consent(&url).await;
    assert_ne!(status, 500);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.with(|p| p.api_tokens.len()), 1);
}

/// The provider revokes the grant between the approval and the replay: the replay's call is
/// refused (401), the refresh is refused too, and the run waits for consent instead of
/// failing; after it the send is made once more, now with the new token.
#[tokio::test]
async fn an_upstream_401_at_replay_with_a_refused_refresh_brings_back_consent() {
    let server = crate::server().await;
    let api = server.client();
    let (provider, fake) = fake_provider().await;
    setup(&api, &provider).await;
    let (run_id, request_id, action_id) =
        connected_and_waiting_for_approval(&api, "dave@example.com").await;
    fake.with(|p| {
        p.live_access.clear();
        p.live_refresh.clear();
    });
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200);

    let url = waiting_for_consent_again(&api, &provider, &run_id, &request_id, &action_id).await;
    assert_eq!(
        fake.with(|p| p.api_tokens.len()),
        1,
        "one attempt, refused with 401"
    );
    let (status, page) = consent(&url).await;
    assert_eq!(status, 200, "{page}");
    wait_status(&api, &run_id, "COMPLETED").await;
    let sent_with = fake.with(|p| p.api_tokens.clone());
    assert_eq!(sent_with.len(), 2, "{sent_with:?}");
    assert!(fake.with(|p| p.live_access.contains(&sent_with[1])));
    let types = types_since_approval(&api, &run_id).await;
    assert_eq!(
        types[..5],
        [
            "APPROVED",
            "CONSENT_REQUIRED",
            "CONSENT_GRANTED",
            "TOOL_CALLED",
            "RESUMED"
        ],
        "{types:?}"
    );
    assert_eq!(types.last().map(String::as_str), Some("COMPLETED"));
}

/// An agent credential and a run for `user`, to call the tool on the agent plane directly.
pub(crate) async fn agent_plane(api: &ApiClient, user: &str) -> (String, String) {
    let (_, credential) = api.send("POST", "/agents/mailer/credentials", None).await;
    let (_, run) = api
        .post("/runs", json!({"agent_id": "mailer", "user_id": user}))
        .await;
    (
        credential["tool_urls"]["TOOL_URL_GMAIL"]
            .as_str()
            .unwrap()
            .to_owned(),
        run["id"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn connect(api: &ApiClient, tool_url: &str, run_id: &str) {
    let refused = reqwest::Client::new()
        .get(format!("{tool_url}/me"))
        .header("X-Run-ID", run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["error"].as_str()),
        (Some("CONSENT_REQUIRED"), Some("CONSENT_REQUIRED"))
    );
    assert!(body["resume_id"].is_string() && body["tool"] == "gmail");
    let (status, page) = consent(body["authorization_url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    let _ = api;
}

async fn concurrent_reads(urls: &[(String, String)], count: usize) -> Vec<u16> {
    let http = reqwest::Client::new();
    let calls = (0..count).map(|n| {
        let (url, run) = &urls[n % urls.len()];
        http.get(format!("{url}/me")).header("X-Run-ID", run).send()
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_for_twenty_concurrent_calls_and_a_revoked_grant_asks_again()
 {
    let server = crate::server().await;
    let api = server.client();
    let (provider, fake) = fake_provider().await;
    setup(&api, &provider).await;
    // Tokens from the consent expire within the refresh margin: the next use refreshes.
    fake.with(|p| p.code_expires_in = 30);
    let (tool_url, run_id) = agent_plane(&api, "alice").await;
    connect(&api, &tool_url, &run_id).await;

    let statuses = concurrent_reads(&[(tool_url.clone(), run_id.clone())], 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        fake.with(|p| p.refreshes),
        1,
        "one refresh for twenty calls"
    );

    // The provider revokes the grant: the upstream says 401, the refresh is refused, and the
    // next call asks for consent again.
    fake.with(|p| {
        p.live_access.clear();
        p.live_refresh.clear();
    });
    let statuses = concurrent_reads(&[(tool_url.clone(), run_id.clone())], 1).await;
    assert_eq!(statuses, [401]);
    let again = reqwest::Client::new()
        .get(format!("{tool_url}/me"))
        .header("X-Run-ID", &run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "CONSENT_REQUIRED");
}

#[tokio::test]
async fn two_replicas_on_one_postgres_refresh_a_rotating_token_once() {
    let database = runagents_testkit::postgres::fresh_database().await.unwrap();
    let env = [(
        "RUNAGENTS_MASTER_KEY",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )];
    let first = TestServer::start_with_env(Backend::Postgres(database.clone()), &[], &env).await;
    let second = TestServer::start_with_env(Backend::Postgres(database), &[], &env).await;
    let a = first.client();
    let b = second.client().with_key(&first.admin_key);
    let (provider, fake) = fake_provider().await;
    setup(&a, &provider).await;
    fake.with(|p| p.code_expires_in = 30);
    let (url_a, run_id) = agent_plane(&a, "alice").await;
    connect(&a, &url_a, &run_id).await;
    // The same agent credential, on replica B's agent plane.
    let url_b = url_a.replace(&first.agent_url, &second.agent_url);
    assert_ne!(url_a, url_b);
    let _ = b;
    let statuses = concurrent_reads(&[(url_b, run_id.clone()), (url_a, run_id.clone())], 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        fake.with(|p| p.refreshes),
        1,
        "one refresh across both replicas"
    );
}

#[tokio::test]
async fn a_client_credentials_tool_gets_its_own_token_without_consent() {
    let server = crate::server().await;
    let api = server.client();
    let (provider, fake) = fake_provider().await;
    api.post("/tools", json!({"name": "crm", "spec": {
        "connection": {"baseUrl": format!("{provider}/api"), "authentication": {"type": "OAuth2", "oauth2Config": {
            "tokenUrl": format!("{provider}/token"), "grantType": "client_credentials"}}},
        "capabilities": [{"name": "read", "method": "GET", "path": "/*"}]},
        "credentials": {"client_id": "client-1", "client_secret": "secret-1"}}))
        .await;
    api.post(
        "/policies",
        json!({"name": "crm-read", "spec": {"policies": [
        {"permission": "allow", "operations": ["GET"], "resource": format!("{provider}/api/*")}]}}),
    )
    .await;
    api.post("/deploy", json!({"agent_name": "sync", "source_files": {}, "required_tools": ["crm"], "policies": ["crm-read"]})).await;
    let (_, credential) = api.send("POST", "/agents/sync/credentials", None).await;
    let url = credential["tool_urls"]["TOOL_URL_CRM"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let answer = reqwest::get(format!("{url}/accounts")).await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(
        fake.with(|p| p.client_credentials),
        1,
        "the token is kept and reused"
    );
    // The tool's own token is not a user's connection.
    assert_eq!(api.get("/oauth/connections").await.1, json!([]));
}

#[tokio::test]
async fn a_restart_between_consent_and_callback_loses_nothing() {
    let server = crate::server().await;
    let api = server.client();
    let (provider, _fake) = fake_provider().await;
    setup(&api, &provider).await;
    let (_, paused) = api
        .post(
            "/agents/mailer/invoke",
            json!({"message": "gmail__profile", "user_id": "erin"}),
        )
        .await;
    assert_eq!(paused["status"], "PAUSED_CONSENT", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let url = paused["authorization_url"].as_str().unwrap().to_owned();

    // The link outlives the platform: its state is signed with a key derived from the master key.
    let server = server.restart().await;
    let api = server.client();
    let (status, page) = consent_at(&url, Some(&server.url)).await;
    assert_eq!(status, 200, "{page}");
    // The read is allowed by policy: the run completes with the profile.
    let run = wait_status(&api, &run_id, "COMPLETED").await;
    assert!(
        run["final_answer"]
            .as_str()
            .unwrap()
            .contains("\"user\":\"erin\""),
        "{run}"
    );
    // The same link again connects nothing new and resumes nothing twice.
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let granted = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "CONSENT_GRANTED")
        .count();
    assert_eq!(granted, 1);
}

/// Runs the CLI against `server` and parses its JSON output.
fn cli(server: &TestServer, args: &[&str]) -> Value {
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(TestServer::binary())
        .args(args)
        .env("HOME", home.path())
        .env("RUNAGENTS_ENDPOINT", &server.url)
        .env("RUNAGENTS_API_KEY", &server.admin_key)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
