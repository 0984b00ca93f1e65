//! (stub) daemon
