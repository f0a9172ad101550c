//! connectors: use cases (to be written).
