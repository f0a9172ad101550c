//! The CLI's one error type: what went wrong in one line, the exit code, and a hint that says
//! what to do about it when there is something to do.

use std::process::ExitCode;

/// Exit codes, also listed in `runagents --help`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    /// clap's code for a command line it cannot parse.
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const TIMED_OUT: u8 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    /// No answer: connection refused, DNS, TLS.
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// A wait or a request ran out of time.
    #[error("{0}")]
    TimedOut(String),
    /// Bad input on the command line or in a file.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a local file.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// The server answered 2xx with something we cannot use.
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// A process the command ran (`dev`'s agent runtime) ended unsuccessfully; its status is
    /// ours.
    #[error("{message}")]
    Exited { code: u8, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    pub fn file(path: &std::path::Path, error: impl std::fmt::Display) -> Self {
        Error::File {
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Api { status: 404, .. } => exit::NOT_FOUND,
            Error::TimedOut(_) => exit::TIMED_OUT,
            Error::Exited { code, .. } => *code,
            Error::Api { .. }
            | Error::Unreachable { .. }
            | Error::Invalid(_)
            | Error::File { .. }
            | Error::Unexpected(_) => exit::ERROR,
        }
    }

    /// What to do next, when the error alone does not say it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Api { status: 401, .. } => Some(
                "set an API key with `runagents config set api-key <key>` or RUNAGENTS_API_KEY",
            ),
            Error::Api {
                status: 403,
                message,
            } if message.contains("may decide this request") => Some(
                "the request's approval rule names its approver groups; decide it with a key that holds them",
            ),
            Error::Api { status: 403, .. } => {
                Some("this key may not do that; use a key of the workspace's admin")
            }
            Error::Api {
                status: 404,
                message,
            } if message.starts_with("no such endpoint") => {
                Some("this server does not serve that command, or --endpoint points somewhere else")
            }
            Error::Unreachable { .. } => {
                Some("is the server running? start it with `runagents serve`")
            }
            _ => None,
        }
    }
}

impl From<&Error> for ExitCode {
    fn from(error: &Error) -> Self {
        ExitCode::from(error.exit_code())
    }
}
