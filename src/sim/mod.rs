//! A faithful in-process fake of the Notion API (Notion-Version 2025-09-03) and its webhook
//! sender. Powers `notion-mirror sim`, `notion-mirror demo` and every integration test.
//!
//! (Being built: see the module list.)

pub mod events;
pub mod expected;
pub mod webhook;
