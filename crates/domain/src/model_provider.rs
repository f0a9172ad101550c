//! model_provider
