//! The authorization server over real HTTP: `ostiary serve` started in-process on a random
//! loopback port, on SQLite and on PostgreSQL, driven with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_api;
mod authorize;
mod bad_input;
mod client_keys;
mod client_runtime;
mod crash;
mod demo;
mod endpoints;
mod harness;
mod interop;
mod limits;
mod logout;
mod matrix;
mod nodes;
mod portal;
mod registration;
mod request_object;
mod resource;
mod rolling;
mod token;
