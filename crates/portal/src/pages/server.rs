//! The server configuration, by the reference's tabs, and Rotate Keys.

use super::*;

// ---- the server configuration, by the reference's tabs ----

pub(super) const TABS: &[(&str, &str, &[&str])] = &[
    (
        "general",
        "General",
        &[
            "issuer.host",
            "issuer.port",
            "issuer.tls",
            "description",
            "grant_types",
            "return_refresh_token",
            "audience_required",
            "support_user_session",
            "allow_public_client_refresh",
            "enforce_pkce_public_clients",
            "enforce_pkce_confidential_clients",
            "frontchannel_logout",
            "frontchannel_logout_sid",
            "access_token_format",
            "self_contained_client_tokens",
            "registration",
            "trust_registered_redirect_uris",
            "fetch_private_addresses",
            "trusted_issuers",
            "service_documentation",
            "op_policy_uri",
            "op_tos_uri",
        ],
    ),
    (
        "scopes",
        "Scopes",
        &["scopes", "default_scope", "allow_unsupported_scope"],
    ),
    (
        "intervals",
        "Intervals",
        &[
            "intervals.access_token",
            "intervals.authorization_code",
            "intervals.refresh_token",
            "intervals.refresh_token_family",
            "intervals.session",
            "intervals.client_secret",
            "intervals.key_publication",
        ],
    ),
    (
        "jwt",
        "JWT Settings",
        &["jwt.signing_alg", "jwt.key_alg", "jwt.enc_alg", "jwt.x509"],
    ),
    (
        "customization",
        "Customization",
        &["customization.templates_dir"],
    ),
    (
        "limits",
        "Limits",
        &[
            "rate_limits.token_per_client",
            "rate_limits.token_per_address",
            "rate_limits.registration_per_address",
            "rate_limits.client_auth_failures_per_address",
            "trusted_proxies",
        ],
    ),
];

#[derive(serde::Deserialize)]
pub(super) struct TabQuery {
    tab: Option<String>,
}

pub(super) fn tab_of(
    query: &TabQuery,
) -> &'static (&'static str, &'static str, &'static [&'static str]) {
    TABS.iter()
        .find(|(id, _, _)| Some(*id) == query.tab.as_deref())
        .unwrap_or(&TABS[0])
}

pub(super) fn server_context(
    tab: &str,
    fields: Vec<Field>,
    error: Option<String>,
    notice: Option<&str>,
) -> Value {
    json!({
        "title": "Authorization server",
        "tabs": TABS.iter().map(|(id, label, _)| json!({"id": id, "label": label})).collect::<Vec<_>>(),
        "tab": tab,
        "fields": fields,
        "error": error,
        "notice": notice,
    })
}

pub(super) async fn server_page(
    State(portal): State<Portal>,
    session: Session,
    Query(query): Query<TabQuery>,
) -> Response {
    let (id, _, paths) = tab_of(&query);
    let config = match portal.admin(&session).server_config().await {
        Ok(config) => serde_json::to_value(config).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    let fields = paths.iter().map(|p| form::field(&config, p)).collect();
    portal.page(
        "server.html",
        &session,
        "server",
        server_context(id, fields, None, None),
    )
}

pub(super) async fn save_server(
    State(portal): State<Portal>,
    Query(query): Query<TabQuery>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let (id, _, paths) = tab_of(&query);
    let admin = portal.admin(&session);
    let current = match admin.server_config().await {
        Ok(config) => serde_json::to_value(config).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    // What was typed is shown again on a refusal, next to the field it concerns.
    let mut fields: Vec<Field> = paths
        .iter()
        .map(|p| {
            let mut field = form::field(&current, p);
            if let Some(typed) = submitted.get(p) {
                field.value = typed.to_owned();
            }
            field
        })
        .collect();
    let saved = admin
        .update_server_config(|value| {
            for path in paths.iter() {
                let Some(typed) = submitted.get(path) else {
                    continue;
                };
                let new = form::read(&current, path, typed)
                    .map_err(|why| AdminError::Invalid(format!("{path}: {why}")))?;
                set_path(value, path, new)?;
            }
            Ok(())
        })
        .await;
    match saved {
        Ok(config) => {
            let config = serde_json::to_value(config).unwrap_or_default();
            let fields = paths.iter().map(|p| form::field(&config, p)).collect();
            portal.page(
                "server.html",
                &session,
                "server",
                server_context(id, fields, None, Some("Saved.")),
            )
        }
        Err(AdminError::Invalid(why)) => {
            let placed = form::attach_error(&mut fields, &why);
            bad_request(portal.page(
                "server.html",
                &session,
                "server",
                server_context(id, fields, (!placed).then(|| why.clone()), None),
            ))
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn rotate_keys(
    State(portal): State<Portal>,
    Change { session, .. }: Change,
) -> Response {
    let done = portal.admin(&session).rotate_keys().await;
    outcome(&portal, done, "/admin/server?tab=jwt")
}
