//! agents: use cases (to be written).
