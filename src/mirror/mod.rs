//! (stub) mirror
