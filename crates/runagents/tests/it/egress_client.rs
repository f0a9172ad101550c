//! Egress's own upstream client: TLS to an upstream whose certificate chains to a private CA
//! given at start, keep-alive connections reused across calls, and connections the upstream
//! closes: an idle one is replaced without the call noticing, and a request the upstream
//! received but never answered is not sent again.
//!
//! Each agent plane thread keeps its own connections, so the servers that count connections
//! serve the agent plane on one thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runagents_testkit::{Backend, TestServer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::egress::call;
use crate::server;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures");

/// What the raw upstream does once it has read a request.
#[derive(Clone, Copy, PartialEq)]
enum After {
    /// Answers and keeps the connection for the next request.
    KeepAlive,
    /// Answers (announcing nothing about closing), then closes the connection a moment later,
    /// as an upstream does with idle keep-alive connections.
    AnswerThenClose,
    /// Answers the first request; closes the connection on the second without answering.
    HangupOnSecond,
}

/// A hand-written HTTP/1.1 upstream (over TLS when asked), counting its connections and noting
/// each request's head.
#[derive(Clone, Default)]
struct RawUpstream {
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{FIXTURES}/upstream-cert.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/upstream-key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Starts the upstream; its base URL (`https://127.0.0.1:…` with `tls`).
async fn raw_upstream(tls: bool, after: After) -> (String, RawUpstream) {
    let upstream = RawUpstream::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let acceptor = tls.then(tls_acceptor);
    let state = upstream.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (state, acceptor) = (state.clone(), acceptor.clone());
            tokio::spawn(async move {
                let stream: Box<dyn Io> = match acceptor {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(stream) => Box::new(stream),
                        // A client that does not trust the certificate hangs up.
                        Err(_) => return,
                    },
                    None => Box::new(tcp),
                };
                state.connections.fetch_add(1, Ordering::SeqCst);
                serve(stream, &state, after).await;
            });
        }
    });
    (url, upstream)
}

async fn serve(mut stream: Box<dyn Io>, state: &RawUpstream, after: After) {
    let mut buffer = Vec::new();
    for n in 0.. {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        buffer.drain(..head_end);
        state.requests.lock().unwrap().push(head);
        if after == After::HangupOnSecond && n == 1 {
            return;
        }
        let body = r#"{"ok":true}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
        if after == After::AnswerThenClose {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
    }
}

async fn one_thread() -> TestServer {
    TestServer::start_with(Backend::Sqlite, &["--agent-threads", "1"]).await
}

/// A tool at `base_url` (no credentials), reads allowed, an agent bound to it; its tool URL.
async fn agent_calling(server: &TestServer, base_url: &str) -> String {
    let api = server.client();
    let (status, body) = api
        .post(
            "/tools",
            json!({"name": "raw", "spec": {"connection": {"baseUrl": base_url},
            "capabilities": [{"name": "read", "method": "GET", "path": "/*"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/policies",
            json!({"name": "raw-reads", "spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": format!("{base_url}/*")}]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "reader", "source_files": {},
            "required_tools": ["raw"], "policies": ["raw-reads"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, credential) = api.send("POST", "/agents/reader/credentials", None).await;
    assert_eq!(status, 201, "{credential}");
    credential["tool_urls"]["TOOL_URL_RAW"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn tls_upstreams_are_verified_against_the_roots_and_a_private_ca_given_at_start() {
    let (base_url, upstream) = raw_upstream(true, After::KeepAlive).await;
    let ca = format!("{FIXTURES}/upstream-ca.pem");
    let trusting = TestServer::start_with(
        Backend::Sqlite,
        &["--upstream-ca-file", &ca, "--agent-threads", "1"],
    )
    .await;
    let tool_url = agent_calling(&trusting, &base_url).await;
    for n in 0..3 {
        let (status, body) = call("GET", &format!("{tool_url}/items/{n}"), None, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"ok": true}));
    }
    // One TLS connection, kept alive across the three calls.
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
    let requests = upstream.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[2].starts_with("GET /items/2 HTTP/1.1\r\n"),
        "{}",
        requests[2]
    );
    let host = base_url.trim_start_matches("https://");
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains(&format!("host: {host}\r\n")),
        "{}",
        requests[0]
    );

    // Without the CA, the same upstream's certificate is not trusted: nothing is sent.
    let (base_url, untrusted) = raw_upstream(true, After::KeepAlive).await;
    let default = server().await;
    let tool_url = agent_calling(&default, &base_url).await;
    let (status, body) = call("GET", &format!("{tool_url}/items/1"), None, None).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "UPSTREAM_FAILED");
    assert!(body["message"].as_str().unwrap().contains("TLS"), "{body}");
    assert!(untrusted.requests.lock().unwrap().is_empty());

    // A CA file that holds no certificate stops the start with a clear error.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(TestServer::binary())
        .args(TestServer::serve_args(data_dir.path()))
        .arg("--dev")
        .arg("--upstream-ca-file")
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no PEM certificate"), "{stderr}");
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_replaced_without_the_call_noticing() {
    let (base_url, upstream) = raw_upstream(false, After::AnswerThenClose).await;
    let server = one_thread().await;
    let tool_url = agent_calling(&server, &base_url).await;
    for n in 0..3 {
        let (status, body) = call("GET", &format!("{tool_url}/items/{n}"), None, None).await;
        assert_eq!(status, 200, "call {n}: {body}");
        // Long enough for the upstream to close the connection the call used.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(upstream.requests.lock().unwrap().len(), 3);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_the_upstream_received_but_never_answered_is_not_sent_again() {
    let (base_url, upstream) = raw_upstream(false, After::HangupOnSecond).await;
    let server = one_thread().await;
    let tool_url = agent_calling(&server, &base_url).await;
    let (status, body) = call("GET", &format!("{tool_url}/items/1"), None, None).await;
    assert_eq!(status, 200, "{body}");
    // Sent on the kept connection, received, never answered: a failure, not a second send
    // on a new connection.
    let (status, body) = call("GET", &format!("{tool_url}/items/2"), None, None).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "UPSTREAM_FAILED");
    assert_eq!(upstream.requests.lock().unwrap().len(), 2);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}
