//! HTML pages (login, consent, error, form_post) from minijinja templates: the embedded defaults,
//! each overridable by a file of the same name in the configured templates directory, read at
//! render time so that an operator's change needs no restart. Every page forbids framing.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

const DEFAULTS: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("continue.html", include_str!("../templates/continue.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
];

fn environment(templates_dir: Option<&str>) -> Environment<'static> {
    let mut env = Environment::new();
    let dir = templates_dir.map(std::path::PathBuf::from);
    env.set_loader(move |name| {
        // Only plain file names: a template name never walks out of the directory.
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Ok(None);
        }
        if let Some(dir) = &dir
            && let Ok(text) = std::fs::read_to_string(dir.join(name))
        {
            return Ok(Some(text));
        }
        Ok(DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| (*t).to_owned()))
    });
    env
}

/// Renders `template` with `context`; a broken override falls back to the built-in page.
pub fn render(templates_dir: Option<&str>, template: &str, context: impl Serialize) -> String {
    let context = minijinja::Value::from(minijinja::value::Serde(&context));
    let rendered = environment(templates_dir)
        .get_template(template)
        .and_then(|t| t.render(&context));
    match rendered {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template, error = %e, "template failed; using the built-in one");
            environment(None)
                .get_template(template)
                .and_then(|t| t.render(&context))
                .unwrap_or_default()
        }
    }
}

/// An HTML response with the headers every page carries.
pub fn page(status: StatusCode, html: String, csp: &str) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The policy of the login, consent and error pages: no script at all, forms to ourselves only.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of the login and consent pages: as [`PAGE_CSP`], but the forms' answers redirect to
/// the client, and browsers apply `form-action` to those redirects too.
pub fn interaction_csp(redirect_uri: &str) -> String {
    let target = redirect_uri.replace([';', ',', ' ', '\''], "");
    PAGE_CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {target}"),
    )
}

/// The error page: for requests that must not be redirected (unknown client, bad redirect URI).
pub fn error_page(
    templates_dir: Option<&str>,
    status: StatusCode,
    error: &str,
    description: &str,
) -> Response {
    #[derive(Serialize)]
    struct Ctx<'a> {
        error: &'a str,
        description: &'a str,
    }
    page(
        status,
        render(templates_dir, "error.html", Ctx { error, description }),
        PAGE_CSP,
    )
}
