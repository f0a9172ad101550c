//! The console over HTTP: its files and headers, sign-in with an API key into a session cookie,
//! CSRF on cookie mutations, and sign-out by revoking or rotating the key.

use reqwest::header::HeaderMap;
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use crate::server;

/// A browser-like client that speaks to the console: cookie in, CSRF token by hand.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    pub(crate) fn new(server: &TestServer) -> Self {
        Browser {
            http: reqwest::Client::new(),
            base: server.url.clone(),
            cookie: None,
        }
    }

    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> (u16, HeaderMap, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("ra_session={cookie}"));
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (_, value) = pair.split_once('=').unwrap();
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    pub(crate) async fn sign_in(&mut self, key: &str) -> (u16, HeaderMap, Value) {
        self.send(
            "POST",
            "/console/session",
            Some(json!({"api_key": key})),
            None,
        )
        .await
    }
}

#[tokio::test]
async fn serves_the_console_with_strict_headers() {
    let server = server().await;
    let http = reqwest::Client::new();
    let index = http.get(&server.url).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let headers = index.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    let html = index.text().await.unwrap();
    assert!(html.contains("/console/app.js"), "{html}");

    for (path, kind) in [
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/pages/runs.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let response = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], kind, "{path}");
        // Unchanged files are revalidated, not downloaded again.
        let etag = response.headers()["etag"].clone();
        let again = http
            .get(format!("{}{path}", server.url))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    let missing = http
        .get(format!("{}/console/nope.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // The API and health are where they were.
    assert_eq!(server.client().get("/healthz").await.0, 200);
    assert_eq!(server.client().get("/api/v1/tools").await.0, 200);
    let (status, _) = server.client().with_key("").get("/tools").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_session_cookie_stands_in_for_the_key_with_csrf_on_mutations() {
    let server = server().await;
    let mut browser = Browser::new(&server);
    let (status, _, body) = browser.send("GET", "/console/session", None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("not signed in"))
    );
    let (status, _, _) = browser.sign_in("ra_ws_not-a-key").await;
    assert_eq!(status, 401);
    assert!(browser.cookie.is_none());

    let (status, headers, session) = browser.sign_in(&server.admin_key).await;
    assert_eq!(status, 200, "{session}");
    let set_cookie = headers["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with("ra_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"));
    assert!(
        !set_cookie.contains(&server.admin_key),
        "the key is never in the cookie"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        (
            session["workspace"].as_str(),
            session["key_name"].as_str(),
            session["role"].as_str()
        ),
        (Some("default"), Some("bootstrap-admin"), Some("admin"))
    );
    assert!(session["expires_at"].is_string());
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    assert!(!csrf.is_empty() && !session.to_string().contains(&server.admin_key));

    let (status, _, again) = browser.send("GET", "/console/session", None, None).await;
    assert_eq!(
        (status, again["csrf_token"].as_str()),
        (200, Some(csrf.as_str()))
    );
    // Reads with the cookie alone, under both path forms.
    let (status, _, _) = browser.send("GET", "/api/v1/tools", None, None).await;
    assert_eq!(status, 200);
    let (status, _, _) = browser
        .send("GET", "/api/v1/workspaces/default/tools", None, None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = browser
        .send("GET", "/api/v1/workspaces/other/tools", None, None)
        .await;
    assert_eq!(status, 404);
    // Mutations need the CSRF token.
    let policy =
        json!({"name": "p1", "spec": {"policies": [{"permission": "allow", "resource": "*"}]}});
    for bad in [None, Some(""), Some("forged")] {
        let (status, _, body) = browser
            .send("POST", "/api/v1/policies", Some(policy.clone()), bad)
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("missing or invalid CSRF token")),
            "{bad:?}"
        );
    }
    let (status, _, body) = browser
        .send(
            "POST",
            "/api/v1/policies",
            Some(policy.clone()),
            Some(&csrf),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Another session's CSRF token does not fit this one.
    let mut other = Browser::new(&server);
    let (_, _, other_session) = other.sign_in(&server.admin_key).await;
    let other_csrf = other_session["csrf_token"].as_str().unwrap();
    assert_ne!(other_csrf, csrf);
    let (status, _, _) = browser
        .send("DELETE", "/api/v1/policies/p1", None, Some(other_csrf))
        .await;
    assert_eq!(status, 403);
    // API-key requests are unchanged: no CSRF token needed.
    let (status, _) = server
        .client()
        .post(
            "/policies",
            json!({"name": "p2", "spec": {"policies": [{"permission": "allow", "resource": "*"}]}}),
        )
        .await;
    assert_eq!(status, 201);
    // A tampered cookie is no session.
    let mut forged = Browser::new(&server);
    let token = browser.cookie.clone().unwrap();
    forged.cookie = Some(format!("{}x", &token[..token.len() - 1]));
    let (status, headers, _) = forged.send("GET", "/api/v1/tools", None, None).await;
    assert_eq!(status, 401);
    assert!(headers.get("set-cookie").is_none());
    let (status, headers, _) = forged.send("GET", "/console/session", None, None).await;
    assert_eq!(status, 401);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // Sign-out needs the token while the session is live, then clears the cookie.
    let (status, _, _) = browser.send("DELETE", "/console/session", None, None).await;
    assert_eq!(status, 403);
    assert!(browser.cookie.is_some());
    let (status, headers, _) = browser
        .send("DELETE", "/console/session", None, Some(&csrf))
        .await;
    assert_eq!(status, 200);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(browser.cookie.is_none());
    let (status, _, _) = browser.send("GET", "/api/v1/tools", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn sign_in_takes_only_json_and_marks_https_cookies_secure() {
    let server = server().await;
    let http = reqwest::Client::new();
    let form = http
        .post(format!("{}/console/session", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{{\"api_key\": \"{}\"}}", server.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);
    assert!(form.headers().get("set-cookie").is_none());
    let https = http
        .post(format!("{}/console/session", server.url))
        .header("x-forwarded-proto", "https")
        .json(&json!({"api_key": server.admin_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(https.status(), 200);
    assert!(
        https.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
}

#[tokio::test]
async fn revoking_or_rotating_the_key_ends_its_sessions() {
    let server = server().await;
    let api = server.client();
    let mut keys = Vec::new();
    for name in ["console-a", "console-b"] {
        let (_, created) = api.post("/auth/api-keys", json!({"name": name})).await;
        keys.push((
            created["key"]["id"].as_str().unwrap().to_owned(),
            created["token"].as_str().unwrap().to_owned(),
        ));
    }
    let mut revoked = Browser::new(&server);
    let (status, _, session) = revoked.sign_in(&keys[0].1).await;
    assert_eq!((status, session["role"].as_str()), (200, Some("member")));
    let mut rotated = Browser::new(&server);
    assert_eq!(rotated.sign_in(&keys[1].1).await.0, 200);
    for browser in [&mut revoked, &mut rotated] {
        assert_eq!(
            browser.send("GET", "/api/v1/tools", None, None).await.0,
            200
        );
    }

    assert_eq!(
        api.delete(&format!("/auth/api-keys/{}", keys[0].0)).await.0,
        200
    );
    let (status, _, body) = revoked.send("GET", "/api/v1/tools", None, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = revoked.send("GET", "/console/session", None, None).await;
    assert_eq!(status, 401);
    assert!(revoked.cookie.is_none(), "the dead cookie is cleared");
    assert_eq!(revoked.sign_in(&keys[0].1).await.0, 401);

    let (status, _) = api
        .post(&format!("/auth/api-keys/{}/rotate", keys[1].0), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = rotated.send("GET", "/api/v1/tools", None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            401,
            Some("the API key of this session was rotated; sign in again")
        )
    );
}

#[tokio::test]
async fn dev_mode_needs_no_sign_in() {
    let server = TestServer::start_with(Backend::Sqlite, &["--dev"]).await;
    let mut browser = Browser::new(&server);
    let (status, _, session) = browser.send("GET", "/console/session", None, None).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(
        (session["workspace"].as_str(), session["key_name"].as_str()),
        (Some("default"), Some("dev"))
    );
}

/// Seconds from now until an RFC 3339 time.
fn seconds_until(at: &Value) -> i64 {
    let at = runagents_domain::Timestamp::parse_rfc3339(at.as_str().unwrap()).unwrap();
    (at.millis() - runagents_domain::Timestamp::now().millis()) / 1000
}

#[tokio::test]
async fn sessions_end_when_idle_as_settings_say_and_activity_refreshes_them() {
    let server = server().await;
    let (_, settings) = server.client().get("/settings/auth").await;
    let idle_minutes = settings["sessionIdleTimeoutMinutes"].as_i64().unwrap();
    let lifetime_minutes = settings["sessionLifetimeMinutes"].as_i64().unwrap();
    assert!(idle_minutes < lifetime_minutes, "{settings}");

    let mut browser = Browser::new(&server);
    let (_, _, session) = browser.sign_in(&server.admin_key).await;
    assert_eq!(session["idle_timeout_minutes"].as_i64(), Some(idle_minutes));
    // The idle expiry the session has is the one advertised, and the lifetime is a ceiling.
    let idle_left = seconds_until(&session["idle_expires_at"]);
    assert!(
        (idle_minutes * 60 - 5..=idle_minutes * 60).contains(&idle_left),
        "{session}"
    );
    let life_left = seconds_until(&session["expires_at"]);
    assert!(
        (lifetime_minutes * 60 - 5..=lifetime_minutes * 60).contains(&life_left),
        "{session}"
    );
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let first_cookie = browser.cookie.clone().unwrap();

    // Refreshing is a mutation: it needs the CSRF token.
    let (status, _, _) = browser
        .send("POST", "/console/session/refresh", None, None)
        .await;
    assert_eq!(status, 403);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, headers, refreshed) = browser
        .send("POST", "/console/session/refresh", None, Some(&csrf))
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let set_cookie = headers["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age="] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let second_cookie = browser.cookie.clone().unwrap();
    assert_ne!(second_cookie, first_cookie, "a new token");
    assert!(
        refreshed["idle_expires_at"].as_str() > session["idle_expires_at"].as_str(),
        "{refreshed} after {session}"
    );
    assert_eq!(
        refreshed["expires_at"], session["expires_at"],
        "the lifetime does not move"
    );
    assert_eq!(
        refreshed["csrf_token"].as_str(),
        Some(csrf.as_str()),
        "the page keeps its CSRF token"
    );
    // The re-issued cookie works, for reads and for mutations with the same CSRF token.
    let (status, _, body) = browser
        .send(
            "POST",
            "/api/v1/policies",
            Some(json!({"name": "p1", "spec": {"policies": [{"permission": "allow", "resource": "*"}]}})),
            Some(&csrf),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, _, again) = browser.send("GET", "/console/session", None, None).await;
    assert_eq!(again["idle_expires_at"], refreshed["idle_expires_at"]);

    // No session, no refresh; a dead one is cleared.
    let mut stranger = Browser::new(&server);
    let (status, _, _) = stranger
        .send("POST", "/console/session/refresh", None, Some(&csrf))
        .await;
    assert_eq!(status, 401);
    let (_, created) = server
        .client()
        .post("/auth/api-keys", json!({"name": "short"}))
        .await;
    let mut doomed = Browser::new(&server);
    let (_, _, doomed_session) = doomed.sign_in(created["token"].as_str().unwrap()).await;
    let id = created["key"]["id"].as_str().unwrap();
    assert_eq!(
        server
            .client()
            .delete(&format!("/auth/api-keys/{id}"))
            .await
            .0,
        200
    );
    let (status, headers, _) = doomed
        .send(
            "POST",
            "/console/session/refresh",
            None,
            doomed_session["csrf_token"].as_str(),
        )
        .await;
    assert_eq!(status, 401);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}
