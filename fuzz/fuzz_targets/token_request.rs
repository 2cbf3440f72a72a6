//! The token request parser: an `Authorization` header line, then a form body — the parameters,
//! the grant type, and what the client presented to authenticate (Basic, post, assertion, none).
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use ostiary_core::GrantType;
use ostiary_server::params::Params;

fuzz_target!(|data: &[u8]| {
    let (line, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(line) {
        headers.insert(AUTHORIZATION, value);
    }
    let Ok(params) = Params::parse(body) else {
        return;
    };
    let _ = params.get("grant_type").map(str::parse::<GrantType>);
    let _ = ostiary_server::client_auth::presented(&headers, &params);
});
