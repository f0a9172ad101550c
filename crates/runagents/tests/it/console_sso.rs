//! The console's single sign-on over HTTP, against a local fake OIDC provider (axum): its
//! discovery document, an authorize endpoint that approves at once and redirects back with a
//! code, a token endpoint that checks PKCE and the client's credentials and answers an ID token
//! signed here with an ES256 key (ring), and its JWKS. A browser is played by hand: cookies
//! carried from answer to request, redirects followed one by one.
//!
//! Sign-in creates a session whose `/console/session` is the person (role from their groups);
//! a token for another audience, an expired one, one with another nonce, a tampered state, or a
//! callback in a browser that did not start the sign-in are refused with no session; turning
//! single sign-on off (or removing it) signs its people out for good; the client secret and the
//! ID token are never shown or logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use runagents_testkit::TestServer;
use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::server;

const CLIENT_ID: &str = "runagents-console";
const CLIENT_SECRET: &str = "fake-provider-client-secret-do-not-show";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What the fake provider puts in its next ID tokens.
#[derive(Clone)]
enum Issue {
    Good,
    WrongAudience,
    Expired,
    BadNonce,
}

/// A pending code: what the authorize request asked for.
struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Provider {
    issuer: String,
    key: EcdsaKeyPair,
    issue: Issue,
    /// The person the next sign-in is for.
    person: Value,
    grants: HashMap<String, Grant>,
    /// Every ID token issued, to check none of them shows up anywhere.
    issued: Vec<String>,
    /// How the console authenticated at the token endpoint: "post" or "basic".
    client_auth: Vec<String>,
}

type Shared = Arc<Mutex<Provider>>;

struct FakeProvider {
    url: String,
    state: Shared,
}

impl FakeProvider {
    async fn start() -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let state = Arc::new(Mutex::new(Provider {
            issuer: url.clone(),
            key,
            issue: Issue::Good,
            person: alice(),
            grants: HashMap::new(),
            issued: Vec::new(),
            client_auth: Vec::new(),
        }));
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/jwks", axum::routing::get(jwks))
            .route("/authorize", axum::routing::get(authorize))
            .route("/token", axum::routing::post(token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeProvider { url, state }
    }

    fn issue(&self, issue: Issue) {
        self.state.lock().unwrap().issue = issue;
    }

    fn person(&self, person: Value) {
        self.state.lock().unwrap().person = person;
    }

    fn issued(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }

    fn client_auth(&self) -> Vec<String> {
        self.state.lock().unwrap().client_auth.clone()
    }
}

fn alice() -> Value {
    json!({"sub": "00u-alice", "email": "alice@example.com", "email_verified": true,
           "name": "Alice Example", "groups": ["ops", "platform-admins"]})
}

fn bob() -> Value {
    json!({"sub": "00u-bob", "email": "bob@example.com", "name": "Bob Example", "groups": ["ops"]})
}

async fn discovery(axum::extract::State(state): axum::extract::State<Shared>) -> axum::Json<Value> {
    let issuer = state.lock().unwrap().issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }))
}

async fn jwks(axum::extract::State(state): axum::extract::State<Shared>) -> axum::Json<Value> {
    let state = state.lock().unwrap();
    let point = state.key.public_key().as_ref();
    axum::Json(
        json!({"keys": [{"kty": "EC", "use": "sig", "crv": "P-256", "kid": "ec-1",
        "alg": "ES256", "x": b64(&point[1..33]), "y": b64(&point[33..])}]}),
    )
}

