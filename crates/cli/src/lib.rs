//! The `ostiary` command line as a library, so that tests run the same code in-process.

pub mod admin;
pub mod client;
pub mod config;
pub mod demo;
pub mod jwt;
pub mod master_key;
pub mod resource;
pub mod serve;
pub mod settings;
pub mod tls;
