//! model providers: use cases (to be written).
