//! A private PostgreSQL for tests: `initdb` + `pg_ctl` in `target/testkit-postgres`, shared by
//! every test process (guarded by a file lock) and left running for the next test run; the
//! test script stops it. `RUNAGENTS_TEST_POSTGRES_URL` points at another server instead.
//! Each test gets a fresh database.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

fn state_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("testkit-postgres"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testkit-postgres"),
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (initdb refuses root).
fn pg_command(program: &str) -> Command {
    let path = format!("{BIN_DIR}/{program}");
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", &path]);
        command
    } else {
        Command::new(path)
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// The admin URL of a running private server, starting it if needed.
pub fn admin_url() -> Result<String, String> {
    if let Ok(url) = std::env::var("RUNAGENTS_TEST_POSTGRES_URL") {
        return Ok(url);
    }
    let dir = state_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let lock = File::create(dir.join("lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| format!("lock: {e}"))?;
    let url_file = dir.join("url");
    let data = dir.join("data");
    if let Ok(url) = fs::read_to_string(&url_file)
        && run(
            pg_command("pg_ctl").arg("status").arg("-D").arg(&data),
            "pg_ctl status",
        )
        .is_ok()
    {
        return Ok(url);
    }
    if !data.join("PG_VERSION").exists() {
        let _ = fs::remove_dir_all(&data);
        fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        chown_to_postgres(&dir)?;
        chown_to_postgres(&data)?;
        run(
            pg_command("initdb")
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
            "initdb",
        )?;
    }
    let port = free_port()?;
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=400",
        data.display()
    );
    let log = dir.join("postgres.log");
    chown_to_postgres(&dir)?;
    run(
        pg_command("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .arg("start"),
        "pg_ctl start",
    )?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    fs::write(&url_file, &url).map_err(|e| e.to_string())?;
    Ok(url)
}

fn chown_to_postgres(path: &Path) -> Result<(), String> {
    if running_as_root() {
        run(
            Command::new("chown").args(["postgres:postgres"]).arg(path),
            "chown",
        )?;
    }
    Ok(())
}

/// Stops the private server if this process's state dir has one running.
pub fn stop() -> Result<(), String> {
    let data = state_dir().join("data");
    if data.exists() {
        run(
            pg_command("pg_ctl")
                .args(["-w", "-m", "fast", "-D"])
                .arg(&data)
                .arg("stop"),
            "pg_ctl stop",
        )?;
    }
    Ok(())
}

/// A new, empty database on the private server; returns its URL.
pub async fn fresh_database() -> Result<String, String> {
    let admin = tokio::task::spawn_blocking(admin_url)
        .await
        .map_err(|e| e.to_string())??;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::Executor::execute(&mut connection, format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Ok(format!("{base}/{name}"))
}

/// Ends every session of the database at `url` that is listening for notifications (its last
/// statement was a LISTEN), as a lost connection would; returns how many it ended.
pub async fn terminate_listeners(url: &str) -> Result<i64, String> {
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let (ended,): (i64,) = sqlx::query_as(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut connection)
    .await
    .map_err(|e| e.to_string())?;
    Ok(ended)
}
