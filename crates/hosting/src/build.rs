//! The builder: one Python virtual environment per distinct requirement set.
//!
//! An environment lives at `{data_dir}/envs/{key}`, where the key is the SHA-256 of the
//! normalised requirement set, [`RUNTIME_PIN`] and the interpreter's identity. It is created as
//! `{key}.tmp-{uuid}` beside its final place, gets a `.ready` marker when complete and is then
//! renamed into place (a venv finds itself from its interpreter's location, so the rename is
//! safe as long as everything is run as `bin/python -m …`, never through `bin/pip`'s
//! shebang). A directory without `.ready` is never used.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;

use crate::process::{BuildLog, StepEnd, describe_status, run_step};
use crate::sources;

/// The runtime every environment gets, whatever the requirements say about `runagents`.
pub const RUNTIME_PIN: &str = "runagents==1.4.2";

const VENV_TIMEOUT: Duration = Duration::from_secs(120);
const PIP_TIMEOUT: Duration = Duration::from_secs(900);
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// A temporary environment this old belongs to a build that died with its process.
const STALE_TMP: Duration = Duration::from_secs(30 * 60);
const READY: &str = ".ready";
const MAX_REQUIREMENTS_BYTES: usize = 64 * 1024;

/// Builds environments under one data directory. Share one per process (the per-key build lock
/// and the interpreter probe live here).
pub struct Hosting {
    data_dir: PathBuf,
    python: PathBuf,
    pip_extra_args: Vec<String>,
    /// `sys.version` and `sys.executable` of `python`, probed once.
    interpreter: tokio::sync::OnceCell<String>,
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What to build: the agent's `requirements.txt`, its sources and its entry point (empty:
/// `agent.py`, else `main.py`, else the only `.py` file).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub requirements: String,
    pub source_files: BTreeMap<String, String>,
    pub entry_point: String,
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct Built {
    pub env_dir: PathBuf,
    /// `{env_dir}/bin/python`: run the runtime with it.
    pub python: PathBuf,
    /// The entry point resolved from the request (for `USER_ENTRY_POINT`).
    pub entry_point: String,
    /// The environment already existed; nothing was installed.
    pub reused: bool,
    pub log: String,
}

/// Why a build failed: one line for people, and the log of every step that ran.
#[derive(Debug, Clone)]
pub struct BuildFailure {
    pub message: String,
    pub log: String,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildFailure {}

impl Hosting {
    /// Environments go under `{data_dir}/envs`; `python3` creates them.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            python: PathBuf::from("python3"),
            pip_extra_args: Vec::new(),
            interpreter: tokio::sync::OnceCell::new(),
            building: Mutex::new(HashMap::new()),
        }
    }

    /// The interpreter that checks sources and creates environments.
    #[must_use]
    pub fn with_python(mut self, python: impl Into<PathBuf>) -> Self {
        self.python = python.into();
        self
    }

