//! End-user identity at ingress: an agent with an identity provider takes only end-user JWTs
//! from it. A local JWKS server (axum) publishes RSA and EC keys and rotates them; tokens are
//! signed here with ring. Valid RS256 and ES256 tokens run the Tier-1 hello world as the token's
//! user (the echo tool sees it); every bad token gets 401 with its reason and creates no run;
//! unknown `kid`s refresh the key set at most once per interval; open-mode agents are unchanged.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use runagents_testkit::server::ApiClient;
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

/// Test fixtures, not secrets: two 2048-bit RSA private keys (PKCS#8 DER, base64) generated for
/// these tests only with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 |
/// openssl pkcs8 -topk8 -nocrypt -outform DER | base64` (ring cannot generate RSA keys).
const TEST_RSA_1: &str = "
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC807vsRGs0bqIt+hfjxtU7/CB8
0jrmqL63JLHCtMd1f5zz8AF681n+PKp4J71uhVmVwThM4smZAJFkbmb0ONJ70ngvbrTYrbQCQK/K
TARCqagzOLBEcL2WYdqXbO3GxmOkMB3H1+eERdTHh9+ormjKp/XMrHPLcvyDZ+AWq2OwXeljyHTr
Gm6+nEyp6z/NTNTkojX35Opx+0YpRMFfkSJKYhFySyIjZ1L0nus0FWblnDPfQk4wgbcryX0a6ASF
Yei88BLB7zyW6mLPpUHk8kkFKMS3meBg8ImIF1X5VC6Ntvglr4w2dqpbIfrgCJQunrWlD+3D6MXn
yJApXBmNtk8nAgMBAAECggEAAYVeMyQ4m/QQn+pnrqKQXyOninK81n92k5UTwCS/FFQ10VNreIWB
gfRplje8nhssNBzvGNPkKAnmWswvho6FR/R+KHLDDtJqCDhkDottGHheClx4bFZ7sjyDUpIJtvCB
fEtqCRtG4VkY3uPogy4Y6G80Wt9cvE2RXK/T2CWRfeK628n5t6lbQ7ERzjx+5Y50LYdjangiGeYR
yy6HFEViw0BdvbDUyT2kU8OE64/WlprmEmRUouCVlS5Sd8G/c5DzuMcNMi8FcYj6ai7ksaK/zq6G
cfsWvWx7q4/8IlCSi/AQwEgLtEUEXffJRed+KNkTSlbDaJFfTqL68aqObp6acQKBgQD7w8VL9Txm
BFLjIoezezebtqRIOl7BMk6Tw4k4vepS8ncMGoUfRy+UqllJzbUpHpjRUjqNwnmq1D1OuIURQFL6
Vn6Tw1gYVfF7TgBlbKC8iEspWgDqOlunoe8NMa8iF9cxp9Sbu8X/KbbaUr5Ew+JrTEQBAPxPFN0f
c2zC10Wh+QKBgQDAAOvaMoERN8fnoRtVcSpQFqe99f862mYY3plMipRdjlTnyYNlRTDJTRgyyrda
ERUNwldgr5u8K2jJ2n7sKp8XX/q/+Lgw+EtskvPp9CSqIVFy0MG5m0roqpFldlC8CNcyd6Y/lryl
OCIo8jg6c+O4SJsDcoc5Vq/VRFJUJhHCHwKBgQCo7NmDtr9Y4AvRdQjCR6mvJCQkhm2viZaplKiM
1vjTwPZZu62YqAXn5UjVuV2Vgn8c6+R324YRNikQmcRHJ/bFG6YAdTC122yUxGiFpRZQic6Mp2Q3
xQJcfs3L94s//+kW2zpPZ/VY2N9kq+IYd6qDPf/fAI9KbIBVqvfN3+1L2QKBgCMQCAIQtwEt7pOe
GB/CSrfVa0yFX9afi4V/IP+ZTv7GvzqU0insOLyKF6Eu48zO0clxdAN0DjyOsNQr0oHORr8+B8yG
3xwSO7PYIjLXItruurD87mO2uDdE7shYkuXDt4i/0NxL6qdBWPuhQCNshmlg2O4IPCl8ax/HGkHD
sfqBAoGBANcUMvm3O+6DKBSDin4pOAcriZQfktkk/2Pwgq/vn9ZO7EPOYIP5UVT89DGLAulpYdWk
dClrdhdW6nzvaUMcb2c6676/h2aw2A45vTYHIareeEP9GHaXTH34XvEoTmdaOBwzIW07qhV5p0eu
gVakD10EydgmVh3uE28l185K5yac
";
const TEST_RSA_2: &str = "
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCH6YWrSSNQrmX62BBBrjJl0G2w
eR/oy+Vav6uKhTHaXzvDyk4d1aO29BLLuldV4sJwk+FTHFkmB1i86t95f59lMF9wMGmXpIrMf5Wp
MW9XrQYBOZFMS8S7FBypqQKXpaBncybz1oAmTRL7Fr9+KYK2+Ybr2cvf/tql/B2woG+vnuwTSCji
mQt6dq68kg0b2b052nk0DaU7f9k8hLqxRcIXsClozDnfVpsRCqpISCwigPYtf+Xt8Zhe3QtFZUqO
lhQkIaAD3QkgrPwjUbv2AYI/fmRSa5ulZFT9SvKpRp4NFcO9PSxX0XJOWf1OExa8tktE3JmAPOsS
eFoe0tvVCx0/AgMBAAECggEAAK3q66HbRuzr4U35/+rGlc6FC6mkbPab89bbKLPH1OCncVL239DZ
V1SjooD5oT0L+vNDAx7ueSXH+xc462I8+WoDKwZCMwtxAxTyi7PqyLLpHrpbQbX3baTgUc1U+Nlb
JAqxiknZ4SLE2xxcC1IsEiSHEv0BZagDDyVAs9S6MutMzvOtbcnqzpDBPqvG0IbdnzgbP3H0XQNW
G4vA5rNaXxx7NL1vQv5oaYZu/CF8FQDHEzrgLhPeXtkc/s+0/8h3l0J6ZKXsN245xR98/uk5wT4g
l2peFXyp1+iaRYItxK4yVp98DkKFQ3pcq0JljnV31GQcqaKv9wIKUakQOWoMfQKBgQC6u5BAZXkb
Tw0ov5Ui6YSpgOcgF428+cFDxA3R4M6KbQaaY3gVtNFRoShOOyJtcTbQ2cK4vAgM2w5YenPfHrA+
HfXDTeFakWYBI2y3AGRHaMG1zQFahCVWySDhAjCsjiqTPUobC5u//aduHD0qOCHe2qPgx6fZ7EEM
1OhqpQbcHQKBgQC6U/bWiqLvnWLsNGJNmJAjiLZQMNZNTc7CGx4BkqNZZ230glLlkB7Ppv3GI00B
xAw+HWUMVsfXLtF8HR9jzsz/sMvD0YybWdPpyJmD9Gk9UIYuFEbybCTpOb9vqThlQyD0HOnDdS1L
lu5VPHDMIQfavymVSnE4CMPaCzTgtJ3ICwKBgATqPPDE+vwSB5mj+Uvy84/2mZ7Jn+xycnjTJz33
+dfA6OSVa6q+mKfaYxI0EkLpMPUsVijAokGcXnNLvdMInsDzzu02FpFotFOhWBI1C26pvjeHztpQ
Eh+HqbricN+J2msHuPSfSJk0Fv0Z9y4uTg3smVWoS627vzaUQA3WjCitAoGBAIYXfwCO7Qt8PIC4
gjZNoQ2xiWLUgqVHZZCTa1i+awggQyU/1OCYg1P1XZSGOxkWOalKBjqHCXJ2oxOq8bgmT6mDVmEq
IQJ79uG8F566+jHCDY6D0TsNUNL3WCnHompdkQ2c8S5U2bAYgpSc1qBQ9RIbmJVz6V7mD+yPPBKq
aRJZAoGBAJgtHsYoKJX+uqvQXk6gVokvlezsnwOs0hhgV1FBRQeaRJ1WU5RO+3eTIdjNeR1Yqxac
KARWcpI4s0iXVz++3ETVcmplqdTh2j4gJ/Ri39taV7FNM8KOvMuMHsQ9ilz8Rw7VWuquuCy9m1IM
GFOcWVszJ1ro+1UsLbSvyvKwPRcc
";

