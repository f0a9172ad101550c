//! HTTP tests for agents (to be written).
