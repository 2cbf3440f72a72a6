//! The bearer token extractor (RFC 6750 §2): an `Authorization` header line, a query line and a
//! form body, with every method allowed.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use ostiary_resource::bearer::{Methods, extract};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (line, query, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(line) {
        headers.insert(AUTHORIZATION, value);
    }
    let query = std::str::from_utf8(query).ok();
    let every = Methods {
        header: true,
        body: true,
        query: true,
    };
    let _ = extract(&headers, query, Some(body), every);
    let _ = extract(&headers, query, Some(body), Methods::default());
});
