//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1), checked in the order
//! that keeps redirects safe: nothing may redirect before the client and its redirect URI are
//! known good (RFC 6749 §4.1.2.1); after that, errors go back to the client.

pub mod request_object;
pub mod respond;

use ostiary_core::{ErrorCode, GrantType};
use serde::{Deserialize, Serialize};

use crate::config::{ClientDescription, ServerConfig};
use crate::grants::resolve_scope;
use crate::params::Params;

/// A validated authorization request: what the interaction pages carry between steps.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: String,
    pub response_mode: ResponseMode,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `id_token_hint`: an ID token of the user the client expects (OpenID Connect Core §3.1.2.1).
    #[serde(default)]
    pub id_token_hint: Option<String>,
    /// The `claims` parameter (OpenID Connect Core §5.5), when given.
    #[serde(default)]
    pub claims: Option<serde_json::Value>,
    /// `aud`, when the server configuration requires it.
    #[serde(default)]
    pub aud: Option<String>,
    /// Errors wait on a page for the user to continue: the client registered itself
    /// ([`ClientDescription::dynamically_registered`]) and the configuration does not trust such
    /// clients' redirect URIs, so this server must not bounce users to a site nobody vetted at an
    /// attacker's link (RFC 9700 §4.11.2).
    #[serde(default)]
    pub confirm_errors: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// Why a request stops, and where the answer goes.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI is not trusted: show a page, never redirect.
    Render {
        error: ErrorCode,
        description: String,
    },
    /// The redirect URI is good: send the error there.
    Redirect {
        to: Box<AuthorizeRequest>,
        error: ErrorCode,
        description: String,
    },
}

fn render(error: ErrorCode, description: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Render {
        error,
        description: description.into(),
    }
}

/// Whether `requested` is the registered redirect URI `registered`: the same string (RFC 9700
/// §4.1.3), or, for a native app's loopback redirect (`http://127.0.0.1…` or `http://[::1]…`),
/// the same string but for the port, which the app picks when it starts listening (RFC 8252
/// §7.3). Strings, not parsed URLs: a parser's normalizing (dot segments, case, escapes) would
/// let through what differs.
fn is_registered(registered: &str, requested: &str) -> bool {
    fn without_loopback_port(uri: &str) -> Option<(&str, &str)> {
        let host = ["http://127.0.0.1", "http://[::1]"]
            .into_iter()
            .find(|host| uri.starts_with(host))?;
        let rest = &uri[host.len()..];
        let rest = match rest.strip_prefix(':') {
            Some(port) => {
                let digits = port.bytes().take_while(u8::is_ascii_digit).count();
                if !(1..=5).contains(&digits) {
                    return None;
                }
                &port[digits..]
            }
            None => rest,
        };
        rest.starts_with(['/', '?']).then_some((host, rest))
    }
    registered == requested
        || without_loopback_port(registered)
            .is_some_and(|r| without_loopback_port(requested) == Some(r))
}

