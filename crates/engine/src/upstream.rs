//! The egress client: HTTP/1.1 to tool upstreams over TCP or TLS (rustls), with a pool of
//! keep-alive connections per origin.
//!
//! A call drives its connection itself, in the calling task (hyper's connection API): no task
//! per connection and no channel hop between the call and its connection, as a general
//! client's pool has. On the egress path that hop, with the general client's request layers,
//! was about a tenth of the server's CPU per call (docs/benchmarks.md).
//!
//! Invariants:
//! - an idle pooled connection is polled by nobody; a checkout first lets it read what
//!   arrived while idle (a close, most often) and drops it unless it can take a request;
//! - a request is sent again on a new connection only when hyper says it was not written
//!   (a pooled connection the upstream had closed), so no call can reach the upstream twice;
//! - the answer's body drives the connection while it is read, and gives the connection back
//!   to the pool only once the whole answer was read;
//! - the deadline covers connecting, sending and reading the whole answer.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// Connecting (TCP and TLS) gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle connection older than this is closed rather than reused (upstreams close theirs
/// after a while, and a request on a closing connection has to be sent again).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 64;

/// Where a call goes: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute `http://` or `https://` URI.
    pub(crate) fn of(uri: &http::Uri) -> Option<Origin> {
        let tls = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = uri.host()?;
        // `[::1]` is a host in a URI, `::1` an address to connect to.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Some(Origin {
            tls,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        })
    }
}

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("timed out")]
    TimedOut,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Http(hyper::Error),
}

type Stream = TokioIo<Transport>;

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: Connection<Stream, Full<Bytes>>,
    /// The driver has finished (the connection is closed).
    done: bool,
}

impl Conn {
    /// Polls the connection once without waiting (lets it read a close that arrived), and
    /// says whether it can take a request.
    fn reusable(&mut self) -> bool {
        if !self.done {
            let mut cx = Context::from_waker(Waker::noop());
            if Pin::new(&mut self.driver).poll(&mut cx).is_ready() {
                self.done = true;
            }
        }
        !self.done && self.sender.is_ready()
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Which runtime's connections: a connection's socket is served by the reactor of the runtime
/// it was opened on. A current-thread runtime (an agent plane thread) keeps its own, so a call
/// never waits for another thread to read its answer; the workers of a multi-thread runtime
/// share theirs (`None`).
type Lane = Option<ThreadId>;

fn lane() -> Lane {
    thread_local! {
        static LANE: Lane = match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => Some(std::thread::current().id()),
            _ => None,
        };
    }
    LANE.with(|lane| *lane)
}

#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<Lane, HashMap<Origin, Vec<Idle>>>>,
}

