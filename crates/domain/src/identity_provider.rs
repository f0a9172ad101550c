//! identity_provider