/// Validates `params` for `client` (None when unknown) against the server configuration.
pub fn validate(
    config: &ServerConfig,
    client: Option<&ClientDescription>,
    params: &Params,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| render(ErrorCode::InvalidRequest, "client_id is missing"))?;
    let client = client.ok_or_else(|| render(ErrorCode::InvalidClient, "unknown client"))?;
    // SECURITY: exact string match with a registered URI (RFC 9700 §4.1.3), before any redirect.
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| is_registered(r, uri)) => uri.to_owned(),
        Some(_) => {
            return Err(render(
                ErrorCode::InvalidRequest,
                "redirect_uri is not registered for this client",
            ));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(render(ErrorCode::InvalidRequest, "redirect_uri is missing")),
    };
    let response_type = normalize_response_type(params.get("response_type").unwrap_or_default());
    let response_mode = match params.get("response_mode") {
        Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some("fragment") => ResponseMode::Fragment,
        // OAuth 2.0 Multiple Response Type Encoding Practices §5: tokens travel in the fragment.
        _ if response_type.as_deref().is_some_and(|t| t != "code") => ResponseMode::Fragment,
        _ => ResponseMode::Query,
    };
    let mut request = AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri,
        response_type: response_type.clone().unwrap_or_default(),
        response_mode,
        scope: String::new(),
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: params.get("code_challenge").map(str::to_owned),
        code_challenge_method: params.get("code_challenge_method").map(str::to_owned),
        prompt: params
            .get("prompt")
            .map(|p| {
                p.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        max_age: None,
        login_hint: params.get("login_hint").map(str::to_owned),
        id_token_hint: params.get("id_token_hint").map(str::to_owned),
        claims: None,
        aud: params.get("aud").map(str::to_owned),
        confirm_errors: client.dynamically_registered && !config.trust_registered_redirect_uris,
    };
    let redirect = |request: &AuthorizeRequest, error: ErrorCode, description: &str| {
        AuthorizeError::Redirect {
            to: Box::new(request.clone()),
            error,
            description: description.to_owned(),
        }
    };
    if let Some(mode) = params.get("response_mode")
        && !["query", "fragment", "form_post"].contains(&mode)
    {
        return Err(redirect(
            &request,
            ErrorCode::InvalidRequest,
            "unsupported response_mode",
        ));
    }
    let Some(response_type) = response_type else {
        let (error, why) = match params.get("response_type") {
            None => (ErrorCode::InvalidRequest, "response_type is missing"),
            Some(_) => (
                ErrorCode::UnsupportedResponseType,
                "unsupported response_type",
            ),
        };
        return Err(redirect(&request, error, why));
    };
    let parts: Vec<&str> = response_type.split(' ').collect();
    let wants_code = parts.contains(&"code");
    let wants_implicit = parts.iter().any(|p| *p != "code");
    let allowed = |grant: GrantType| {
        config.grant_types.contains(&grant) && client.grant_types.contains(&grant)
    };
    if (wants_code && !allowed(GrantType::AuthorizationCode))
        || (wants_implicit && !allowed(GrantType::Implicit))
    {
        return Err(redirect(
            &request,
            ErrorCode::UnauthorizedClient,
            "the client may not use this response_type",
        ));
    }
    if !client
        .response_types
        .iter()
        .any(|r| normalize_response_type(r).as_deref() == Some(response_type.as_str()))
    {
        return Err(redirect(
            &request,
            ErrorCode::UnauthorizedClient,
            "the client did not register this response_type",
        ));
    }
    if wants_implicit && request.response_mode == ResponseMode::Query {
        return Err(redirect(
            &request,
            ErrorCode::InvalidRequest,
            "tokens are never sent in the query",
        ));
    }
    match resolve_scope(config, client, params.get("scope")) {
        Ok(scope) => request.scope = scope.to_string(),
        Err(_) => {
            return Err(redirect(
                &request,
                ErrorCode::InvalidScope,
                "a requested scope is not supported",
            ));
        }
    }
    match (
        &request.code_challenge,
        request.code_challenge_method.as_deref(),
    ) {
        (None, _) if !request.response_type.split(' ').any(|p| p == "code") => {}
        (None, _) => {
            let required = if client.is_confidential() {
                config.enforce_pkce_confidential_clients
            } else {
                config.enforce_pkce_public_clients
            };
            if required {
                return Err(redirect(
                    &request,
                    ErrorCode::InvalidRequest,
                    "code_challenge is required (PKCE)",
                ));
            }
            if request.code_challenge_method.is_some() {
                return Err(redirect(
                    &request,
                    ErrorCode::InvalidRequest,
                    "code_challenge_method without code_challenge",
                ));
            }
        }
        (Some(challenge), method) => {
            // SECURITY: S256 only (RFC 9700 §2.1.1): `plain`, which a missing method means
            // (RFC 7636 §4.3), gives away the verifier to whoever sees the request.
            if method != Some("S256") {
                return Err(redirect(
                    &request,
                    ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256",
                ));
            }
            let ok = (43..=128).contains(&challenge.len())
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !ok {
                return Err(redirect(
                    &request,
                    ErrorCode::InvalidRequest,
                    "malformed code_challenge",
                ));
            }
            request.code_challenge_method = Some("S256".to_owned());
        }
    }
    if request
        .prompt
        .iter()
        .any(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
        || (request.prompt.iter().any(|p| p == "none") && request.prompt.len() > 1)
    {
        return Err(redirect(
            &request,
            ErrorCode::InvalidRequest,
            "invalid prompt",
        ));
    }
    if let Some(max_age) = params.get("max_age") {
        match max_age.parse::<i64>() {
            Ok(v) if v >= 0 => request.max_age = Some(v),
            _ => {
                return Err(redirect(
                    &request,
                    ErrorCode::InvalidRequest,
                    "max_age is a number of seconds",
                ));
            }
        }
    } else {
        request.max_age = client.default_max_age.map(|v| v as i64);
    }
    if request.response_type.split(' ').any(|p| p == "id_token") {
        if !request.scope.split(' ').any(|s| s == "openid") {
            return Err(redirect(
                &request,
                ErrorCode::InvalidScope,
                "an ID token needs the openid scope",
            ));
        }
        // OpenID Connect Core §3.2.2.1, §3.3.2.11: implicit and hybrid requests carry a nonce.
        if request.nonce.is_none() {
            return Err(redirect(
                &request,
                ErrorCode::InvalidRequest,
                "nonce is required",
            ));
        }
    }
    if let Some(text) = params.get("claims") {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map))
                if map.iter().all(|(k, v)| {
                    ["userinfo", "id_token"].contains(&k.as_str()) && v.is_object()
                }) =>
            {
                request.claims = Some(serde_json::Value::Object(map));
            }
            _ => {
                return Err(redirect(
                    &request,
                    ErrorCode::InvalidRequest,
                    "claims must be a JSON object of userinfo and id_token requests",
                ));
            }
        }
    }
    if config.audience_required && request.aud.is_none() {
        return Err(redirect(
            &request,
            ErrorCode::InvalidRequest,
            "aud is required by this server",
        ));
    }
    Ok(request)
}

/// The response type as a canonical set (`code id_token token` order), if it is one this server
/// answers: `code`, `token`, `id_token`, and their hybrid combinations (OAuth 2.0 Multiple Response
/// Type Encoding Practices §3, §5).
pub fn normalize_response_type(text: &str) -> Option<String> {
    let mut parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    parts.sort_by_key(|p| match *p {
        "code" => 0,
        "id_token" => 1,
        "token" => 2,
        _ => 3,
    });
    parts.dedup();
    let normalized = parts.join(" ");
    const SUPPORTED: [&str; 7] = [
        "code",
        "id_token",
        "token",
        "code id_token",
        "code token",
        "id_token token",
        "code id_token token",
    ];
    SUPPORTED
        .contains(&normalized.as_str())
        .then_some(normalized)
}
