//! (stub) notion
