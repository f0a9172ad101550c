//! api_key
