//! The agent plane served thread per core: each thread runs a runtime of its own and serves
//! the connections it is handed whole. A tool call is read, checked, sent upstream over that
//! thread's pooled connections and answered on one thread, with no hand-off between a shared
//! runtime's workers (their wake-ups were a large part of the CPU per call;
//! docs/benchmarks.md).
//!
//! One acceptor hands new connections to the threads in turn. Threads accepting on the shared
//! listener themselves served most connections on the thread that woke first (86 % of a
//! benchmark's calls in a trace), so a burst of calls on a client's pooled connections queued
//! on one core while the other idled.
//!
//! Invariants:
//! - a thread's runtime keeps running, after its server has stopped, until the rest of the
//!   shutdown is done (`release`): the connections and tasks opened on it (background usage
//!   records, pooled client connections other runtimes may be using) are served by its reactor
//!   until the end;
//! - every accepted connection is served or closed with a warning: a connection the acceptor
//!   cannot hand over is never dropped silently.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::Context;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::serve::serve_agent_plane;

pub(crate) struct AgentThreads {
    /// Each thread's server result, sent when it has stopped serving.
    served: Vec<oneshot::Receiver<std::io::Result<()>>>,
    threads: Vec<JoinHandle<()>>,
    release: CancellationToken,
}

impl AgentThreads {
    /// Starts `count` threads serving `app`, and the acceptor handing them what `listener`
    /// accepts, until `stop` is cancelled; returns once every thread serves. With `realtime`,
    /// each thread runs at real-time priority, or the start fails.
    pub(crate) async fn start(
        count: usize,
        realtime: bool,
        listener: TcpListener,
        app: Router,
        stop: &CancellationToken,
    ) -> anyhow::Result<AgentThreads> {
        let local_addr = listener.local_addr()?;
        let release = CancellationToken::new();
        let mut started = AgentThreads {
            served: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            release: release.clone(),
        };
        let mut serving = Vec::with_capacity(count);
        let mut hand_to = Vec::with_capacity(count);
        for index in 0..count {
            // Built here, so a failure stops the start instead of a thread.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building an agent plane runtime")?;
            let (hand, handed) = mpsc::unbounded_channel();
            hand_to.push(hand);
            let (app, stop, release) = (app.clone(), stop.clone(), release.clone());
            let (served, served_rx) = oneshot::channel();
            let (ready, ready_rx) = oneshot::channel();
            let thread = std::thread::Builder::new()
                .name(format!("agent-plane-{index}"))
                .spawn(move || {
                    if realtime && let Err(error) = realtime_priority() {
                        let _ = ready.send(Err(error));
                        return;
                    }
                    runtime.block_on(async move {
                        let _ = ready.send(Ok(()));
                        let listener = Handed { handed, local_addr };
                        let result = serve_agent_plane(listener, app, stop).await;
                        let _ = served.send(result);
                        release.cancelled().await;
                    });
                })
                .context("starting an agent plane thread")?;
            started.served.push(served_rx);
            started.threads.push(thread);
            serving.push(ready_rx);
        }
        for ready in serving {
            ready
                .await
                .context("an agent plane thread did not start")??;
        }
        tokio::spawn(hand_out(listener, hand_to, stop.clone()));
        Ok(started)
    }

    /// Waits until every thread has stopped serving (in-flight calls answered).
    pub(crate) async fn served(&mut self) -> anyhow::Result<()> {
        for served in self.served.drain(..) {
            served
                .await
                .context("an agent plane thread stopped")?
                .context("serving the agent plane")?;
        }
        Ok(())
    }

    /// Lets the runtimes stop (dropping what is left on them) and waits for their threads.
    pub(crate) async fn release(mut self) {
        self.release.cancel();
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }
}

impl Drop for AgentThreads {
    /// A start that fails half way (or a serve that returns early) still lets the threads go.
    fn drop(&mut self) {
        self.release.cancel();
    }
}

/// Runs the calling thread under SCHED_FIFO at the lowest real-time priority (ahead of every
/// ordinary thread on the host, behind the kernel's own real-time threads), with the kernel's
/// reset-on-fork flag: every thread and process it starts (the runtime's blocking threads, a
/// database connection's worker, an agent's process) starts at ordinary priority. Set with
/// util-linux's `chrt`, as the standard library has no call for it and this project keeps
/// `unsafe` out.
fn realtime_priority() -> anyhow::Result<()> {
    let thread = rustix::thread::gettid().as_raw_nonzero().to_string();
    let output = std::process::Command::new("chrt")
        .args(["--fifo", "--reset-on-fork", "--pid", "1", &thread])
        .output()
        .context("could not run `chrt` (util-linux) to give the agent plane real-time priority")?;
    if !output.status.success() {
        anyhow::bail!(
            "could not run the agent plane at real-time priority: {} (it needs CAP_SYS_NICE or \
             an RLIMIT_RTPRIO of at least 1)",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A connection handed to a thread: off the acceptor's reactor, to be registered with the
/// thread's.
type HandedConnection = (std::net::TcpStream, SocketAddr);

/// Accepts connections and hands them to the threads in turn, until `stop`.
async fn hand_out(
    mut listener: TcpListener,
    threads: Vec<mpsc::UnboundedSender<HandedConnection>>,
    stop: CancellationToken,
) {
    for thread in threads.iter().cycle() {
        // axum's accept: a failed accept is logged and retried, as for any axum server.
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        match stream.into_std() {
            Ok(stream) => {
                if thread.send((stream, peer)).is_err() {
                    // The thread has stopped serving: so has the plane, at the same signal.
                    tracing::warn!(%peer, "an agent plane thread has stopped; connection closed");
                }
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "could not hand a connection to an agent plane thread");
            }
        }
    }
}

/// A thread's connections, as handed to it by the acceptor.
struct Handed {
    handed: mpsc::UnboundedReceiver<HandedConnection>,
    local_addr: SocketAddr,
}

impl axum::serve::Listener for Handed {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.handed.recv().await else {
                // The acceptor has stopped: so has this server, at the same signal.
                return std::future::pending().await;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(error) => {
                    tracing::warn!(%peer, %error, "an agent plane thread could not take a connection");
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}