    /// Extra arguments for every `pip install` (an index URL, `--only-binary :all:`, …). They
    /// are not written to build logs.
    #[must_use]
    pub fn with_pip_args(mut self, args: Vec<String>) -> Self {
        self.pip_extra_args = args;
        self
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Writes an agent's sources to `dir`, replacing whatever was there as a whole (the new tree
    /// is written beside it and swapped in). Names are checked as for [`Hosting::build`];
    /// a bad one is [`io::ErrorKind::InvalidInput`].
    pub fn write_code(&self, dir: &Path, files: &BTreeMap<String, String>) -> io::Result<()> {
        sources::write_tree(dir, files)
    }

    /// Checks the sources, then returns the environment for the request's requirements,
    /// building it unless an identical set already has one.
    pub async fn build(&self, request: &BuildRequest) -> Result<Built, BuildFailure> {
        let log = Mutex::new(BuildLog::default());
        let fail = |message: String| {
            note(&log, &format!("build failed: {message}"));
            BuildFailure {
                message,
                log: take(&log),
            }
        };

        sources::validate(&request.source_files).map_err(fail)?;
        let entry_point =
            sources::entry_point(&request.source_files, &request.entry_point).map_err(fail)?;
        let requirements = normalise_requirements(&request.requirements).map_err(fail)?;
        self.check_syntax(&request.source_files, &log)
            .await
            .map_err(fail)?;
        let interpreter = self.interpreter(&log).await.map_err(fail)?;

        let key = env_key(&requirements, &interpreter);
        let envs = self.data_dir.join("envs");
        let env_dir = envs.join(&key);
        let python = env_dir.join("bin").join("python");
        let lock = self.key_lock(&key);
        let result = {
            let _building = lock.lock().await;
            if env_dir.join(READY).is_file() {
                note(&log, &format!("reusing environment {key}"));
                Ok(true)
            } else {
                note(&log, &format!("building environment {key}"));
                self.create(&envs, &key, &requirements, &log)
                    .await
                    .map(|()| false)
            }
        };
        drop(lock);
        self.forget_lock(&key);
        let reused = result.map_err(fail)?;
        Ok(Built {
            env_dir,
            python,
            entry_point,
            reused,
            log: take(&log),
        })
    }

    /// Builds `{envs}/{key}` through a temporary directory; `Ok` once it is in place (built by
    /// us or, if another process won the race, by it).
    async fn create(
        &self,
        envs: &Path,
        key: &str,
        requirements: &[String],
        log: &Mutex<BuildLog>,
    ) -> Result<(), String> {
        tokio::fs::create_dir_all(envs)
            .await
            .map_err(|e| format!("cannot create {}: {e}", envs.display()))?;
        remove_stale(envs, key).await;
        let env_dir = envs.join(key);
        let tmp = crate::sources::sibling(&env_dir, "tmp");
        let placed = match self.install(&tmp, requirements, log).await {
            Ok(()) => place(&tmp, &env_dir, log).await,
            Err(message) => Err(message),
        };
        if placed != Ok(true)
            && let Err(e) = tokio::fs::remove_dir_all(&tmp).await
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %tmp.display(), error = %e, "could not remove a temporary environment");
        }
        placed.map(|_| ())
    }

    /// `python -m venv`, then `pip install` of the pin and the requirements, then `.ready`.
    async fn install(
        &self,
        tmp: &Path,
        requirements: &[String],
        log: &Mutex<BuildLog>,
    ) -> Result<(), String> {
        let mut venv = Command::new(&self.python);
        venv.arg("-m").arg("venv").arg(tmp);
        let display = format!("{} -m venv {}", self.python.display(), tmp.display());
        match run_step(venv, &display, None, VENV_TIMEOUT, log).await {
            StepEnd::Exited { status, .. } if status.success() => {}
            StepEnd::Exited { status, stderr, .. } => {
                return Err(format!(
                    "python -m venv failed ({}): {}",
                    describe_status(status),
                    last_error(&stderr)
                ));
            }
            StepEnd::TimedOut => {
                return Err(format!(
                    "python -m venv timed out after {}s",
                    VENV_TIMEOUT.as_secs()
                ));
            }
            StepEnd::NotStarted(e) => {
                return Err(format!("cannot run {}: {e}", self.python.display()));
            }
        }

        let python = tmp.join("bin").join("python");
        let mut pip = Command::new(&python);
        pip.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(&self.pip_extra_args)
        .arg(RUNTIME_PIN);
        // The operator's arguments may carry an index credential: counted, not shown.
        let extra = match self.pip_extra_args.len() {
            0 => String::new(),
            n => format!("<{n} operator arguments> "),
        };
        let mut display = format!(
            "{} -m pip install --disable-pip-version-check --no-input {extra}{RUNTIME_PIN}",
            python.display(),
        );
        if !requirements.is_empty() {
            let file = tmp.join("requirements.txt");
            let mut text = requirements.join("\n");
            text.push('\n');
            tokio::fs::write(&file, text)
                .await
                .map_err(|e| format!("cannot write requirements.txt: {e}"))?;
            pip.arg("-r").arg(&file);
            display.push_str(&format!(" -r {}", file.display()));
        }
        match run_step(pip, &display, None, PIP_TIMEOUT, log).await {
            StepEnd::Exited { status, .. } if status.success() => {}
            StepEnd::Exited { stderr, .. } => {
                return Err(format!("pip install failed: {}", last_error(&stderr)));
            }
            StepEnd::TimedOut => {
                return Err(format!(
                    "pip install timed out after {}s",
                    PIP_TIMEOUT.as_secs()
                ));
            }
            StepEnd::NotStarted(e) => return Err(format!("cannot run pip: {e}")),
        }
        tokio::fs::write(tmp.join(READY), "")
            .await
            .map_err(|e| format!("cannot mark the environment ready: {e}"))
    }

    /// Compiles every `.py` source with the base interpreter; the first syntax error is the
    /// failure (`syntax error in agent.py line 3: invalid syntax`).
    async fn check_syntax(
        &self,
        files: &BTreeMap<String, String>,
        log: &Mutex<BuildLog>,
    ) -> Result<(), String> {
        let python: BTreeMap<&str, &str> = files
            .iter()
            .filter(|(name, _)| name.ends_with(".py"))
            .map(|(name, text)| (name.as_str(), text.as_str()))
            .collect();
        if python.is_empty() {
            return Ok(());
        }
        let input = serde_json::to_vec(&python).map_err(|e| e.to_string())?;
        let mut command = Command::new(&self.python);
        command.args(["-I", "-B", "-c", SYNTAX_CHECK]);
        let display = format!(
            "{} -I -B -c <compile {} .py files>",
            self.python.display(),
            python.len()
        );
        match run_step(command, &display, Some(input), CHECK_TIMEOUT, log).await {
            StepEnd::Exited { status, .. } if status.success() => Ok(()),
            StepEnd::Exited { status, stdout, .. } if status.code() == Some(3) => Err(format!(
                "syntax error in {}",
                stdout.last().map_or("a source file", String::as_str)
            )),
            StepEnd::Exited { status, stderr, .. } => Err(format!(
                "the syntax check failed ({}): {}",
                describe_status(status),
                last_error(&stderr)
            )),
            StepEnd::TimedOut => Err(format!(
                "the syntax check timed out after {}s",
                CHECK_TIMEOUT.as_secs()
            )),
            StepEnd::NotStarted(e) => Err(format!("cannot run {}: {e}", self.python.display())),
        }
    }

    /// The interpreter's version and location, part of every environment key.
    async fn interpreter(&self, log: &Mutex<BuildLog>) -> Result<String, String> {
        self.interpreter
            .get_or_try_init(|| async {
                let mut command = Command::new(&self.python);
                command.args([
                    "-I",
                    "-c",
                    "import sys; print(sys.version); print(sys.executable)",
                ]);
                let display = format!("{} -I -c 'import sys; …'", self.python.display());
                match run_step(command, &display, None, CHECK_TIMEOUT, log).await {
                    StepEnd::Exited { status, stdout, .. } if status.success() => {
                        Ok(stdout.join("\n"))
                    }
                    StepEnd::Exited { status, stderr, .. } => Err(format!(
                        "{} does not run ({}): {}",
                        self.python.display(),
                        describe_status(status),
                        last_error(&stderr)
                    )),
                    StepEnd::TimedOut => Err(format!("{} timed out", self.python.display())),
                    StepEnd::NotStarted(e) => {
                        Err(format!("cannot run {}: {e}", self.python.display()))
                    }
                }
            })
            .await
            .cloned()
    }

    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut building = self
            .building
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(building.entry(key.to_owned()).or_default())
    }

    /// Drops the key's lock once no build holds or waits for it.
    fn forget_lock(&self, key: &str) {
        let mut building = self
            .building
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if building
            .get(key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            building.remove(key);
        }
    }
}

