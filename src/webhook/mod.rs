//! Webhook ingress.

pub mod signature;
