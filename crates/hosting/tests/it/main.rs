//! Real Python, real pip (PyPI), real processes: the builder and the supervisor end to end.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod build;
mod common;
mod supervise;