/// Approves at once (the person is whoever `person` says) and sends the browser back.
async fn authorize(
    axum::extract::State(state): axum::extract::State<Shared>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wants = |name: &str| query.get(name).cloned().unwrap_or_default();
    if wants("response_type") != "code"
        || wants("client_id") != CLIENT_ID
        || wants("code_challenge_method") != "S256"
        || !wants("scope").split(' ').any(|s| s == "openid")
    {
        return (axum::http::StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let code = format!("code-{}", uuid_like());
    let redirect_uri = wants("redirect_uri");
    state.lock().unwrap().grants.insert(
        code.clone(),
        Grant {
            nonce: wants("nonce"),
            challenge: wants("code_challenge"),
            redirect_uri: redirect_uri.clone(),
        },
    );
    let mut back = url::Url::parse(&redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &wants("state"));
    axum::response::Redirect::to(back.as_str()).into_response()
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
    b64(&bytes)
}

/// Checks the grant (code, redirect URI, PKCE, client credentials) and issues an ID token.
async fn token(
    axum::extract::State(state): axum::extract::State<Shared>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let refuse = |error: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "error_description": "refused by the fake"})),
        )
            .into_response()
    };
    let mut provider = state.lock().unwrap();
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let (auth, client_id, secret) = match basic {
        Some(pair) => {
            let (id, secret) = pair.split_once(':').unwrap_or_default();
            ("basic", id.to_owned(), secret.to_owned())
        }
        None => ("post", field("client_id"), field("client_secret")),
    };
    if client_id != CLIENT_ID || secret != CLIENT_SECRET {
        return refuse("invalid_client");
    }
    provider.client_auth.push(auth.to_owned());
    let Some(grant) = provider.grants.remove(&field("code")) else {
        return refuse("invalid_grant");
    };
    let challenge =
        b64(
            ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes()).as_ref(),
        );
    if field("grant_type") != "authorization_code"
        || field("redirect_uri") != grant.redirect_uri
        || challenge != grant.challenge
    {
        return refuse("invalid_grant");
    }
    let mut claims = provider.person.clone();
    claims["iss"] = json!(provider.issuer);
    claims["aud"] = json!(CLIENT_ID);
    claims["nonce"] = json!(grant.nonce);
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 300);
    match provider.issue {
        Issue::Good => {}
        Issue::WrongAudience => claims["aud"] = json!("another-client"),
        Issue::Expired => claims["exp"] = json!(now() - 600),
        Issue::BadNonce => claims["nonce"] = json!("not-this-sign-in"),
    }
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "ES256", "typ": "JWT", "kid": "ec-1"})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = provider
        .key
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    let id_token = format!("{input}.{}", b64(signature.as_ref()));
    provider.issued.push(id_token.clone());
    axum::Json(
        json!({"access_token": "fake-access-token", "token_type": "Bearer",
        "expires_in": 300, "id_token": id_token}),
    )
    .into_response()
}

/// A browser: a cookie jar by name, no automatic redirects.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// One answer, with where it sends the browser next.
struct Answer {
    status: u16,
    location: String,
    set_cookies: Vec<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Whether the answer sets `name` to a non-empty value.
    fn sets(&self, name: &str) -> bool {
        self.set_cookies.iter().any(|cookie| {
            cookie
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .is_some_and(|(n, v)| n == name && !v.is_empty())
        })
    }
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn request(
        &mut self,
        method: &str,
        url: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header("cookie", jar.join("; "));
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status,
            location,
            set_cookies,
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, url: &str) -> Answer {
        self.request("GET", url, None, None).await
    }

    /// From the sign-in button to the provider: the callback URL it sends the browser to.
    async fn through_provider(&mut self, server: &TestServer) -> (Answer, String) {
        let (status, button) = anonymous(server, "/console/sso").await;
        assert_eq!(status, 200, "{button}");
        let start_url = button["start_url"].as_str().unwrap().to_owned();
        let start = self.get(&format!("{}{start_url}", server.url)).await;
        assert_eq!(start.status, 303, "{}", start.text);
        let authorize = self.get(&start.location).await;
        assert_eq!(authorize.status, 303, "{}", authorize.text);
        assert!(
            authorize
                .location
                .starts_with(&format!("{}/console/oidc/callback?", server.url))
        );
        (start, authorize.location)
    }

    /// The whole sign-in; the callback's answer.
    async fn sign_in(&mut self, server: &TestServer) -> Answer {
        let (_, callback) = self.through_provider(server).await;
        self.get(&callback).await
    }

    async fn session(&mut self, server: &TestServer) -> Answer {
        self.get(&format!("{}/console/session", server.url)).await
    }
}

