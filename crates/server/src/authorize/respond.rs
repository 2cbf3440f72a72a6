//! Sending the authorization response (or error) back to the client: in the query, in the fragment,
//! or as an auto-submitting form (OAuth 2.0 Form Post Response Mode), always with `iss` (RFC 9207).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::ErrorCode;
use serde::Serialize;

use super::{AuthorizeRequest, ResponseMode};
use crate::pages;

fn code_str(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The response parameters for an error.
pub fn error_params(
    request: &AuthorizeRequest,
    issuer: &str,
    error: ErrorCode,
    description: &str,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("error".to_owned(), code_str(error)),
        ("error_description".to_owned(), description.to_owned()),
    ];
    if let Some(state) = &request.state {
        params.push(("state".into(), state.clone()));
    }
    params.push(("iss".into(), issuer.to_owned()));
    params
}

/// Sends an error (`params` of [`error_params`]) to the client's redirect URI — or, for a client
/// that registered itself, shows it on a page with a link there, so that the user sees where
/// they are sent and why, and a link to this server cannot bounce them to the client's site.
pub fn send_error(
    request: &AuthorizeRequest,
    params: Vec<(String, String)>,
    templates_dir: Option<&str>,
) -> Response {
    if !request.confirm_errors {
        return send(request, params, templates_dir);
    }
    #[derive(Serialize)]
    struct Ctx<'a> {
        error: &'a str,
        description: &'a str,
        destination: &'a str,
        /// The redirect URI with the error, for query and fragment modes.
        href: Option<String>,
        /// The form's target and fields, for `form_post`.
        action: &'a str,
        params: &'a [(String, String)],
    }
    let value = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let href = carrying(request, &params);
    let html = pages::render(
        templates_dir,
        "continue.html",
        Ctx {
            error: value("error"),
            description: value("error_description"),
            destination: destination(&request.redirect_uri),
            href,
            action: &request.redirect_uri,
            params: &params,
        },
    );
    pages::page(
        StatusCode::OK,
        html,
        &pages::interaction_csp(&request.redirect_uri),
    )
}

/// Where a redirect URI leads, as a person reads it: `scheme://host[:port]`, or the whole URI
/// when it has no authority (a native app's `com.example.app:/cb`).
fn destination(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            &uri[..scheme.len() + 3 + end]
        }
        None => uri,
    }
}

/// The redirect URI with `params` in its query or fragment, per the request's response mode;
/// `None` for `form_post`, whose parameters travel in a form.
fn carrying(request: &AuthorizeRequest, params: &[(String, String)]) -> Option<String> {
    let encoded = || {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish()
    };
    let uri = &request.redirect_uri;
    match request.response_mode {
        ResponseMode::Query if uri.contains('?') => Some(format!("{uri}&{}", encoded())),
        ResponseMode::Query => Some(format!("{uri}?{}", encoded())),
        ResponseMode::Fragment => Some(format!("{uri}#{}", encoded())),
        ResponseMode::FormPost => None,
    }
}

/// Sends `params` to the client's redirect URI in the request's response mode.
pub fn send(
    request: &AuthorizeRequest,
    params: Vec<(String, String)>,
    templates_dir: Option<&str>,
) -> Response {
    match carrying(request, &params) {
        Some(location) => redirect(&location),
        None => {
            #[derive(Serialize)]
            struct Ctx<'a> {
                action: &'a str,
                params: &'a [(String, String)],
                nonce: &'a str,
            }
            let nonce = crate::issue::random_token();
            let html = pages::render(
                templates_dir,
                "form_post.html",
                Ctx {
                    action: &request.redirect_uri,
                    params: &params,
                    nonce: &nonce,
                },
            );
            // The one page with a script: this nonce's, posting only to the registered redirect URI.
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
                request.redirect_uri.replace([';', ','], "")
            );
            pages::page(StatusCode::OK, html, &csp)
        }
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
