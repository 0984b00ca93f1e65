//! (stub) fetch
