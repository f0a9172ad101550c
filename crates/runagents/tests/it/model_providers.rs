//! HTTP tests for model providers (to be written).
