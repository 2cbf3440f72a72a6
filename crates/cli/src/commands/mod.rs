//! One module per top-level subcommand. Each returns the text to print or a one-line error.

pub mod jwt;
