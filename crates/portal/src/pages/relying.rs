//! The client side: server descriptions and client configurations.

use super::*;

// ---- the client side: server descriptions and client configurations ----

/// The members of a client configuration the portal edits (secrets and keys have their own
/// controls).
pub(super) const CONFIGURATION_FIELDS: &[&str] = &[
    "client_id",
    "kind",
    "redirect_uri",
    "post_logout_redirect_uri",
    "frontchannel_logout_uri",
    "backchannel_logout_uri",
    "grant_types",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "default_scope",
    "default_max_age",
    "client_name",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
];

pub(super) fn when(at: i64) -> String {
    if at == 0 {
        "never (given by hand)".into()
    } else {
        utc_time(at)
    }
}

/// The list of server descriptions, with `extra` (a refused form's error and input).
pub(super) async fn servers_page(portal: &Portal, session: &Session, extra: Value) -> Response {
    let servers = match portal
        .admin(session)
        .server_descriptions(&portal.client)
        .await
    {
        Ok(servers) => servers,
        Err(e) => return portal.failed(e),
    };
    let servers: Vec<Value> = servers
        .into_iter()
        .map(|s| {
            let keys_fetched = when(s.jwks_fetched_at);
            let mut row = serde_json::to_value(s).unwrap_or_default();
            row["keys_fetched"] = keys_fetched.into();
            row
        })
        .collect();
    let mut context =
        json!({"title": "Server descriptions", "servers": servers, "manual": MANUAL_EXAMPLE});
    merge(&mut context, extra);
    let refused = context.get("error").is_some_and(|e| !e.is_null());
    let response = portal.page("servers.html", session, "servers", context);
    if refused {
        bad_request(response)
    } else {
        response
    }
}

pub(super) const MANUAL_EXAMPLE: &str = r#"{
  "issuer": "https://as.example/oauth2",
  "metadata": {
    "issuer": "https://as.example/oauth2",
    "authorization_endpoint": "https://as.example/oauth2/authorize",
    "token_endpoint": "https://as.example/oauth2/token"
  },
  "jwks": null
}"#;

pub(super) async fn servers(State(portal): State<Portal>, session: Session) -> Response {
    servers_page(&portal, &session, json!({})).await
}

pub(super) fn view_of(issuer: &str) -> String {
    format!("/admin/servers/view?issuer={}", path_segment(issuer))
}

