//! Client descriptions, by the reference's tabs: create (the secret shown once), edit, regenerate the secret, revoke tokens, delete.

use super::*;

// ---- client descriptions ----

/// The members of a client description the portal edits (the rest stay as they are), by the
/// reference's tabs.
pub(super) const CLIENT_TABS: &[(&str, &[&str])] = &[
    (
        "General",
        &[
            "name",
            "client_type",
            "description",
            "redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "token_endpoint_auth_signing_alg",
            "default_scope",
            "default_max_age",
            "launch_url",
            "dynamically_registered",
        ],
    ),
    (
        "Client Information",
        &[
            "client_name",
            "logo_uri",
            "client_uri",
            "policy_uri",
            "tos_uri",
            "contacts",
        ],
    ),
    (
        "JWT Settings",
        &[
            "jwks_uri",
            "jwks",
            "x509_certificate",
            "id_token_signed_response_alg",
            "id_token_encrypted_response_alg",
            "id_token_encrypted_response_enc",
            "userinfo_signed_response_alg",
            "userinfo_encrypted_response_alg",
            "userinfo_encrypted_response_enc",
            "request_object_signing_alg",
        ],
    ),
    (
        "Logout",
        &[
            "post_logout_redirect_uris",
            "frontchannel_logout_uri",
            "frontchannel_logout_session_required",
            "backchannel_logout_uri",
            "backchannel_logout_session_required",
        ],
    ),
];

pub(super) fn client_paths() -> impl Iterator<Item = &'static str> {
    CLIENT_TABS
        .iter()
        .flat_map(|(_, paths)| paths.iter().copied())
}

/// The fields grouped by tab, for the page.
pub(super) fn client_groups(fields: Vec<Field>) -> Value {
    let mut fields = fields.into_iter();
    CLIENT_TABS
        .iter()
        .map(|(label, paths)| {
            let group: Vec<Field> = fields.by_ref().take(paths.len()).collect();
            json!({"label": label, "fields": group})
        })
        .collect()
}

pub(super) async fn clients(State(portal): State<Portal>, session: Session) -> Response {
    match portal.admin(&session).clients().await {
        Ok(clients) => portal.page(
            "clients.html",
            &session,
            "clients",
            json!({"title": "Client descriptions", "clients": clients}),
        ),
        Err(e) => portal.failed(e),
    }
}

pub(super) fn client_page(
    portal: &Portal,
    session: &Session,
    client_id: Option<&str>,
    fields: Vec<Field>,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    portal.page(
        "client.html",
        session,
        "clients",
        json!({
            "title": client_id.unwrap_or("New client description"),
            "client_id": client_id,
            "has_jwks_uri": fields.iter().any(|f| f.path == "jwks_uri" && !f.value.is_empty()),
            "groups": client_groups(fields),
            "error": error,
            "notice": notice,
        }),
    )
}

/// The defaults a new client description starts from; response types left empty follow the
/// grant types (as in registration).
pub(super) fn new_client_value() -> Value {
    let mut value = serde_json::to_value(ostiary_server::config::ClientDescription::default())
        .unwrap_or_default();
    value["response_types"] = json!([]);
    value
}

pub(super) async fn new_client(State(portal): State<Portal>, session: Session) -> Response {
    if !session.can_write() {
        return redirect("/admin/clients");
    }
    let defaults = new_client_value();
    let fields = client_paths().map(|p| form::field(&defaults, p)).collect();
    client_page(&portal, &session, None, fields, None, None)
}

/// Reads the client form against `current`: the members, and the fields as typed.
pub(super) fn read_client_form(
    current: &Value,
    submitted: &Submitted,
) -> (Result<Map<String, Value>, String>, Vec<Field>) {
    let mut fields = Vec::new();
    let mut members = Map::new();
    let mut problem = None;
    for path in client_paths() {
        let mut field = form::field(current, path);
        if let Some(typed) = submitted.get(path) {
            field.value = typed.to_owned();
            match form::read(current, path, typed) {
                Ok(value) => {
                    members.insert(path.to_owned(), value);
                }
                Err(why) => {
                    field.error = Some(why.clone());
                    problem.get_or_insert(why);
                }
            }
        }
        fields.push(field);
    }
    (problem.map_or(Ok(members), Err), fields)
}

pub(super) fn refused_form(
    portal: &Portal,
    session: &Session,
    client_id: Option<&str>,
    mut fields: Vec<Field>,
    why: String,
) -> Response {
    let placed = form::attach_error(&mut fields, &why);
    bad_request(client_page(
        portal,
        session,
        client_id,
        fields,
        (!placed).then_some(why),
        None,
    ))
}

