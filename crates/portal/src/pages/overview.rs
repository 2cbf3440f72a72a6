//! The dashboard, the audit log, and the activity page: sessions, grants and tokens.

use super::*;

// ---- dashboard and audit ----

pub(super) fn audit_rows(entries: Vec<ostiary_server::store::AuditEntry>) -> Value {
    entries
        .into_iter()
        .map(|e| {
            json!({
                "when": utc_time(e.at),
                "actor": e.actor, "action": e.action, "target": e.target,
                "detail": e.detail.to_string(),
            })
        })
        .collect()
}

/// A bar chart's geometry for a per-minute series: a bar per minute, scaled to the largest.
fn chart(id: &str, heading: &str, colour: &str, series: &[(i64, i64)]) -> Value {
    let max = series.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let bars: Vec<Value> = series
        .iter()
        .enumerate()
        .map(|(i, (minute, n))| {
            let h = n * 100 / max;
            json!({"x": i * 10, "y": 110 - h, "h": h, "n": n, "label": utc_time(*minute)})
        })
        .collect();
    let minute_of = |at: Option<&(i64, i64)>| at.map(|(m, _)| utc_time(*m)[11..16].to_owned());
    json!({
        "id": id, "heading": heading, "colour": colour, "bars": bars, "max": max,
        "first_minute": minute_of(series.first()), "last_minute": minute_of(series.last()),
    })
}

pub(super) async fn dashboard(State(portal): State<Portal>, session: Session) -> Response {
    let admin = portal.admin(&session);
    let gathered = async {
        let clients = admin.clients().await?.len();
        let users = admin.users().await?.len();
        let sessions = admin.sessions(None).await?.len();
        let issued = admin.issued_per_minute(60).await?;
        let ring = portal.store.key_ring().await?.unwrap_or_default();
        let audit = admin.audit_log(10).await?;
        Ok::<_, AdminError>((clients, users, sessions, issued, ring, audit))
    }
    .await;
    let (clients, users, sessions, issued, ring, audit) = match gathered {
        Ok(gathered) => gathered,
        Err(e) => return portal.failed(e),
    };
    // Failed logins are this node's (its metrics); tokens issued are every node's (the database).
    let failed: Vec<(i64, i64)> = portal
        .server
        .metrics()
        .history(now())
        .iter()
        .map(|m| (m.start, m.failed_logins as i64))
        .collect();
    let keys: Vec<Value> = ring
        .keys()
        .iter()
        .map(|k| {
            json!({
                "kid": k.key.kid, "alg": k.key.alg, "state": format!("{:?}", k.state).to_lowercase(),
                "age_days": (now() - k.created_at) / 86_400,
            })
        })
        .collect();
    portal.page(
        "dashboard.html",
        &session,
        "dashboard",
        json!({
            "title": "Dashboard",
            "counts": {
                "clients": clients, "users": users, "sessions": sessions,
                "issued_last_hour": issued.iter().map(|(_, n)| n).sum::<i64>(),
                "failed_last_hour": failed.iter().map(|(_, n)| n).sum::<i64>(),
            },
            "charts": [
                chart("issued-chart", "Access tokens issued per minute (last hour, UTC, all nodes)", "#2f5bd3", &issued),
                chart("failed-chart", "Failed logins per minute (last hour, UTC, this node)", "#c0392b", &failed),
            ],
            "keys": keys,
            "audit": audit_rows(audit),
        }),
    )
}

pub(super) async fn audit(State(portal): State<Portal>, session: Session) -> Response {
    match portal.admin(&session).audit_log(500).await {
        Ok(entries) => portal.page(
            "audit.html",
            &session,
            "audit",
            json!({"title": "Audit log", "audit": audit_rows(entries)}),
        ),
        Err(e) => portal.failed(e),
    }
}

// ---- sessions, grants and tokens ----

#[derive(serde::Deserialize, Default)]
pub(super) struct ActivityQuery {
    user: Option<String>,
    client: Option<String>,
}

pub(super) fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

pub(super) async fn activity(
    State(portal): State<Portal>,
    session: Session,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let admin = portal.admin(&session);
    let (user, client) = (given(&query.user), given(&query.client));
    let found = async {
        let sessions = admin.sessions(user).await?;
        let grants = admin.grants(user).await?;
        let tokens = admin.find_tokens(user, client, 200).await?;
        Ok::<_, AdminError>((sessions, grants, tokens))
    }
    .await;
    let (sessions, grants, tokens) = match found {
        Ok(found) => found,
        Err(e) => return portal.failed(e),
    };
    let now = now();
    let sessions: Vec<Value> = sessions
        .into_iter()
        .map(|mut s| {
            s["since"] = utc_time(s["auth_time"].as_i64().unwrap_or(0)).into();
            s["until"] = utc_time(s["expires_at"].as_i64().unwrap_or(0)).into();
            s
        })
        .collect();
    let tokens: Vec<Value> = tokens
        .into_iter()
        .map(|mut t| {
            t["issued"] = utc_time(t["issued_at"].as_i64().unwrap_or(0)).into();
            let state = if t["revoked"] == true {
                "revoked"
            } else if t["expires_at"].as_i64().unwrap_or(0) <= now {
                "expired"
            } else {
                "active"
            };
            t["state"] = state.into();
            t
        })
        .collect();
    portal.page(
        "activity.html",
        &session,
        "activity",
        json!({
            "title": "Activity",
            "user": user.unwrap_or_default(), "client": client.unwrap_or_default(),
            "sessions": sessions, "grants": grants, "tokens": tokens,
        }),
    )
}

pub(super) async fn end_session(
    State(portal): State<Portal>,
    Path(sid): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let done = portal.admin(&session).end_session(&sid).await;
    if done.is_ok() {
        crate::admin::tell_clients(&portal.server, &sid).await;
    }
    outcome(&portal, done, "/admin/activity")
}

pub(super) async fn revoke_grant(
    State(portal): State<Portal>,
    Path((username, client_id)): Path<(String, String)>,
    Change { session, .. }: Change,
) -> Response {
    match portal
        .admin(&session)
        .revoke_grant(&username, &client_id)
        .await
    {
        Ok(()) => redirect("/admin/activity"),
        Err(e) => portal.failed(e),
    }
}

pub(super) async fn revoke_token(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Change { session, .. }: Change,
) -> Response {
    let done = portal.admin(&session).revoke_token(&id).await;
    outcome(&portal, done, "/admin/activity")
}
