//! (stub) status