pub(super) async fn create_client(
    State(portal): State<Portal>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let (members, fields) = read_client_form(&new_client_value(), &submitted);
    let mut metadata = match members {
        Ok(members) => members,
        Err(_) => {
            return refused_form(
                &portal,
                &session,
                None,
                fields,
                "Check the marked fields.".into(),
            );
        }
    };
    // Left empty: the registration defaults apply.
    metadata.retain(|_, v| !v.is_null() && v != &json!([]) && v != &json!(""));
    match portal.admin(&session).create_client(metadata).await {
        Ok(created) => {
            let client_id = created["client_id"].as_str().unwrap_or_default();
            match created.get("client_secret").and_then(Value::as_str) {
                Some(secret) => portal.page(
                    "secret.html",
                    &session,
                    "clients",
                    json!({"title": "Client secret", "client_id": client_id, "client_secret": secret}),
                ),
                None => redirect(&format!("/admin/clients/{}", path_segment(client_id))),
            }
        }
        Err(AdminError::Invalid(why) | AdminError::Conflict(why)) => {
            refused_form(&portal, &session, None, fields, why)
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn show_client(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
) -> Response {
    match portal.admin(&session).client(&client_id).await {
        Ok(client) => {
            let value = serde_json::to_value(client).unwrap_or_default();
            let fields = client_paths().map(|p| form::field(&value, p)).collect();
            client_page(&portal, &session, Some(&client_id), fields, None, None)
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn save_client(
    State(portal): State<Portal>,
    Path(client_id): Path<String>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let current = match admin.client(&client_id).await {
        Ok(client) => serde_json::to_value(client).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    let (members, fields) = read_client_form(&current, &submitted);
    let changes = match members {
        Ok(members) => members,
        Err(_) => {
            return refused_form(
                &portal,
                &session,
                Some(&client_id),
                fields,
                "Check the marked fields.".into(),
            );
        }
    };
    match admin.update_client(&client_id, changes).await {
        Ok(client) => {
            let value = serde_json::to_value(client).unwrap_or_default();
            let fields = client_paths().map(|p| form::field(&value, p)).collect();
            client_page(
                &portal,
                &session,
                Some(&client_id),
                fields,
                None,
                Some("Saved."),
            )
        }
        Err(AdminError::Invalid(why)) => {
            refused_form(&portal, &session, Some(&client_id), fields, why)
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn regenerate_secret(
    State(portal): State<Portal>,
    Path(client_id): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    match portal.admin(&session).regenerate_secret(&client_id).await {
        Ok(renewed) => portal.page(
            "secret.html",
            &session,
            "clients",
            json!({"title": "Client secret", "client_id": client_id, "client_secret": renewed["client_secret"]}),
        ),
        Err(e) => portal.failed(e),
    }
}

/// Update JWKS: the client's `jwks_uri` fetched now, and used by this node at once.
pub(super) async fn update_client_jwks(
    State(portal): State<Portal>,
    Path(client_id): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let client = match admin.client(&client_id).await {
        Ok(client) => serde_json::to_value(client).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    let fields = client_paths().map(|p| form::field(&client, p)).collect();
    match admin.update_client_jwks(&client_id).await {
        Ok((uri, keys)) => {
            portal.server.fetched_keys().put(&uri, keys.clone()).await;
            let kids: Vec<&str> = keys.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
            let notice = format!(
                "Fetched {} key(s) from {uri}: {}.",
                keys.keys.len(),
                if kids.is_empty() {
                    "none has a kid".to_owned()
                } else {
                    kids.join(", ")
                }
            );
            client_page(
                &portal,
                &session,
                Some(&client_id),
                fields,
                None,
                Some(&notice),
            )
        }
        Err(AdminError::Invalid(why)) => bad_request(client_page(
            &portal,
            &session,
            Some(&client_id),
            fields,
            Some(why),
            None,
        )),
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn revoke_client_tokens(
    State(portal): State<Portal>,
    Path(client_id): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let admin = portal.admin(&session);
    if let Err(e) = admin.client(&client_id).await {
        return portal.failed(e);
    }
    match admin.revoke_tokens(TokensOf::Client(&client_id)).await {
        Ok(_) => redirect(&format!("/admin/clients/{}", path_segment(&client_id))),
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn confirm_delete_client(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
) -> Response {
    confirm_deletion(
        &portal,
        &session,
        "clients",
        format!("Delete the client description {client_id}?"),
        "Its tokens are revoked and it can no longer sign in or get tokens. This cannot be undone.",
        format!("/admin/clients/{}", path_segment(&client_id)),
    )
}

pub(super) async fn delete_client(
    State(portal): State<Portal>,
    Path(client_id): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let done = portal.admin(&session).delete_client(&client_id).await;
    outcome(&portal, done, "/admin/clients")
}
