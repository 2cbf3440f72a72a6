//! The management portal and the admin JSON API for every configuration item. `admin` is the one
//! implementation behind them and `ostiary admin`: each operation checked, applied and audited.

pub mod admin;
pub mod api;
mod openapi;

pub use admin::{Admin, AdminError, AdminResult, TokensOf};
