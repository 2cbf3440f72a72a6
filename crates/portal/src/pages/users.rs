//! Users: create, edit claims, disable, reset the password, revoke tokens, delete.

use super::*;

// ---- users ----

pub(super) fn users_page(
    portal: &Portal,
    session: &Session,
    users: Vec<ostiary_server::config::User>,
    form: Value,
) -> Response {
    let mut context = json!({"title": "Users", "users": users});
    merge(&mut context, form);
    portal.page("users.html", session, "users", context)
}

pub(super) async fn users(State(portal): State<Portal>, session: Session) -> Response {
    match portal.admin(&session).users().await {
        Ok(users) => users_page(&portal, &session, users, json!({"new_claims": "{}"})),
        Err(e) => portal.failed(e),
    }
}

pub(super) fn claims_of(text: &str) -> Result<Map<String, Value>, AdminError> {
    match serde_json::from_str::<Value>(if text.trim().is_empty() { "{}" } else { text }) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(AdminError::Invalid(
            "claims: a JSON object is needed".into(),
        )),
    }
}

pub(super) async fn create_user(
    State(portal): State<Portal>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let username = submitted
        .get("username")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let claims_text = submitted.get("claims").unwrap_or_default().to_owned();
    let created = match claims_of(&claims_text) {
        Ok(claims) => {
            let password = submitted.get("password").unwrap_or_default().to_owned();
            admin.create_user(&username, password, claims).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(_) => redirect(&format!("/admin/users/{}", path_segment(&username))),
        Err(AdminError::Invalid(why) | AdminError::Conflict(why)) => {
            let users = admin.users().await.unwrap_or_default();
            bad_request(users_page(
                &portal,
                &session,
                users,
                json!({"error": why, "new_username": username, "new_claims": claims_text}),
            ))
        }
        Err(e) => portal.failed(e),
    }
}

pub(super) fn user_page(
    portal: &Portal,
    session: &Session,
    user: &ostiary_server::config::User,
    extra: Value,
) -> Response {
    let mut context = json!({
        "title": user.username,
        "user": user,
        "claims": serde_json::to_string_pretty(&user.claims).unwrap_or_default(),
    });
    merge(&mut context, extra);
    portal.page("user.html", session, "users", context)
}

pub(super) async fn user(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
) -> Response {
    match portal.admin(&session).user(&username).await {
        Ok(user) => user_page(&portal, &session, &user, json!({})),
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn save_user(
    State(portal): State<Portal>,
    Path(username): Path<String>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let enabled = submitted.get("enabled").map(|v| v == "true");
    let saved = match submitted.get("claims").map(claims_of).transpose() {
        Ok(claims) => admin.update_user(&username, claims, enabled).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(user) => user_page(&portal, &session, &user, json!({"notice": "Saved."})),
        Err(AdminError::Invalid(why)) => match admin.user(&username).await {
            Ok(user) => bad_request(user_page(&portal, &session, &user, json!({"error": why}))),
            Err(e) => portal.failed(e),
        },
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn set_password(
    State(portal): State<Portal>,
    Path(username): Path<String>,
    Change {
        session,
        form: submitted,
    }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let password = submitted.get("password").unwrap_or_default().to_owned();
    let done = admin.set_password(&username, password).await;
    match (done, admin.user(&username).await) {
        (Ok(()), Ok(user)) => user_page(
            &portal,
            &session,
            &user,
            json!({"notice": "The password is set."}),
        ),
        (Err(AdminError::Invalid(why)), Ok(user)) => {
            bad_request(user_page(&portal, &session, &user, json!({"error": why})))
        }
        (Err(e), _) | (_, Err(e)) => portal.failed(e),
    }
}

pub(super) async fn revoke_user_tokens(
    State(portal): State<Portal>,
    Path(username): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let admin = portal.admin(&session);
    let revoked = admin.revoke_tokens(TokensOf::User(&username)).await;
    match (revoked, admin.user(&username).await) {
        (Ok(n), Ok(user)) => user_page(
            &portal,
            &session,
            &user,
            json!({"notice": format!("{n} tokens revoked.")}),
        ),
        (Err(e), _) | (_, Err(e)) => portal.failed(e),
    }
}

pub(super) async fn confirm_delete_user(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
) -> Response {
    confirm_deletion(
        &portal,
        &session,
        "users",
        format!("Delete the user {username}?"),
        "Their tokens are revoked and they can no longer sign in. This cannot be undone.",
        format!("/admin/users/{}", path_segment(&username)),
    )
}

pub(super) async fn delete_user(
    State(portal): State<Portal>,
    Path(username): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let done = portal.admin(&session).delete_user(&username).await;
    outcome(&portal, done, "/admin/users")
}