pub(super) async fn discover_server(
    State(portal): State<Portal>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let issuer = submitted
        .get("issuer")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let ca_file = submitted
        .get("ca_file")
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let discovered = portal
        .admin(&session)
        .discover_server(&portal.client, &issuer, ca_file)
        .await;
    match discovered {
        Ok(server) => redirect(&view_of(&server.issuer)),
        Err(AdminError::Invalid(why) | AdminError::NotFound(why)) => {
            servers_page(
                &portal,
                &session,
                json!({"error": why, "issuer": issuer, "ca_file": ca_file}),
            )
            .await
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn save_server_manually(
    State(portal): State<Portal>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let text = submitted.get("description").unwrap_or_default().to_owned();
    let saved = match serde_json::from_str::<ostiary_client::ServerDescription>(&text) {
        Ok(server) => {
            portal
                .admin(&session)
                .save_server_description(&portal.client, server)
                .await
        }
        Err(e) => Err(AdminError::Invalid(format!("the description: {e}"))),
    };
    match saved {
        Ok(server) => redirect(&view_of(&server.issuer)),
        Err(AdminError::Invalid(why)) => {
            servers_page(&portal, &session, json!({"error": why, "manual": text})).await
        }
        Err(e) => portal.failed(e),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct IssuerQuery {
    issuer: String,
}

pub(super) async fn server_view_page(
    portal: &Portal,
    session: &Session,
    issuer: &str,
    extra: Value,
) -> Response {
    let admin = portal.admin(session);
    let server = match admin.server_description(&portal.client, issuer).await {
        Ok(server) => server,
        Err(e) => return portal.failed(e),
    };
    let configurations = match admin
        .client_configurations(&portal.client, Some(issuer))
        .await
    {
        Ok(all) => all,
        Err(e) => return portal.failed(e),
    };
    let metadata = serde_json::to_value(&server.metadata).unwrap_or_default();
    let endpoints: Vec<(String, String)> = metadata
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| k.ends_with("_endpoint") || k.ends_with("_uri") && v.is_string())
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let kids: Vec<String> = server
        .keys()
        .keys
        .iter()
        .filter_map(|k| k.kid.clone())
        .collect();
    let mut context = json!({
        "title": server.issuer,
        "server": server,
        "endpoints": endpoints,
        "kids": kids,
        "keys_fetched": when(server.jwks_fetched_at),
        "configurations": configurations.iter().map(crate::relying::redacted).collect::<Vec<_>>(),
        "metadata": "{\n  \"grant_types\": [\"client_credentials\"]\n}",
    });
    let refused = extra.get("error").is_some();
    merge(&mut context, extra);
    let response = portal.page("server_view.html", session, "servers", context);
    if refused {
        bad_request(response)
    } else {
        response
    }
}

pub(super) async fn server_view(
    State(portal): State<Portal>,
    session: Session,
    Query(IssuerQuery { issuer }): Query<IssuerQuery>,
) -> Response {
    server_view_page(&portal, &session, &issuer, json!({})).await
}

pub(super) async fn refresh_server_keys(
    State(portal): State<Portal>,
    Query(IssuerQuery { issuer }): Query<IssuerQuery>,
    Change { session, .. }: Change,
) -> Response {
    match portal
        .admin(&session)
        .refresh_server_keys(&portal.client, &issuer)
        .await
    {
        Ok(_) => {
            server_view_page(
                &portal,
                &session,
                &issuer,
                json!({"notice": "The server's keys are fetched again."}),
            )
            .await
        }
        Err(AdminError::Invalid(why)) => {
            server_view_page(&portal, &session, &issuer, json!({"error": why})).await
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) fn configuration_path(app: &str) -> String {
    format!("/admin/configurations/{}", path_segment(app))
}

pub(super) async fn register_configuration(
    State(portal): State<Portal>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let issuer = submitted.get("issuer").unwrap_or_default().to_owned();
    let app = submitted.get("app").unwrap_or_default().trim().to_owned();
    let metadata_text = submitted.get("metadata").unwrap_or_default().to_owned();
    let token = submitted
        .get("initial_access_token")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let registered = match claims_of(&metadata_text) {
        Ok(metadata) => {
            portal
                .admin(&session)
                .register_configuration(&portal.client, &app, &issuer, metadata, token)
                .await
        }
        Err(_) => Err(AdminError::Invalid(
            "metadata: a JSON object is needed".into(),
        )),
    };
    match registered {
        Ok(config) => redirect(&configuration_path(&config.app)),
        Err(AdminError::Invalid(why) | AdminError::Conflict(why)) => {
            server_view_page(
                &portal,
                &session,
                &issuer,
                json!({"error": why, "app": app, "metadata": metadata_text}),
            )
            .await
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn create_configuration(
    State(portal): State<Portal>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let issuer = submitted.get("issuer").unwrap_or_default().to_owned();
    let secret = submitted.get("client_secret").filter(|s| !s.is_empty());
    let config = ostiary_client::ClientConfiguration {
        app: submitted.get("app").unwrap_or_default().trim().to_owned(),
        issuer: issuer.clone(),
        client_id: submitted
            .get("client_id")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        client_secret: secret.map(str::to_owned),
        token_endpoint_auth_method: match secret {
            Some(_) => ostiary_core::AuthMethod::ClientSecretBasic,
            None => ostiary_core::AuthMethod::None,
        },
        ..Default::default()
    };
    let app = config.app.clone();
    match portal
        .admin(&session)
        .save_configuration(&portal.client, config, false)
        .await
    {
        Ok(saved) => redirect(&configuration_path(&saved.app)),
        Err(AdminError::Invalid(why)) => {
            server_view_page(
                &portal,
                &session,
                &issuer,
                json!({"error": why, "app": app}),
            )
            .await
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) fn configuration_page(
    portal: &Portal,
    session: &Session,
    config: &ostiary_client::ClientConfiguration,
    fields: Vec<Field>,
    extra: Value,
) -> Response {
    let kids: Vec<String> = config
        .public_keys()
        .map(|k| k.keys.iter().filter_map(|k| k.kid.clone()).collect())
        .unwrap_or_default();
    let mut context = json!({
        "title": config.app,
        "app": config.app,
        "issuer": config.issuer,
        "registered": config.registration_client_uri.is_some(),
        "fields": fields,
        "kids": kids,
    });
    let refused = extra.get("error").is_some();
    merge(&mut context, extra);
    let response = portal.page("configuration.html", session, "servers", context);
    if refused {
        bad_request(response)
    } else {
        response
    }
}

pub(super) fn configuration_fields(config: &ostiary_client::ClientConfiguration) -> Vec<Field> {
    let value = serde_json::to_value(config).unwrap_or_default();
    CONFIGURATION_FIELDS
        .iter()
        .map(|p| form::field(&value, p))
        .collect()
}

pub(super) async fn configuration(
    State(portal): State<Portal>,
    session: Session,
    Path(app): Path<String>,
) -> Response {
    match portal
        .admin(&session)
        .client_configuration(&portal.client, &app)
        .await
    {
        Ok(config) => {
            let fields = configuration_fields(&config);
            configuration_page(&portal, &session, &config, fields, json!({}))
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn save_configuration(
    State(portal): State<Portal>,
    Path(app): Path<String>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let current = match admin.client_configuration(&portal.client, &app).await {
        Ok(config) => config,
        Err(e) => return portal.failed(e),
    };
    let current_value = serde_json::to_value(&current).unwrap_or_default();
    let mut value = current_value.clone();
    let mut fields = configuration_fields(&current);
    let mut problem = None;
    for field in &mut fields {
        let Some(typed) = submitted.get(&field.path) else {
            continue;
        };
        field.value = typed.to_owned();
        match form::read(&current_value, &field.path, typed) {
            Ok(new) => {
                let _ = set_path(&mut value, &field.path, new);
            }
            Err(why) => {
                field.error = Some(why.clone());
                problem.get_or_insert(why);
            }
        }
    }
    if let Some(secret) = submitted.get("new_secret").filter(|s| !s.is_empty()) {
        value["client_secret"] = secret.into();
    }
    let update = submitted.get("then") == Some("update");
    let saved = match (
        problem,
        serde_json::from_value::<ostiary_client::ClientConfiguration>(value),
    ) {
        (Some(why), _) => Err(AdminError::Invalid(why)),
        (None, Err(e)) => Err(AdminError::Invalid(e.to_string())),
        (None, Ok(config)) => {
            admin
                .save_configuration(&portal.client, config, update)
                .await
        }
    };
    match saved {
        Ok(config) => {
            let fields = configuration_fields(&config);
            let notice = if update {
                "Saved, and the registration updated."
            } else {
                "Saved."
            };
            configuration_page(
                &portal,
                &session,
                &config,
                fields,
                json!({"notice": notice}),
            )
        }
        Err(AdminError::Invalid(why)) => {
            let placed = form::attach_error(&mut fields, &why);
            let error = if placed {
                "Check the marked fields.".to_owned()
            } else {
                why
            };
            configuration_page(&portal, &session, &current, fields, json!({"error": error}))
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn rotate_configuration_keys(
    State(portal): State<Portal>,
    Path(app): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    match portal
        .admin(&session)
        .rotate_configuration_keys(&portal.client, &app)
        .await
    {
        Ok(_) => redirect(&configuration_path(&app)),
        Err(AdminError::Invalid(why)) => match portal
            .admin(&session)
            .client_configuration(&portal.client, &app)
            .await
        {
            Ok(config) => {
                let fields = configuration_fields(&config);
                configuration_page(&portal, &session, &config, fields, json!({"error": why}))
            }
            Err(e) => portal.failed(e),
        },
        Err(e) => portal.failed(e),
    }
}
