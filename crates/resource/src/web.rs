//! axum integration: a layer that requires a valid token (and scopes) on the routes it wraps, and
//! the `Claims` extractor that hands handlers the validated token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::bearer::{self, BearerError, Methods};
use crate::check::TokenCheck;
use crate::validator::Validated;

/// The largest form body read for an `access_token` member.
const MAX_FORM_BODY: usize = 64 * 1024;

/// How a protected route takes and checks tokens.
#[derive(Clone, Debug)]
pub struct Protected {
    /// A [`Validator`](crate::Validator), an [`Introspector`](crate::Introspector), or a
    /// [`ResourceServer`](crate::ResourceServer) that picks one by the token's shape.
    pub check: Arc<dyn TokenCheck>,
    /// The realm of the challenges.
    pub realm: String,
    /// Where tokens may come from (the header only by default).
    pub methods: Methods,
    /// Refuse tokens that did not come over TLS, unless from loopback or a trusted proxy
    /// (`X-Forwarded-Proto: https`). Needs the server's connect info to know the peer.
    pub require_tls: bool,
    pub trusted_proxies: Vec<IpAddr>,
}

impl Protected {
    pub fn new(check: Arc<dyn TokenCheck>) -> Self {
        Protected {
            check,
            realm: "ostiary".into(),
            methods: Methods::default(),
            require_tls: true,
            trusted_proxies: Vec::new(),
        }
    }
}

/// What [`guard`] needs: how to check tokens, and the scopes the wrapped routes require.
pub type Requirement = (Protected, &'static [&'static str]);

/// Middleware for the routes it wraps: each request needs a valid token granting the scopes of
/// the [`Requirement`]; use it as
/// `axum::middleware::from_fn_with_state((protected, &["reports:read"]), guard)`.
pub async fn guard(
    State((protected, scopes)): State<Requirement>,
    mut request: Request,
    next: Next,
) -> Response {
    let realm = protected.realm.clone();
    let refuse = |e: BearerError| e.response(&realm);
    if protected.require_tls {
        // The application serves plain HTTP (TLS, if any, is a proxy's): only the peer tells.
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ok = peer.is_some_and(|ip| {
            bearer::transport_ok(ip, false, request.headers(), &protected.trusted_proxies)
        });
        if !ok {
            return refuse(BearerError::InvalidRequest(
                "bearer tokens are accepted over TLS only".into(),
            ));
        }
    }
    // RFC 6750 §2.2: a form-encoded body, when allowed; read whole, then handed on unchanged.
    let mut form_body = None;
    if protected.methods.body && is_form(&request) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BODY).await else {
            return refuse(BearerError::InvalidRequest("the body is too large".into()));
        };
        form_body = Some(bytes.clone());
        request = Request::from_parts(parts, Body::from(bytes));
    }
    let token = match bearer::extract(
        request.headers(),
        request.uri().query(),
        form_body.as_deref(),
        protected.methods,
    ) {
        Ok(t) => t,
        Err(e) => return refuse(e),
    };
    match protected.check.check(&token, scopes).await {
        Ok(validated) => {
            request.extensions_mut().insert(validated);
            request.extensions_mut().insert(BearerToken(token));
            next.run(request).await
        }
        Err(e) => refuse(e),
    }
}

/// A single-part form body (§2.2 rules out GET, which has no body to speak of).
fn is_form(request: &Request) -> bool {
    request.method() != Method::GET
        && request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
}

/// The token itself, as the request carried it (put there by [`guard`]): for a handler that
/// calls another API on the user's behalf, or asks userinfo.
#[derive(Clone, Debug)]
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<BearerToken>()
            .cloned()
            .ok_or_else(|| BearerError::Missing.into_response())
    }
}

/// A handler's view of the validated token (put there by [`guard`]).
#[derive(Clone, Debug)]
pub struct Claims(pub Validated);

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Validated>()
            .cloned()
            .map(Claims)
            .ok_or_else(|| BearerError::Missing.into_response())
    }
}

/// `Option<Claims>`: for handlers that serve routes with and without [`guard`].
impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Validated>().cloned().map(Claims))
    }
}
