//! The authorization server (OpenID Provider). Its endpoints, grants, hooks and pages arrive with
//! the server issues; the layout below is the plan they fill in (see research/aesthetics.md §2):
//! thin HTTP handlers in `endpoints`, the `/authorize` checks in `authorize`, one module per
//! `grant_type` in `grants`, the customization traits in `hooks`, and the storage traits the
//! server needs in `store`.

pub mod authorize;
pub mod endpoints;
pub mod grants;
pub mod hooks;
pub mod store;
