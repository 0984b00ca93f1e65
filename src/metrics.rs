//! (stub) metrics
