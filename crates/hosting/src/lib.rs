//! Hosting Tier-2 Python agents on this machine: the operating-system side only. No store, no
//! HTTP API, no agents as documents; the engine decides *what* runs and this crate makes it run.
//!
//! - [`Hosting::build`] turns a requirement set into a Python virtual environment with the
//!   `runagents` runtime pinned to [`RUNTIME_PIN`], after checking the agent's sources (names,
//!   sizes, Python syntax). [`Hosting::write_code`] puts an agent's sources in place.
//! - [`Supervisor`] runs one `python -m runagents.runtime` per hosted agent, probes its
//!   `/healthz`, restarts it with backoff when it dies, keeps its recent output in memory and on
//!   disk, and stops it (and everything it spawned) on request, on shutdown and on drop.
//!
//! # Invariants
//!
//! - An environment directory `{data_dir}/envs/{key}` exists only when complete: it is built
//!   under a temporary name beside it and renamed into place after its `.ready` marker is
//!   written; a failed build removes its temporary directory. Identical requirement sets (after
//!   normalisation) share one environment and, within a process, are never installed twice at
//!   once.
//! - Nothing is installed for sources that would not run: file names, sizes and the syntax of
//!   every `.py` file are checked first.
//! - Build steps and hosted runtimes get a cleared environment (a few named variables from the
//!   platform plus what the caller passes), so the platform's own secrets never reach user code
//!   or package build scripts. The caller's variables are never logged, and the secrets it names
//!   in [`ProcessSpec::redact`] are masked in everything the runtime prints.
//! - Every hosted runtime leads its own process group; stopping it signals the whole group
//!   (SIGTERM, then SIGKILL after five seconds). A runtime left behind by a platform that was
//!   killed outright is found through its pid file and killed before its replacement starts.

mod build;
mod logs;
mod process;
mod sources;
mod supervisor;

pub use build::{BuildFailure, BuildRequest, Built, Hosting, RUNTIME_PIN};
pub use logs::LogLine;
pub use sources::{MAX_FILE_BYTES, MAX_FILES};
pub use supervisor::{Phase, ProcessSpec, ProcessStatus, Supervisor};