const ISSUER: &str = "https://login.example.com/";
const AUDIENCE: &str = "runagents-test";
/// Seconds between fetches of one provider's key set, as the server under test is told.
const REFRESH_SECS: u64 = 3;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rsa(pkcs8: &str) -> RsaKeyPair {
    let der: String = pkcs8.split_whitespace().collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(der).unwrap()).unwrap()
}

fn ec() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

/// The signing keys of the fake identity provider.
struct Keys {
    rsa1: RsaKeyPair,
    rsa2: RsaKeyPair,
    ec: EcdsaKeyPair,
}

impl Keys {
    fn new() -> Self {
        Keys {
            rsa1: rsa(TEST_RSA_1),
            rsa2: rsa(TEST_RSA_2),
            ec: ec(),
        }
    }

    fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
               "n": b64(&public.n), "e": b64(&public.e)})
    }

    fn ec_jwk(&self) -> Value {
        let point = self.ec.public_key().as_ref();
        json!({"kty": "EC", "use": "sig", "crv": "P-256", "kid": "ec-1",
               "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    /// What the provider publishes first: `rsa-1` and `ec-1`.
    fn first_set(&self) -> Vec<Value> {
        vec![Self::rsa_jwk(&self.rsa1, "rsa-1"), self.ec_jwk()]
    }

    /// After rotation: `rsa-2` appears, `rsa-1` is gone.
    fn rotated_set(&self) -> Vec<Value> {
        vec![self.ec_jwk(), Self::rsa_jwk(&self.rsa2, "rsa-2")]
    }

    fn rs256(&self, kid: &str, claims: &Value) -> String {
        let key = if kid == "rsa-2" {
            &self.rsa2
        } else {
            &self.rsa1
        };
        let input = signing_input(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims);
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .unwrap();
        format!("{input}.{}", b64(&signature))
    }

    fn es256(&self, claims: &Value) -> String {
        let input = signing_input(
            &json!({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}),
            claims,
        );
        let signature = self
            .ec
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(signature.as_ref()))
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An ID token's claims for `email`, valid for five minutes.
fn claims(email: &str) -> Value {
    json!({"iss": ISSUER, "aud": [AUDIENCE, "another-client"], "sub": format!("sub-{email}"),
           "email": email, "email_verified": true, "iat": now(), "exp": now() + 300})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

/// The fake identity provider's JWKS endpoint: serves `keys` at `/jwks`, counts its requests,
/// and answers 503 while `failing`.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Jwks {
    async fn start(keys: Vec<Value>) -> Jwks {
        let keys = Arc::new(Mutex::new(keys));
        let hits = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get({
                let (keys, hits, failing) = (keys.clone(), hits.clone(), failing.clone());
                move || {
                    let (keys, hits, failing) = (keys.clone(), hits.clone(), failing.clone());
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        if failing.load(Ordering::SeqCst) {
                            return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                        }
                        let keys = keys.lock().unwrap().clone();
                        Ok(axum::Json(json!({ "keys": keys })))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Jwks {
            url,
            keys,
            hits,
            failing,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }
}

async fn server() -> TestServer {
    let refresh = REFRESH_SECS.to_string();
    TestServer::start_with(Backend::Sqlite, &["--jwks-min-refresh-secs", &refresh]).await
}

/// An identity provider `name` whose keys are at `jwks_uri`, only for example.com emails.
async fn provider(api: &ApiClient, name: &str, jwks_uri: &str) {
    let (status, body) = api
        .post(
            "/identity-providers",
            json!({"name": name, "spec": {"host": "agents.example.com",
                "identityProvider": {"issuer": ISSUER, "jwksUri": jwks_uri, "audiences": [AUDIENCE]},
                "userIDClaim": "email", "allowedDomains": ["example.com"]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The Tier-1 hello world (playground model, echo tool), authenticated by `identity_provider`
/// when it is not empty.
async fn deploy(api: &ApiClient, name: &str, identity_provider: &str) {
    let mut body = json!({"agent_name": name, "source_files": {}, "required_tools": ["echo-tool"],
        "llm_configs": [{"provider": "playground", "model": "playground"}],
        "policies": ["echo-tool-allow"]});
    if !identity_provider.is_empty() {
        body["identity_provider"] = json!(identity_provider);
    }
    let (status, deployed) = api.post("/deploy", body).await;
    assert_eq!(status, 201, "{deployed}");
}

/// A server with the starter kit, provider `corp` at `jwks`, and agents `secure` (authenticated
/// by `corp`) and `open` (no identity provider).
async fn platform(jwks: &Jwks) -> TestServer {
    let server = server().await;
    let api = server.client();
    let (status, seeded) = api.send("POST", "/starter-kit", None).await;
    assert_eq!(status, 201, "{seeded}");
    provider(&api, "corp", &jwks.url).await;
    deploy(&api, "secure", "corp").await;
    deploy(&api, "open", "").await;
    server
}

/// POSTs an invoke with no API key; `headers` are added as given.
async fn invoke(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.api(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn with_token(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    invoke(
        server,
        path,
        &[("authorization", &bearer)],
        json!({"message": "echo hi"}),
    )
    .await
}

async fn run_count(api: &ApiClient) -> usize {
    let (status, runs) = api.get("/runs").await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().unwrap().len()
}

/// The user the echo tool saw, from the playground's answer `The echo-tool__echo tool
/// returned: {...}`.
fn echoed_user(answer: &Value) -> String {
    let text = answer["response"].as_str().unwrap();
    let json = &text[text.find('{').unwrap()..];
    let echoed: Value = serde_json::from_str(json).unwrap();
    echoed["end_user_id"].as_str().unwrap().to_owned()
}

fn assert_refused(answer: &(u16, Value), reason: &str) {
    assert_eq!(answer.0, 401, "{}", answer.1);
    let error = answer.1["error"].as_str().unwrap_or_default();
    assert!(error.contains(reason), "expected {reason:?}, got {error:?}");
}

#[tokio::test]
async fn rs256_and_es256_tokens_invoke_as_the_tokens_user() {
    let keys = Keys::new();
    let jwks = Jwks::start(keys.first_set()).await;
    let server = platform(&jwks).await;
    let api = server.client();

    // RS256; what the request says about the user is ignored.
    let token = keys.rs256("rsa-1", &claims("alice@example.com"));
    let bearer = format!("Bearer {token}");
    let (status, answer) = invoke(
        &server,
        "/agents/secure/invoke",
        &[
            ("authorization", &bearer),
            ("x-end-user-id", "mallory@example.com"),
        ],
        json!({"message": "echo hi", "user_id": "mallory@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "COMPLETED");
    assert_eq!(echoed_user(&answer), "alice@example.com");
    let run_id = answer["run_id"].as_str().unwrap();
    let (_, run) = api.get(&format!("/runs/{run_id}")).await;
    assert_eq!(run["user_id"], "alice@example.com");
    // The token went no further than the ingress: not on the run, not in the agent's log.
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let (_, logs) = api.get("/agents/secure/logs?tail=50").await;
    let signature = token.rsplit('.').next().unwrap();
    for recorded in [run.to_string(), events.to_string(), logs.to_string()] {
        assert!(!recorded.contains(signature), "{recorded}");
    }

    // ES256, in the workspace form of the URL, streamed.
    let token = keys.es256(&claims("Bob@EXAMPLE.com"));
    let (status, text) = with_token(
        &server,
        "/workspaces/default/agents/secure/invoke/stream",
        &token,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let text = text.as_str().unwrap();
    assert!(
        text.contains(r#"\"end_user_id\":\"Bob@EXAMPLE.com\""#),
        "{text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // The namespaced form, and an operator key sent beside the token: the token decides.
    let token = keys.es256(&claims("carol@example.com"));
    let bearer = format!("Bearer {token}");
    let (status, answer) = invoke(
        &server,
        "/agents/default/secure/invoke",
        &[
            ("authorization", &bearer),
            ("x-runagents-api-key", &server.admin_key),
        ],
        json!({"message": "echo hi", "user_id": "admin"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(echoed_user(&answer), "carol@example.com");
    // A key that names the workspace, or one that is no key at all: still the token's user.
    for key in [server.admin_key.as_str(), "not-a-key"] {
        let (status, answer) = invoke(
            &server,
            "/agents/secure/invoke",
            &[("authorization", &bearer), ("x-runagents-api-key", key)],
            json!({"message": "echo hi"}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(echoed_user(&answer), "carol@example.com");
    }

    let (_, runs) = api.get("/runs?agent_id=secure").await;
    let mut users: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["user_id"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(
        users,
        [
            "Bob@EXAMPLE.com",
            "alice@example.com",
            "carol@example.com",
            "carol@example.com",
            "carol@example.com"
        ]
    );
    // One fetch of the key set served them all.
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_reason_and_create_no_run() {
    let keys = Keys::new();
    let jwks = Jwks::start(keys.first_set()).await;
    let server = platform(&jwks).await;
    let api = server.client();
    let path = "/agents/secure/invoke";
    let good = claims("alice@example.com");

    let expired = with(
        with(good.clone(), "exp", json!(now() - 120)),
        "iat",
        json!(now() - 600),
    );
    assert_refused(
        &with_token(&server, path, &keys.rs256("rsa-1", &expired)).await,
        "token has expired",
    );
    let early = with(good.clone(), "nbf", json!(now() + 600));
    assert_refused(
        &with_token(&server, path, &keys.es256(&early)).await,
        "not valid yet",
    );
    let audience = with(good.clone(), "aud", json!("someone-else"));
    assert_refused(
        &with_token(&server, path, &keys.rs256("rsa-1", &audience)).await,
        "wrong audience",
    );
    let issuer = with(good.clone(), "iss", json!("https://evil.example.com/"));
    assert_refused(
        &with_token(&server, path, &keys.es256(&issuer)).await,
        "wrong issuer",
    );
    let domain = with(good.clone(), "email", json!("mallory@evil.com"));
    assert_refused(
        &with_token(&server, path, &keys.rs256("rsa-1", &domain)).await,
        "domain not allowed",
    );

    // The payload changed after signing.
    let token = keys.rs256("rsa-1", &good);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64(with(good.clone(), "email", json!("admin@example.com"))
        .to_string()
        .as_bytes());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_refused(&with_token(&server, path, &tampered).await, "bad signature");

    // alg none, with and without a signature.
    let none = signing_input(&json!({"alg": "none", "kid": "rsa-1"}), &good);
    assert_refused(
        &with_token(&server, path, &format!("{none}.")).await,
        "algorithm not allowed",
    );
    assert_refused(
        &with_token(&server, path, &format!("{none}.{}", parts[2])).await,
        "algorithm not allowed",
    );
    // HS256 keyed with the RSA public key (its DER, and the JWK the JWKS publishes): the
    // key-confusion attack.
    let input = signing_input(&json!({"alg": "HS256", "kid": "rsa-1"}), &good);
    let published = Keys::rsa_jwk(&keys.rsa1, "rsa-1").to_string().into_bytes();
    for public in [keys.rsa1.public().as_ref().to_vec(), published] {
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public),
            input.as_bytes(),
        );
        let hs256 = format!("{input}.{}", b64(tag.as_ref()));
        assert_refused(
            &with_token(&server, path, &hs256).await,
            "algorithm not allowed",
        );
    }
    // RS256 claimed with the EC key's kid.
    let input = signing_input(&json!({"alg": "RS256", "kid": "ec-1"}), &good);
    let confused = format!("{input}.{}", parts[2]);
    assert_refused(
        &with_token(&server, path, &confused).await,
        "algorithm not allowed",
    );
    assert_refused(
        &with_token(&server, path, &keys.rs256("rsa-9", &good)).await,
        "unknown key",
    );
    assert_refused(
        &with_token(&server, path, "not-a-jwt").await,
        "malformed token",
    );

    // No token; an operator key alone, as its header or as the bearer; X-End-User-ID alone.
    let message = json!({"message": "echo hi", "user_id": "alice@example.com"});
    assert_refused(
        &invoke(&server, path, &[], message.clone()).await,
        "missing token",
    );
    let key = server.admin_key.clone();
    let bearer_key = format!("Bearer {key}");
    for headers in [
        vec![("x-runagents-api-key", key.as_str())],
        vec![("authorization", bearer_key.as_str())],
        vec![
            ("x-runagents-api-key", key.as_str()),
            ("x-end-user-id", "alice@example.com"),
        ],
    ] {
        assert_refused(
            &invoke(&server, path, &headers, message.clone()).await,
            "missing token",
        );
        let stream = invoke(
            &server,
            "/agents/secure/invoke/stream",
            &headers,
            message.clone(),
        )
        .await;
        assert_refused(&stream, "missing token");
    }
    assert_eq!(run_count(&api).await, 0, "a refused invoke creates nothing");

    // The same token, well-formed, goes through.
    let (status, answer) = with_token(&server, path, &keys.rs256("rsa-1", &good)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(run_count(&api).await, 1);
}

#[tokio::test]
async fn unknown_kids_refresh_the_key_set_at_most_once_per_interval() {
    let keys = Keys::new();
    let jwks = Jwks::start(keys.first_set()).await;
    let server = platform(&jwks).await;
    let api = server.client();
    let path = "/agents/secure/invoke";
    let user = claims("alice@example.com");
    let interval = Duration::from_millis(REFRESH_SECS * 1000 + 200);

    assert_eq!(
        with_token(&server, path, &keys.rs256("rsa-1", &user))
            .await
            .0,
        200
    );
    assert_eq!(jwks.hits(), 1);
    tokio::time::sleep(interval).await;

    // A kid the set lacks makes the server look again; it is not there yet.
    let next = keys.rs256("rsa-2", &user);
    assert_refused(&with_token(&server, path, &next).await, "unknown key");
    assert_eq!(jwks.hits(), 2);

    // Rotation: rsa-2 is published and rsa-1 removed. Within the interval nothing is fetched,
    // however many unknown kids arrive.
    jwks.publish(keys.rotated_set());
    assert_refused(&with_token(&server, path, &next).await, "unknown key");
    let flood: Vec<_> = (0..20)
        .map(|n| {
            let token = keys.rs256(&format!("made-up-{n}"), &user);
            let server = &server;
            async move { with_token(server, path, &token).await }
        })
        .collect();
    for answer in futures_util::future::join_all(flood).await {
        assert_refused(&answer, "unknown key");
    }
    assert_eq!(
        jwks.hits(),
        2,
        "a flood of unknown kids must not reach the provider"
    );

    // After the interval the new key is fetched and accepted; the removed one is refused.
    tokio::time::sleep(interval).await;
    let (status, answer) = with_token(&server, path, &next).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(echoed_user(&answer), "alice@example.com");
    assert_eq!(jwks.hits(), 3);
    assert_refused(
        &with_token(&server, path, &keys.rs256("rsa-1", &user)).await,
        "unknown key",
    );
    // The EC key stayed through the rotation.
    assert_eq!(with_token(&server, path, &keys.es256(&user)).await.0, 200);
    assert_eq!(jwks.hits(), 3);
    assert_eq!(run_count(&api).await, 3);
}

#[tokio::test]
async fn a_key_set_that_cannot_be_fetched_refuses_every_token() {
    let keys = Keys::new();
    let jwks = Jwks::start(keys.first_set()).await;
    jwks.failing.store(true, Ordering::SeqCst);
    let server = platform(&jwks).await;
    let api = server.client();
    // A provider nobody answers for.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    provider(&api, "gone", &nowhere).await;
    deploy(&api, "stranded", "gone").await;

    let token = keys.rs256("rsa-1", &claims("alice@example.com"));
    for path in ["/agents/secure/invoke", "/agents/stranded/invoke"] {
        assert_refused(
            &with_token(&server, path, &token).await,
            "could not be fetched",
        );
    }
    // A provider that is down is asked once per interval, not once per token.
    assert_refused(
        &with_token(&server, "/agents/secure/invoke", &token).await,
        "could not be fetched",
    );
    assert_eq!(jwks.hits(), 1);
    assert_eq!(run_count(&api).await, 0);

    // It comes back: the next fetch after the interval lets the token in.
    jwks.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(REFRESH_SECS * 1000 + 200)).await;
    let (status, answer) = with_token(&server, "/agents/secure/invoke", &token).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(jwks.hits(), 2);
}

#[tokio::test]
async fn open_mode_agents_keep_the_operator_key_and_the_requests_user() {
    let keys = Keys::new();
    let jwks = Jwks::start(keys.first_set()).await;
    let server = platform(&jwks).await;
    let api = server.client();
    let key = server.admin_key.clone();

    let (status, answer) = invoke(
        &server,
        "/agents/open/invoke",
        &[
            ("x-runagents-api-key", &key),
            ("x-end-user-id", "dave@elsewhere.org"),
        ],
        json!({"message": "echo hi"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(echoed_user(&answer), "dave@elsewhere.org");
    let bearer_key = format!("Bearer {key}");
    let (status, answer) = invoke(
        &server,
        "/workspaces/default/agents/open/invoke",
        &[("authorization", &bearer_key)],
        json!({"message": "echo hi", "user_id": "erin"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(echoed_user(&answer), "erin");

    // An end-user token is not an operator key.
    let token = keys.rs256("rsa-1", &claims("alice@example.com"));
    let refused = with_token(&server, "/agents/open/invoke", &token).await;
    assert_refused(&refused, "Missing or invalid API key");
    assert_refused(
        &invoke(
            &server,
            "/agents/open/invoke",
            &[],
            json!({"message": "hi"}),
        )
        .await,
        "Missing or invalid API key",
    );
    // Unknown agents and other workspaces answer as before.
    let (status, _) = invoke(
        &server,
        "/agents/nobody/invoke",
        &[("x-runagents-api-key", &key)],
        json!({"message": "hi"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = invoke(
        &server,
        "/agents/acme/open/invoke",
        &[("x-runagents-api-key", &key)],
        json!({"message": "hi"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_refused(
        &with_token(&server, "/agents/nobody/invoke", &token).await,
        "Missing or invalid API key",
    );
    assert_eq!(run_count(&api).await, 2);
    // The key set was never needed.
    assert_eq!(jwks.hits(), 0);
}

#[tokio::test]
async fn people_list_and_revoke_their_own_connections_with_their_token() {
    let keys = Keys::new();
    let jwks = Jwks::start(keys.first_set()).await;
    let server = server().await;
    let api = server.client();
    provider(&api, "corp", &jwks.url).await;
    let (oauth_provider, _fake) = crate::oauth::fake_provider().await;
    crate::oauth::setup(&api, &oauth_provider).await;
    for user in ["erin@example.com", "bob@example.com"] {
        let (tool_url, run_id) = crate::oauth::agent_plane(&api, user).await;
        crate::oauth::connect(&api, &tool_url, &run_id).await;
    }
    let token = keys.es256(&claims("erin@example.com"));
    let (status, mine) = mine_with(&server, &token).await;
    assert_eq!(status, 200, "{mine}");
    let users: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["erin@example.com"], "only their own");

    // No token, an API key, or a token of another issuer: 401.
    let anonymous = reqwest::get(server.api("/me/connections")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let keyed = reqwest::Client::new()
        .get(server.api("/me/connections"))
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 401);
    let foreign = keys.es256(&with(
        claims("erin@example.com"),
        "iss",
        json!("https://elsewhere.example/"),
    ));
    assert_eq!(mine_with(&server, &foreign).await.0, 401);

    let revoked = reqwest::Client::new()
        .delete(server.api("/me/connections/gmail"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(mine_with(&server, &token).await.1, json!([]));
    let (_, all) = api.get("/oauth/connections").await;
    assert_eq!(
        all[0]["user_id"], "bob@example.com",
        "other people's connections stay"
    );
}

async fn mine_with(server: &TestServer, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(server.api("/me/connections"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