async fn anonymous(server: &TestServer, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Identity provider `corp` (the fake's issuer and keys, example.com only) and single sign-on
/// through it, endpoints discovered.
async fn configure(api: &ApiClient, fake: &FakeProvider) -> Value {
    let (status, body) = api
        .post(
            "/identity-providers",
            json!({"name": "corp", "spec": {"host": "console.example.com",
                "identityProvider": {"issuer": fake.url, "jwksUri": format!("{}/jwks", fake.url)},
                "userIDClaim": "email", "allowedDomains": ["example.com"]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, setting) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "corp", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "admin_groups": ["platform-admins"],
                "display_name": "Corp SSO"}),
        )
        .await;
    assert_eq!(status, 200, "{setting}");
    setting
}

#[tokio::test]
async fn signs_a_person_in_with_the_providers_id_token() {
    let fake = FakeProvider::start().await;
    let server = server().await;
    let api = server.client();

    let (status, before) = api.get("/settings/console-sso").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["configured"], false);
    assert_eq!(
        before["callback_url"],
        format!("{}/console/oidc/callback", server.url)
    );
    assert_eq!(anonymous(&server, "/console/sso").await.1["enabled"], false);

    let setting = configure(&api, &fake).await;
    assert_eq!(setting["discovered"], true);
    assert_eq!(
        setting["authorization_endpoint"],
        format!("{}/authorize", fake.url)
    );
    assert_eq!(setting["token_endpoint"], format!("{}/token", fake.url));
    assert_eq!(setting["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(setting["client_secret_set"], true);
    let (_, read) = api.get("/settings/console-sso").await;
    assert_eq!(read, setting);
    for shown in [setting.to_string(), read.to_string()] {
        assert!(
            !shown.contains(CLIENT_SECRET) && !shown.contains("epoch"),
            "{shown}"
        );
    }

    let (status, button) = anonymous(&server, "/console/sso?workspace=default").await;
    assert_eq!(status, 200);
    assert_eq!(
        button,
        json!({"workspace": "default", "enabled": true, "label": "Corp SSO",
            "start_url": "/console/oidc/start?workspace=default"})
    );

    let mut browser = Browser::new();
    let (start, callback) = browser.through_provider(&server).await;
    // To the provider with PKCE and a nonce; the binding cookie is Lax and scoped to the flow.
    let authorize = url::Url::parse(&start.location).unwrap();
    let query: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!query["nonce"].is_empty() && !query["state"].is_empty());
    assert!(!start.location.contains(CLIENT_SECRET));
    let binding = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("ra_oidc="))
        .unwrap();
    assert!(
        binding.contains("HttpOnly")
            && binding.contains("SameSite=Lax")
            && binding.contains("Path=/console/oidc"),
        "{binding}"
    );

    let signed_in = browser.get(&callback).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    assert_eq!(signed_in.location, "/#/");
    assert!(signed_in.sets("ra_session"));
    let session_cookie = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("ra_session="))
        .unwrap();
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Strict"));
    assert!(
        !browser.cookies.contains_key("ra_oidc"),
        "the binding is cleared"
    );
    assert_eq!(fake.client_auth(), ["post"]);

    let who = browser.session(&server).await;
    assert_eq!(who.status, 200, "{}", who.text);
    let who = who.json();
    assert_eq!(who["workspace"], "default");
    assert_eq!(who["role"], "admin");
    assert_eq!(who["key_id"], "");
    assert_eq!(who["key_name"], "alice@example.com");
    assert_eq!(who["subject"], "alice@example.com");
    assert_eq!(who["groups"], json!(["ops", "platform-admins"]));
    assert_eq!(
        who["person"],
        json!({"subject": "alice@example.com", "name": "Alice Example",
            "email": "alice@example.com", "groups": ["ops", "platform-admins"]})
    );
    let csrf = who["csrf_token"].as_str().unwrap().to_owned();

    // The session works the API like a key's: reads, and mutations with the CSRF token.
    let tools = browser.get(&server.api("/tools")).await;
    assert_eq!(tools.status, 200, "{}", tools.text);
    let policy = json!({"name": "by-alice", "spec": {"policies": [{"permission": "deny"}]}});
    let refused = browser
        .request("POST", &server.api("/policies"), None, Some(policy.clone()))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let created = browser
        .request("POST", &server.api("/policies"), Some(&csrf), Some(policy))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let refreshed = browser
        .request(
            "POST",
            &format!("{}/console/session/refresh", server.url),
            Some(&csrf),
            None,
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(refreshed.json()["person"]["name"], "Alice Example");
    // Another workspace is not hers.
    let other = browser.get(&server.api("/workspaces/other/tools")).await;
    assert_eq!(other.status, 404);

    // Neither the client secret nor any ID token is shown or logged.
    let output = server.output();
    let issued = fake.issued();
    assert_eq!(issued.len(), 1);
    for secret in [CLIENT_SECRET, issued[0].as_str()] {
        assert!(!output.contains(secret), "logged: {secret}");
        assert!(!who.to_string().contains(secret));
        assert!(!signed_in.text.contains(secret));
    }

    // Signing out clears the cookie.
    let out = browser
        .request(
            "DELETE",
            &format!("{}/console/session", server.url),
            Some(&csrf),
            None,
        )
        .await;
    assert_eq!(out.status, 200);
    assert_eq!(browser.session(&server).await.status, 401);
}

#[tokio::test]
async fn a_person_outside_the_admin_groups_is_a_member() {
    let fake = FakeProvider::start().await;
    let server = server().await;
    let api = server.client();
    configure(&api, &fake).await;
    fake.person(bob());
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server).await.status, 303);
    let who = browser.session(&server).await.json();
    assert_eq!(
        (who["role"].as_str(), who["subject"].as_str()),
        (Some("member"), Some("bob@example.com"))
    );
    let csrf = who["csrf_token"].as_str().unwrap().to_owned();
    // Only admins change single sign-on.
    let change = browser
        .request(
            "PUT",
            &server.api("/settings/console-sso"),
            Some(&csrf),
            Some(json!({"identity_provider": "corp", "client_id": "x"})),
        )
        .await;
    assert_eq!(change.status, 403, "{}", change.text);
    // Adding his group to admin_groups makes him an admin at once, still signed in.
    let (status, _) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "corp", "client_id": CLIENT_ID, "admin_groups": ["ops"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(browser.session(&server).await.json()["role"], "admin");
    // The secret was kept: another sign-in still authenticates at the token endpoint.
    let mut again = Browser::new();
    assert_eq!(again.sign_in(&server).await.status, 303);
    // A person of another email domain is not let in (the provider's allowedDomains).
    fake.person(json!({"sub": "x", "email": "eve@evil.com", "groups": ["ops"]}));
    let mut eve = Browser::new();
    let refused = eve.sign_in(&server).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert!(
        refused.text.contains("domain not allowed"),
        "{}",
        refused.text
    );
    assert!(!refused.sets("ra_session"));
}

