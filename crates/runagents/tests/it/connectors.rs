//! HTTP tests for connectors (to be written).