impl Pool {
    /// The most recently used idle connection to `origin`, of this runtime, that can take a
    /// request. Each is looked at (a read of its socket) outside the lock every call shares.
    fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let lane = lane();
        loop {
            let mut entry = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                idle.get_mut(&lane)?.get_mut(origin)?.pop()?
            };
            if entry.since.elapsed() < IDLE_TIMEOUT && entry.conn.reusable() {
                return Some(entry.conn);
            }
        }
    }

    fn put_back(&self, origin: &Origin, mut conn: Conn) {
        if !conn.reusable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = idle.entry(lane()).or_default();
        // The origin's key is copied once, when its first connection is kept.
        if !idle.contains_key(origin) {
            idle.insert(origin.clone(), Vec::new());
        }
        let Some(list) = idle.get_mut(origin) else {
            return;
        };
        list.retain(|entry| entry.since.elapsed() < IDLE_TIMEOUT);
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// The egress client. Cheap to share (`Arc`).
pub(crate) struct UpstreamClient {
    pool: Arc<Pool>,
    tls: TlsConnector,
}

impl UpstreamClient {
    /// Trusts the public web's roots (webpki-roots, as the platform's other clients do) and
    /// the PEM certificates in `extra_roots`, if given (an internal CA).
    pub(crate) fn new(extra_roots: Option<&Path>) -> Result<UpstreamClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_roots {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| format!("reading CA certificates from {}: {e}", path.display()))?;
            if certificates.is_empty() {
                return Err(format!("no PEM certificate in {}", path.display()));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| {
                    format!("a CA certificate in {} is not usable: {e}", path.display())
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(UpstreamClient {
            pool: Arc::default(),
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends `request` (origin-form URI, `host` set) to `origin` and waits for the answer's
    /// head; the body is read through the returned response, within the same `timeout`.
    pub(crate) async fn send(
        &self,
        origin: Origin,
        mut request: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<UpstreamBody>, SendError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let exchange = async {
            loop {
                let (mut conn, pooled) = match self.pool.checkout(&origin) {
                    Some(conn) => (conn, true),
                    None => (self.connect(&origin).await?, false),
                };
                let sent = drive(&mut conn, |sender| sender.try_send_request(request)).await;
                match sent {
                    Ok(response) => return Ok((conn, response)),
                    Err(mut error) => match error.take_message() {
                        // Never written: a pooled connection the upstream had closed.
                        Some(unsent) if pooled => request = unsent,
                        _ => return Err(SendError::Http(error.into_error())),
                    },
                }
            }
        };
        let (conn, response) = tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| SendError::TimedOut)??;
        let (head, body) = response.into_parts();
        let body = UpstreamBody {
            body,
            conn: Some(conn),
            origin,
            pool: self.pool.clone(),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        };
        Ok(http::Response::from_parts(head, body))
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, SendError> {
        let connecting = async {
            let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
                .await
                .map_err(|e| SendError::Connect(e.to_string()))?;
            // Small writes (a request's head) go out at once.
            tcp.set_nodelay(true)
                .map_err(|e| SendError::Connect(e.to_string()))?;
            if !origin.tls {
                return Ok::<_, SendError>(Transport::Plain(tcp));
            }
            let name = ServerName::try_from(origin.host.clone())
                .map_err(|e| SendError::Connect(format!("{}: {e}", origin.host)))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| SendError::Connect(format!("TLS: {e}")))?;
            Ok(Transport::Tls(Box::new(tls)))
        };
        let transport = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| SendError::Connect("timed out".into()))??;
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(transport))
            .await
            .map_err(SendError::Http)?;
        Ok(Conn {
            sender,
            driver,
            done: false,
        })
    }
}

/// Runs what `start` begins on the connection's sender while driving the connection.
async fn drive<F, T>(conn: &mut Conn, start: impl FnOnce(&mut SendRequest<Full<Bytes>>) -> F) -> T
where
    F: Future<Output = T>,
{
    let mut future = pin!(start(&mut conn.sender));
    let (driver, done) = (&mut conn.driver, &mut conn.done);
    poll_fn(|cx| {
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            if *done {
                return Poll::Pending;
            }
            match Pin::new(&mut *driver).poll(cx) {
                // Closed: the sender's future resolves (with an error) on the next poll.
                Poll::Ready(_) => *done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// An upstream answer's body; reading it drives its connection, which goes back to the pool
/// once the body has ended.
pub(crate) struct UpstreamBody {
    body: Incoming,
    conn: Option<Conn>,
    origin: Origin,
    pool: Arc<Pool>,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(None) => {
                    if let Some(conn) = this.conn.take() {
                        this.pool.put_back(&this.origin, conn);
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(error))) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(io::Error::other(error))));
                }
                Poll::Ready(Some(Ok(frame))) => return Poll::Ready(Some(Ok(frame))),
                Poll::Pending => {}
            }
            let driving = match this.conn.as_mut() {
                Some(conn) if !conn.done => Pin::new(&mut conn.driver).poll(cx),
                _ => Poll::Pending,
            };
            match driving {
                // Closed: the body sees its end (or the break) on the next poll.
                Poll::Ready(_) => {
                    if let Some(conn) = this.conn.as_mut() {
                        conn.done = true;
                    }
                }
                Poll::Pending => {
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        this.conn = None;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "timed out reading the upstream's answer",
                        ))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection to an upstream: plain TCP or TLS over it.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(stream) => stream.is_write_vectored(),
            Transport::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
