//! The agent plane served thread per core: each thread runs a runtime of its own that accepts
//! on the shared listener and serves its connections whole. A tool call is read, checked, sent
//! upstream over that thread's pooled connections and answered on one thread, with no hand-off
//! between a shared runtime's workers (their wake-ups were a large part of the CPU per call;
//! docs/benchmarks.md). An idle thread is the one woken for a new connection, so connections
//! spread over the threads that have time for them.
//!
//! Invariant: a thread's runtime keeps running, after its server has stopped, until the rest
//! of the shutdown is done (`release`): the connections and tasks opened on it (background
//! usage records, pooled client connections other runtimes may be using) are served by its
//! reactor until the end.

use std::net::TcpListener as StdListener;
use std::thread::JoinHandle;

use crate::serve::serve_agent_plane;
use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub(crate) struct AgentThreads {
    /// Each thread's server result, sent when it has stopped serving.
    served: Vec<oneshot::Receiver<std::io::Result<()>>>,
    threads: Vec<JoinHandle<()>>,
    release: CancellationToken,
}

impl AgentThreads {
    /// Starts `count` threads serving `app` on `listener` until `stop` is cancelled; returns
    /// once every thread serves.
    pub(crate) async fn start(
        count: usize,
        listener: TcpListener,
        app: Router,
        stop: &CancellationToken,
    ) -> anyhow::Result<AgentThreads> {
        let listener = listener.into_std()?;
        let release = CancellationToken::new();
        let mut started = AgentThreads {
            served: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            release: release.clone(),
        };
        let mut serving = Vec::with_capacity(count);
        for index in 0..count {
            // Built here, so a failure stops the start instead of a thread.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building an agent plane runtime")?;
            let listener: StdListener = listener.try_clone()?;
            let (app, stop, release) = (app.clone(), stop.clone(), release.clone());
            let (served, served_rx) = oneshot::channel();
            let (ready, ready_rx) = oneshot::channel();
            let thread = std::thread::Builder::new()
                .name(format!("agent-plane-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let result = match TcpListener::from_std(listener) {
                            Ok(listener) => {
                                let _ = ready.send(());
                                serve_agent_plane(listener, app, stop).await
                            }
                            Err(error) => Err(error),
                        };
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
                .context("an agent plane thread could not take the listener")?;
        }
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
