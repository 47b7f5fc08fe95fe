//! JSON (placeholder)
