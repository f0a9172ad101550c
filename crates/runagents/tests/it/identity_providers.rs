//! HTTP tests for identity providers (to be written).
