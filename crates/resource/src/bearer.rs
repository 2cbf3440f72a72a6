//! Bearer token extraction (RFC 6750 §2) and the errors a protected resource answers with
//! (RFC 6750 §3): one place that turns a refusal into its status and `WWW-Authenticate` challenge.

use std::net::IpAddr;

use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Why a request was refused (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No token at all: a bare challenge, no error code (§3.1).
    #[error("no bearer token")]
    Missing,
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    /// The token is good but lacks `scope` (space-separated, as the challenge says).
    #[error("insufficient_scope: {scope} is needed")]
    InsufficientScope { scope: String },
    /// The token could not be checked (the authorization server did not answer): 503.
    #[error("temporarily_unavailable: {0}")]
    Unavailable(String),
}

impl BearerError {
    pub fn status(&self) -> StatusCode {
        match self {
            BearerError::Missing | BearerError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            BearerError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            BearerError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            BearerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` value for `realm`.
    pub fn challenge(&self, realm: &str) -> String {
        let quote = |s: &str| s.replace(['"', '\\'], "'");
        let mut parts = vec![format!("realm=\"{}\"", quote(realm))];
        let (code, description) = match self {
            BearerError::Missing | BearerError::Unavailable(_) => {
                return format!("Bearer {}", parts.join(", "));
            }
            BearerError::InvalidRequest(d) => ("invalid_request", d.clone()),
            BearerError::InvalidToken(d) => ("invalid_token", d.clone()),
            BearerError::InsufficientScope { scope } => {
                parts.push(format!("scope=\"{}\"", quote(scope)));
                ("insufficient_scope", format!("{scope} is needed"))
            }
        };
        parts.push(format!("error=\"{code}\""));
        parts.push(format!("error_description=\"{}\"", quote(&description)));
        format!("Bearer {}", parts.join(", "))
    }

    /// The refusal as an HTTP response for `realm`.
    pub fn response(&self, realm: &str) -> Response {
        let mut response = self.status().into_response();
        if let Ok(value) = HeaderValue::from_str(&self.challenge(realm)) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        self.response("ostiary")
    }
}

/// Where a token may come from; the header only unless the configuration says more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Methods {
    pub header: bool,
    pub body: bool,
    pub query: bool,
}

impl Default for Methods {
    fn default() -> Self {
        Methods {
            header: true,
            body: false,
            query: false,
        }
    }
}

/// The token of a request: from the `Authorization` header, a form body's `access_token` or the
/// query's, as `methods` allow — exactly one of them (§2).
pub fn extract(
    headers: &HeaderMap,
    query: Option<&str>,
    form_body: Option<&[u8]>,
    methods: Methods,
) -> Result<String, BearerError> {
    let mut found = Vec::new();
    if let Some(value) = headers.get(AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                let token = token.trim();
                if token.is_empty() {
                    return Err(BearerError::InvalidRequest(
                        "the bearer token is empty".into(),
                    ));
                }
                if !methods.header {
                    return Err(BearerError::InvalidRequest(
                        "tokens are not taken from the header here".into(),
                    ));
                }
                found.push(token.to_owned());
            }
            // Another scheme (Basic, DPoP, …) is not ours to judge: as if no token came.
            _ => {}
        }
    }
    let param = |input: &[u8]| {
        form_urlencoded::parse(input)
            .filter(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
            .collect::<Vec<_>>()
    };
    for (allowed, source, what) in [
        (methods.body, form_body, "the body"),
        (methods.query, query.map(str::as_bytes), "the query"),
    ] {
        let Some(input) = source else { continue };
        let tokens = param(input);
        if tokens.is_empty() {
            continue;
        }
        if !allowed {
            return Err(BearerError::InvalidRequest(format!(
                "tokens are not taken from {what} here"
            )));
        }
        found.extend(tokens);
    }
    match found.len() {
        0 => Err(BearerError::Missing),
        1 => Ok(found.remove(0)),
        _ => Err(BearerError::InvalidRequest(
            "the token came more than once or more than one way".into(),
        )),
    }
}

/// Whether a request may carry a token: over TLS, from loopback, or through a trusted proxy that
/// says it terminated TLS (`X-Forwarded-Proto: https`).
pub fn transport_ok(
    peer: IpAddr,
    tls: bool,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> bool {
    if tls || peer.is_loopback() {
        return true;
    }
    trusted_proxies.contains(&peer)
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = authorization {
            h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_header_is_the_default_and_one_way_only() {
        let all = Methods {
            header: true,
            body: true,
            query: true,
        };
        assert_eq!(
            extract(&headers(Some("Bearer abc")), None, None, Methods::default()),
            Ok("abc".into())
        );
        assert_eq!(
            extract(
                &headers(Some("bearer  abc ")),
                None,
                None,
                Methods::default()
            ),
            Ok("abc".into())
        );
        assert_eq!(
            extract(&headers(None), None, None, Methods::default()),
            Err(BearerError::Missing)
        );
        assert_eq!(
            extract(&headers(Some("Basic eDp5")), None, None, Methods::default()),
            Err(BearerError::Missing)
        );
        assert!(matches!(
            extract(&headers(Some("Bearer ")), None, None, all),
            Err(BearerError::InvalidRequest(_))
        ));
        // Query and body only when allowed.
        assert!(matches!(
            extract(
                &headers(None),
                Some("access_token=q"),
                None,
                Methods::default()
            ),
            Err(BearerError::InvalidRequest(_))
        ));
        assert_eq!(
            extract(&headers(None), Some("access_token=q"), None, all),
            Ok("q".into())
        );
        assert_eq!(
            extract(&headers(None), None, Some(b"access_token=b&x=1"), all),
            Ok("b".into())
        );
        // RFC 6750 §2: never more than one method, nor the same parameter twice.
        for (h, q, b) in [
            (Some("Bearer a"), Some("access_token=q"), None),
            (Some("Bearer a"), None, Some(&b"access_token=b"[..])),
            (None, Some("access_token=q&access_token=r"), None),
        ] {
            assert!(
                matches!(
                    extract(&headers(h), q, b, all),
                    Err(BearerError::InvalidRequest(_))
                ),
                "{h:?} {q:?}"
            );
        }
    }

    #[test]
    fn refusals_carry_rfc_6750_challenges() {
        assert_eq!(
            BearerError::Missing.challenge("api"),
            "Bearer realm=\"api\""
        );
        assert_eq!(BearerError::Missing.status(), StatusCode::UNAUTHORIZED);
        let scope = BearerError::InsufficientScope {
            scope: "reports:read".into(),
        };
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            scope.challenge("api"),
            "Bearer realm=\"api\", scope=\"reports:read\", error=\"insufficient_scope\", error_description=\"reports:read is needed\""
        );
        let invalid = BearerError::InvalidToken("bad \"quote\"".into());
        assert!(
            invalid
                .challenge("api")
                .contains("error=\"invalid_token\", error_description=\"bad 'quote'\"")
        );
        assert_eq!(
            BearerError::InvalidRequest(String::new()).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn tokens_travel_over_tls_loopback_or_a_trusted_proxy() {
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(transport_ok(
            "127.0.0.1".parse().unwrap(),
            false,
            &HeaderMap::new(),
            &[]
        ));
        assert!(transport_ok(remote, true, &HeaderMap::new(), &[]));
        assert!(!transport_ok(remote, false, &HeaderMap::new(), &[]));
        assert!(
            !transport_ok(remote, false, &forwarded, &[proxy]),
            "only the trusted proxy may say so"
        );
        assert!(transport_ok(proxy, false, &forwarded, &[proxy]));
        assert!(!transport_ok(proxy, false, &HeaderMap::new(), &[proxy]));
    }
}
