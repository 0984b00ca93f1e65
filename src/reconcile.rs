//! (stub) reconcile