#[tokio::test]
async fn refuses_bad_id_tokens_and_bad_callbacks_with_nothing_created() {
    let fake = FakeProvider::start().await;
    let server = server().await;
    configure(&server.client(), &fake).await;

    for (issue, reason) in [
        (Issue::WrongAudience, "wrong audience"),
        (Issue::Expired, "expired"),
        (Issue::BadNonce, "bad nonce"),
    ] {
        fake.issue(issue);
        let mut browser = Browser::new();
        let answer = browser.sign_in(&server).await;
        assert_eq!(answer.status, 401, "{reason}: {}", answer.text);
        assert!(answer.text.contains(reason), "{reason}: {}", answer.text);
        assert!(answer.text.contains("Sign-in failed") && answer.text.contains("href=\"/\""));
        assert!(!answer.sets("ra_session"), "{reason}");
        assert_eq!(browser.session(&server).await.status, 401);
    }
    fake.issue(Issue::Good);

    // A tampered state.
    let mut browser = Browser::new();
    let (_, callback) = browser.through_provider(&server).await;
    let mut url = url::Url::parse(&callback).unwrap();
    let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
    let state = &query["state"];
    let (payload, signature) = state.split_once('.').unwrap();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["ws"] = json!("other");
    let forged = format!("{}.{signature}", b64(claims.to_string().as_bytes()));
    url.query_pairs_mut()
        .clear()
        .append_pair("code", &query["code"])
        .append_pair("state", &forged);
    let answer = browser.get(url.as_str()).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.text.contains("altered"), "{}", answer.text);
    assert!(!answer.sets("ra_session"));

    // A callback in a browser that did not start the sign-in (login CSRF), or without its
    // binding cookie.
    let mut victim = Browser::new();
    let mut attacker = Browser::new();
    let (_, attackers_callback) = attacker.through_provider(&server).await;
    victim.through_provider(&server).await;
    let answer = victim.get(&attackers_callback).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.text.contains("another browser"), "{}", answer.text);
    assert!(!answer.sets("ra_session"));
    let answer = Browser::new().get(&attackers_callback).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    // The provider saying no, and a code it does not know.
    let answer = Browser::new()
        .get(&format!(
            "{}/console/oidc/callback?error=access_denied&error_description=no",
            server.url
        ))
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.text.contains("access_denied: no"), "{}", answer.text);
    let mut browser = Browser::new();
    let (_, callback) = browser.through_provider(&server).await;
    let replaced = callback.replace("code=code-", "code=forged-");
    let answer = browser.get(&replaced).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert!(answer.text.contains("invalid_grant"), "{}", answer.text);
    assert!(!answer.sets("ra_session"));
    // A workspace without single sign-on has no button and no start.
    let (_, button) = anonymous(&server, "/console/sso?workspace=elsewhere").await;
    assert_eq!(button["enabled"], false);
    let start = Browser::new()
        .get(&format!(
            "{}/console/oidc/start?workspace=elsewhere",
            server.url
        ))
        .await;
    assert_eq!(start.status, 404);
}

