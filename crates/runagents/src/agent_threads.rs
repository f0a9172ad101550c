//! The agent plane served thread per core: each thread runs a runtime of its own and serves
//! the connections it is handed whole. A tool call is read, checked, sent upstream over that
//! thread's pooled connections and answered on one thread, with no hand-off between a shared
//! runtime's workers (their wake-ups were a large part of the CPU per call;
//! docs/benchmarks.md). One acceptor hands new connections to the threads in turn: threads
//! accepting on the shared listener themselves served most connections on one thread (the one
//! that wakes first), leaving the other cores idle.
//!
//! Invariant: a thread's runtime keeps running, after its server has stopped, until the rest
//! of the shutdown is done (`release`): the connections and tasks opened on it (background
//! usage records, pooled client connections other runtimes may be using) are served by its
//! reactor until the end.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) struct AgentThreads {
    /// Each thread's server result, sent when it has stopped serving.
    served: Vec<oneshot::Receiver<std::io::Result<()>>>,
    threads: Vec<JoinHandle<()>>,
    release: CancellationToken,
}

impl AgentThreads {
    /// Starts `count` threads serving `app`, and the acceptor handing them the connections
    /// `listener` takes, until `stop` is cancelled.
    pub(crate) fn start(
        count: usize,
        listener: TcpListener,
        app: Router,
        stop: &CancellationToken,
        no_delay: fn(&mut TcpStream),
    ) -> anyhow::Result<AgentThreads> {
        let local_addr = listener.local_addr()?;
        let release = CancellationToken::new();
        let mut started = AgentThreads {
            served: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            release: release.clone(),
        };
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
            let thread = std::thread::Builder::new()
                .name(format!("agent-plane-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let listener = Handed { handed, local_addr };
                        let result = axum::serve(listener.tap_io(no_delay), app)
                            .with_graceful_shutdown(stop.cancelled_owned())
                            .await;
                        let _ = served.send(result);
                        release.cancelled().await;
                    });
                })
                .context("starting an agent plane thread")?;
            started.served.push(served_rx);
            started.threads.push(thread);
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

/// Accepts connections and hands them to the threads in turn, until `stop`.
async fn hand_out(
    mut listener: TcpListener,
    threads: Vec<mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>,
    stop: CancellationToken,
) {
    for thread in threads.iter().cycle() {
        // axum's accept: a failed accept is logged and retried, as for any axum server.
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        // Off this runtime's reactor, onto the thread's.
        match stream.into_std() {
            Ok(stream) => {
                let _ = thread.send((stream, peer));
            }
            Err(error) => tracing::debug!(%error, "could not hand a connection over"),
        }
    }
}

/// A thread's connections, as handed to it by the acceptor.
struct Handed {
    handed: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
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
                Err(error) => tracing::debug!(%error, "could not take a handed connection"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}
