//! identity providers: use cases (to be written).