/// Reads sources as JSON `{name: text}` from stdin; on the first syntax error prints
/// `{name} line {n}: {msg}` and exits 3.
const SYNTAX_CHECK: &str = r#"
import json, sys
files = json.load(sys.stdin)
for name, text in files.items():
    try:
        compile(text, name, "exec", dont_inherit=True)
    except SyntaxError as e:
        print(f"{name} line {e.lineno}: {e.msg}")
        sys.exit(3)
    except ValueError as e:
        print(f"{name}: {e}")
        sys.exit(3)
"#;

/// The requirement set as the key sees it: one requirement per line, comments and blank lines
/// dropped, sorted and deduplicated; a `runagents` requirement becomes [`RUNTIME_PIN`] (keeping
/// its extras). Pip options (`-r`, `-e`, `--index-url`, …) are refused: they reach files and
/// indexes the operator did not choose, and their meaning depends on their order.
pub(crate) fn normalise_requirements(text: &str) -> Result<Vec<String>, String> {
    if text.len() > MAX_REQUIREMENTS_BYTES {
        return Err(format!(
            "requirements are {} bytes (at most {MAX_REQUIREMENTS_BYTES})",
            text.len()
        ));
    }
    let mut set = BTreeSet::new();
    for (number, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') {
            let option = line.split_whitespace().next().unwrap_or(line);
            return Err(format!(
                "requirements line {}: pip options such as {option} are not allowed; list packages only",
                number + 1
            ));
        }
        if line.ends_with('\\') {
            return Err(format!(
                "requirements line {}: line continuations are not supported",
                number + 1
            ));
        }
        match runagents_extras(line) {
            None => set.insert(line.to_owned()),
            Some("") => continue,
            Some(extras) => set.insert(format!(
                "runagents[{extras}]{}",
                RUNTIME_PIN.trim_start_matches("runagents")
            )),
        };
    }
    Ok(set.into_iter().collect())
}

