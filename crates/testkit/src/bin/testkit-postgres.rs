//! `testkit-postgres start|url|createdb|stop`: the private test PostgreSQL, for scripts.

use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let command = std::env::args().nth(1).unwrap_or_default();
    let output = match command.as_str() {
        "start" | "url" => runagents_testkit::postgres::admin_url()?,
        "createdb" => runagents_testkit::postgres::fresh_database().await?,
        "stop" => {
            runagents_testkit::postgres::stop()?;
            "stopped".to_owned()
        }
        _ => return Err("usage: testkit-postgres start|url|createdb|stop".to_owned()),
    };
    writeln!(std::io::stdout(), "{output}").map_err(|e| e.to_string())
}
