//! axum integration: a layer that requires a valid token (and scopes) on the routes it wraps, and
//! the `Claims` extractor that hands handlers the validated token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::bearer::{self, BearerError, Methods};
use crate::validator::{Validated, Validator};

/// How a protected route takes and checks tokens.
#[derive(Clone, Debug)]
pub struct Protected {
    pub validator: Arc<Validator>,
    /// The realm of the challenges.
    pub realm: String,
    /// Where tokens may come from (the header only by default; form bodies are not read here).
    pub methods: Methods,
    /// Refuse tokens that did not come over TLS, unless from loopback or a trusted proxy
    /// (`X-Forwarded-Proto: https`). Needs the server's connect info to know the peer.
    pub require_tls: bool,
    pub trusted_proxies: Vec<IpAddr>,
}

impl Protected {
    pub fn new(validator: Arc<Validator>) -> Self {
        Protected {
            validator,
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
    let token = match bearer::extract(
        request.headers(),
        request.uri().query(),
        None,
        protected.methods,
    ) {
        Ok(t) => t,
        Err(e) => return refuse(e),
    };
    match protected.validator.validate(&token, scopes).await {
        Ok(validated) => {
            request.extensions_mut().insert(validated);
            next.run(request).await
        }
        Err(e) => refuse(e),
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