/// Text before a `#` that starts the line or follows whitespace (pip's comment rule).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// For a requirement on `runagents` (any spelling PEP 503 treats as the same), its extras
/// (`""` for none); `None` for any other requirement.
fn runagents_extras(line: &str) -> Option<&str> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    // PEP 503 folds case and runs of `-_.`; `runagents` has no separators to fold.
    if !line[..end].eq_ignore_ascii_case("runagents") {
        return None;
    }
    let rest = line[end..].trim_start();
    Some(
        rest.strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map_or("", |(extras, _)| extras.trim()),
    )
}

fn env_key(requirements: &[String], interpreter: &str) -> String {
    let material = format!(
        "runagents-hosting environment v1\npin {RUNTIME_PIN}\npython {interpreter}\nrequirements\n{}",
        requirements.join("\n")
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, material.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Renames the complete environment `tmp` to `env_dir` (`Ok(true)`). If another process put a
/// ready one there first, that one is used (`Ok(false)`, `tmp` stays for the caller to remove);
/// a directory there without `.ready` (never complete, or marked for rebuilding by removing
/// the marker) is replaced.
async fn place(tmp: &Path, env_dir: &Path, log: &Mutex<BuildLog>) -> Result<bool, String> {
    let Err(e) = tokio::fs::rename(tmp, env_dir).await else {
        return Ok(true);
    };
    if env_dir.join(READY).is_file() {
        note(
            log,
            "another build finished this environment first; using it",
        );
        return Ok(false);
    }
    let aside = crate::sources::sibling(env_dir, "old");
    if tokio::fs::rename(env_dir, &aside).await.is_err() {
        return Err(format!("cannot move the environment into place: {e}"));
    }
    let _ = tokio::fs::remove_dir_all(&aside).await;
    tokio::fs::rename(tmp, env_dir)
        .await
        .map(|()| true)
        .map_err(|e| format!("cannot move the environment into place: {e}"))
}

/// Removes `{key}.tmp-*` directories left by builds that died with their process.
async fn remove_stale(envs: &Path, key: &str) {
    let prefix = format!("{key}.tmp-");
    let Ok(mut entries) = tokio::fs::read_dir(envs).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let old = entry
            .metadata()
            .await
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TMP);
        if old {
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
        }
    }
}

/// pip's `ERROR: …` line if it printed one, else the last line of stderr.
fn last_error(stderr: &[String]) -> String {
    stderr
        .iter()
        .rev()
        .find(|line| line.starts_with("ERROR:"))
        .or_else(|| stderr.iter().rev().find(|line| !line.trim().is_empty()))
        .map_or_else(|| "no output".to_owned(), |line| line.trim().to_owned())
}

fn note(log: &Mutex<BuildLog>, line: &str) {
    if let Ok(mut log) = log.lock() {
        log.line(line);
    }
}

fn take(log: &Mutex<BuildLog>) -> String {
    log.lock()
        .map(|mut log| std::mem::take(&mut *log).into_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_sets_normalise() {
        let a = normalise_requirements("requests==2.31\n# comment\n\n  httpx  \nrequests==2.31\n")
            .unwrap();
        let b = normalise_requirements("httpx # inline\nrequests==2.31").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, vec!["httpx", "requests==2.31"]);
        assert_eq!(env_key(&a, "3.11"), env_key(&b, "3.11"));
        assert_ne!(env_key(&a, "3.11"), env_key(&a, "3.12"));
        assert_ne!(env_key(&a, "3.11"), env_key(&[], "3.11"));
    }

    #[test]
    fn runagents_becomes_the_pin() {
        assert!(
            normalise_requirements("runagents==1.0\nRunAgents>=1")
                .unwrap()
                .is_empty()
        );
        assert!(
            normalise_requirements("runagents @ https://x/y.whl")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            normalise_requirements("runagents[mcp]>=1.0").unwrap(),
            vec!["runagents[mcp]==1.4.2"]
        );
        assert_eq!(
            normalise_requirements("runagents-extra==1").unwrap(),
            vec!["runagents-extra==1"]
        );
        assert_eq!(
            normalise_requirements("url#frag").unwrap(),
            vec!["url#frag"]
        );
    }

    #[test]
    fn pip_options_are_refused() {
        for line in ["-r other.txt", "--index-url http://x", "-e ."] {
            let err = normalise_requirements(&format!("requests\n{line}")).unwrap_err();
            assert!(err.starts_with("requirements line 2: pip options"), "{err}");
        }
    }

    #[test]
    fn pip_errors_are_found() {
        let stderr = [
            "ERROR: Could not find a version".to_owned(),
            "ERROR: No matching distribution found for x".to_owned(),
            "".to_owned(),
        ];
        assert_eq!(
            last_error(&stderr),
            "ERROR: No matching distribution found for x"
        );
        assert_eq!(last_error(&["a".to_owned(), " b ".to_owned()]), "b");
        assert_eq!(last_error(&[]), "no output");
    }
}