#[tokio::test]
async fn turning_single_sign_on_off_signs_its_people_out_for_good() {
    let fake = FakeProvider::start().await;
    let server = server().await;
    let api = server.client();
    configure(&api, &fake).await;
    let mut alice = Browser::new();
    assert_eq!(alice.sign_in(&server).await.status, 303);
    assert_eq!(alice.session(&server).await.status, 200);
    let alices_cookie = alice.cookies["ra_session"].clone();

    // Off: the session ends (its cookie cleared), the button goes, a sign-in cannot start.
    let (status, off) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "corp", "client_id": CLIENT_ID, "enabled": false}),
        )
        .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["client_secret_set"], true);
    let ended = alice.session(&server).await;
    assert_eq!(ended.status, 401);
    assert!(ended.text.contains("turned off"), "{}", ended.text);
    assert!(
        ended
            .set_cookies
            .iter()
            .any(|c| c.starts_with("ra_session=;"))
    );
    assert_eq!(anonymous(&server, "/console/sso").await.1["enabled"], false);
    let start = Browser::new()
        .get(&format!(
            "{}/console/oidc/start?workspace=default",
            server.url
        ))
        .await;
    assert_eq!(start.status, 404, "{}", start.text);
    assert!(!start.sets("ra_oidc"));

    // On again: the earlier session stays ended; a new sign-in works.
    let (status, on) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "corp", "client_id": CLIENT_ID,
                "admin_groups": ["platform-admins"]}),
        )
        .await;
    assert_eq!(status, 200, "{on}");
    let mut stale = Browser::new();
    stale.cookies.insert("ra_session".into(), alices_cookie);
    let refused = stale.session(&server).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert!(refused.text.contains("sign in again"), "{}", refused.text);
    let mut again = Browser::new();
    assert_eq!(again.sign_in(&server).await.status, 303);
    assert_eq!(again.session(&server).await.status, 200);

    // Removing the setting ends sessions too; a provider in use cannot be deleted before.
    let mut bob = Browser::new();
    assert_eq!(bob.sign_in(&server).await.status, 303);
    let (status, body) = api.delete("/identity-providers/corp").await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = api.delete("/settings/console-sso").await;
    assert_eq!(status, 200);
    assert_eq!(bob.session(&server).await.status, 401);
    let (status, _) = api.delete("/settings/console-sso").await;
    assert_eq!(status, 404);
    let (status, body) = api.delete("/identity-providers/corp").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn explicit_endpoints_basic_client_auth_and_setting_errors() {
    let fake = FakeProvider::start().await;
    let server = server().await;
    let api = server.client();
    configure(&api, &fake).await;
    // Explicit endpoints, HTTP Basic at the token endpoint, the secret kept from before.
    let (status, setting) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "corp", "client_id": CLIENT_ID,
                "authorization_endpoint": format!("{}/authorize", fake.url),
                "token_endpoint": format!("{}/token", fake.url),
                "token_endpoint_auth_method": "client_secret_basic",
                "scopes": ["openid", "email", "groups"]}),
        )
        .await;
    assert_eq!(status, 200, "{setting}");
    assert_eq!(setting["discovered"], false);
    assert_eq!(setting["token_endpoint_auth_method"], "client_secret_basic");
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server).await.status, 303);
    assert_eq!(fake.client_auth(), ["basic"]);
    assert_eq!(
        browser.session(&server).await.json()["role"],
        "member",
        "no admin groups now"
    );

    // An identity provider that does not exist, or whose issuer publishes no discovery.
    let (status, body) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "nope", "client_id": "c"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("does not exist"),
        "{body}"
    );
    api.post(
        "/identity-providers",
        json!({"name": "silent", "spec": {"host": "console.example.com",
            "identityProvider": {"issuer": format!("{}/silent", fake.url), "jwksUri": format!("{}/jwks", fake.url)}}}),
    )
    .await;
    let (status, body) = api
        .put(
            "/settings/console-sso",
            json!({"identity_provider": "silent", "client_id": "c"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("could not discover"),
        "{body}"
    );
    let (status, body) = api
        .put("/settings/console-sso", json!({"client_id": "c"}))
        .await;
    assert_eq!(status, 400, "{body}");
    // A member key may read the setting but not change it.
    let (status, member) = api.post("/auth/api-keys", json!({"name": "member"})).await;
    assert_eq!(status, 201, "{member}");
    let member = api.with_key(member["token"].as_str().unwrap());
    assert_eq!(member.get("/settings/console-sso").await.0, 200);
    let (status, _) = member.delete("/settings/console-sso").await;
    assert_eq!(status, 403);
    // Nothing of this without a credential.
    let (status, _) = api.with_key("").get("/settings/console-sso").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_persons_groups_from_the_provider_are_their_approver_groups() {
    let fake = FakeProvider::start().await;
    let s = crate::egress::setup().await;
    configure(&s.server.client(), &fake).await;
    crate::approvals::finance_rule(&s, "any").await;
    let (status, blocked) = crate::egress::call(
        "POST",
        &format!("{}/v1/charges", s.tool_url),
        Some(&s.run_id),
        Some(json!({"amount": 5})),
    )
    .await;
    assert_eq!(status, 403, "{blocked}");
    let request_id = blocked["request_id"].as_str().unwrap().to_owned();
    let decide = |verb: &str| {
        s.server
            .api(&format!("/approvals/requests/{request_id}/{verb}"))
    };

    // Bob's groups (ops) are not the rule's: refused, by name.
    fake.person(bob());
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&s.server).await.status, 303);
    let csrf = browser.session(&s.server).await.json()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = browser
        .request(
            "POST",
            &decide("approve"),
            Some(&csrf),
            Some(json!({"scope": "once"})),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused.text.contains("bob@example.com is in none of them"),
        "{}",
        refused.text
    );

    // Fiona's provider says she is in finance: she decides, recorded as herself, from the console.
    fake.person(
        json!({"sub": "00u-fiona", "email": "fiona@example.com", "name": "Fiona",
        "groups": ["finance"]}),
    );
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&s.server).await.status, 303);
    let who = browser.session(&s.server).await.json();
    assert_eq!(
        (who["role"].as_str(), &who["groups"]),
        (Some("member"), &json!(["finance"]))
    );
    let csrf = who["csrf_token"].as_str().unwrap().to_owned();
    let approved = browser
        .request(
            "POST",
            &decide("approve"),
            Some(&csrf),
            Some(json!({"scope": "once", "reason": "budgeted"})),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let approved = approved.json();
    assert_eq!(
        (
            approved["status"].as_str(),
            approved["approver_id"].as_str(),
            approved["channel"].as_str()
        ),
        (Some("APPROVED"), Some("fiona@example.com"), Some("console"))
    );
}
