//! The authorization server (OpenID Provider).

pub mod config;
pub mod store;
