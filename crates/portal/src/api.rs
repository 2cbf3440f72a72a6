//! The admin JSON API, under `/admin/api`: every operation of [`Admin`] over HTTP for holders of
//! an admin API token (`Authorization: Bearer …`; `viewer` tokens read, `admin` tokens also
//! write), described by the OpenAPI document at `/admin/api/openapi.json`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use ostiary_client::{Client, ClientConfiguration, ServerDescription};
use ostiary_server::store::ServerStore;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::admin::{self, Admin, AdminError, Role, TokensOf};

type Store = Arc<dyn ServerStore>;

/// What the handlers reach: the server's store and the client runtime.
#[derive(Clone)]
struct ApiState {
    store: Store,
    client: Client,
    server: ostiary_server::Server,
}

impl FromRef<ApiState> for ostiary_server::Server {
    fn from_ref(state: &ApiState) -> ostiary_server::Server {
        state.server.clone()
    }
}

impl FromRef<ApiState> for Store {
    fn from_ref(state: &ApiState) -> Store {
        state.store.clone()
    }
}

impl FromRef<ApiState> for Client {
    fn from_ref(state: &ApiState) -> Client {
        state.client.clone()
    }
}

/// Who called: set by [`authenticate`] for the handlers.
#[derive(Clone, Debug)]
struct Caller(String);

/// A refusal of the API, as JSON `{"error", "error_description"}` with its status.
#[derive(Debug)]
enum ApiError {
    Admin(AdminError),
    Unauthenticated,
    Forbidden,
    BadRequest(String),
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError::Admin(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, description) = match self {
            ApiError::Admin(AdminError::NotFound(d)) => (StatusCode::NOT_FOUND, "not_found", d),
            ApiError::Admin(AdminError::Conflict(d)) => (StatusCode::CONFLICT, "conflict", d),
            ApiError::Admin(AdminError::Invalid(d)) | ApiError::BadRequest(d) => {
                (StatusCode::BAD_REQUEST, "invalid_request", d)
            }
            ApiError::Admin(AdminError::Failed(d)) => {
                tracing::error!(error = %d, "admin API");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the operation failed; see the server log".to_owned(),
                )
            }
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "an admin API token is needed".to_owned(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this token may only read".to_owned(),
            ),
        };
        let mut response = (
            status,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ostiary-admin\", error=\"invalid_token\""),
            );
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The API's routes, for `/admin/api`.
pub fn router(authorization_server: ostiary_server::Server, client: Client) -> Router {
    let store = authorization_server.shared_store();
    let authenticated = Router::new()
        .route(
            "/server-config",
            get(server_config).patch(update_server_config),
        )
        .route("/server-config/rotate-keys", post(rotate_keys))
        .route("/server-config/retire-keys", post(retire_keys))
        .route("/clients", get(clients).post(create_client))
        .route(
            "/clients/{client_id}",
            get(show_client).patch(update_client).delete(delete_client),
        )
        .route("/clients/{client_id}/secret", post(regenerate_secret))
        .route("/clients/{client_id}/jwks", post(update_client_jwks))
        .route("/users", get(users).post(create_user))
        .route(
            "/users/{username}",
            get(user).patch(update_user).delete(delete_user),
        )
        .route("/users/{username}/password", put(set_password))
        .route("/tokens/revoke", post(revoke_tokens))
        .route("/tokens", get(find_tokens))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route("/sessions", get(sessions))
        .route("/sessions/{sid}", delete(end_session))
        .route("/grants", get(grants))
        .route("/grants/{username}/{client_id}", delete(revoke_grant))
        .route("/registration-tokens", post(create_registration_token))
        .route("/audit", get(audit))
        .route(
            "/servers",
            get(servers).post(discover_server).put(save_server),
        )
        .route("/servers/{issuer}", get(server))
        .route("/servers/{issuer}/jwks", post(refresh_server_keys))
        .route(
            "/configurations",
            get(configurations).post(register_configuration),
        )
        .route(
            "/configurations/{app}",
            get(configuration).put(save_configuration),
        )
        .route(
            "/configurations/{app}/keys",
            post(rotate_configuration_keys),
        )
        .layer(axum::middleware::from_fn_with_state(
            store.clone(),
            authenticate,
        ));
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .merge(authenticated)
        .fallback(|| async {
            ApiError::Admin(AdminError::NotFound("no such admin API endpoint".into()))
        })
        .with_state(ApiState {
            store,
            client,
            server: authorization_server,
        })
        .layer(axum::middleware::map_response(no_store))
}

async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Admits holders of an admin API token; `viewer` tokens only read.
async fn authenticate(State(store): State<Store>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let holder = match token {
        Some(token) => admin::api_token_holder(store.as_ref(), &token).await,
        None => Ok(None),
    };
    let (name, role) = match holder {
        Ok(Some(holder)) => holder,
        Ok(None) => return ApiError::Unauthenticated.into_response(),
        Err(e) => return ApiError::Admin(e).into_response(),
    };
    if role == Role::Viewer && request.method() != Method::GET {
        return ApiError::Forbidden.into_response();
    }
    request.extensions_mut().insert(Caller(name));
    next.run(request).await
}

fn admin<'a>(store: &'a Store, caller: &'a Caller) -> Admin<'a> {
    Admin {
        store: store.as_ref(),
        actor: &caller.0,
    }
}

/// The body as a JSON object (our error, not the framework's, when it is not one).
fn object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
    }
}

/// The body, a JSON object, as `T` (serde would take an array for a struct too).
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_value(Value::Object(object(body)?))
        .map_err(|e| ApiError::BadRequest(format!("the body: {e}")))
}

fn json_of(item: &impl serde::Serialize) -> ApiResult<Json<Value>> {
    serde_json::to_value(item)
        .map(Json)
        .map_err(|e| ApiError::Admin(AdminError::Failed(e.to_string())))
}

type Authed = axum::Extension<Caller>;

async fn server_config(State(store): State<Store>, caller: Authed) -> ApiResult<Json<Value>> {
    json_of(&admin(&store, &caller).server_config().await?)
}

/// RFC 7396 merge patch of the configuration's JSON form.
async fn update_server_config(
    State(store): State<Store>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let patch = Value::Object(object(&body)?);
    let config = admin(&store, &caller)
        .update_server_config(|value| {
            if let Some(path) = admin::unknown_member(value, &patch, "") {
                return Err(AdminError::Invalid(format!("no option \"{path}\"")));
            }
            admin::merge_patch(value, &patch);
            Ok(())
        })
        .await?;
    json_of(&config)
}

async fn rotate_keys(State(store): State<Store>, caller: Authed) -> ApiResult<Json<Value>> {
    let fresh = admin(&store, &caller).rotate_keys().await?;
    Ok(Json(json!({ "new_keys": fresh })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetireKeys {
    /// Seconds since retirement.
    older_than: u64,
}

async fn retire_keys(
    State(store): State<Store>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let RetireKeys { older_than } = parse(&body)?;
    let retired = admin(&store, &caller).retire_keys(older_than).await?;
    Ok(Json(json!({ "retired": retired })))
}

async fn clients(State(store): State<Store>, caller: Authed) -> ApiResult<Json<Value>> {
    json_of(&admin(&store, &caller).clients().await?)
}

async fn create_client(
    State(store): State<Store>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = admin(&store, &caller).create_client(object(&body)?).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn show_client(
    State(store): State<Store>,
    caller: Authed,
    Path(client_id): Path<String>,
) -> ApiResult<Json<Value>> {
    json_of(&admin(&store, &caller).client(&client_id).await?)
}

async fn update_client(
    State(store): State<Store>,
    caller: Authed,
    Path(client_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let changes = object(&body)?;
    json_of(
        &admin(&store, &caller)
            .update_client(&client_id, changes)
            .await?,
    )
}

async fn delete_client(
    State(store): State<Store>,
    caller: Authed,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    admin(&store, &caller).delete_client(&client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn regenerate_secret(
    State(store): State<Store>,
    caller: Authed,
    Path(client_id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        admin(&store, &caller).regenerate_secret(&client_id).await?,
    ))
}

/// Update JWKS: the client's `jwks_uri` fetched now, and used by this node at once.
async fn update_client_jwks(
    State(server): State<ostiary_server::Server>,
    caller: Authed,
    Path(client_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = server.shared_store();
    let (uri, keys) = admin(&store, &caller)
        .update_client_jwks(&client_id)
        .await?;
    server.fetched_keys().put(&uri, keys.clone()).await;
    Ok(Json(json!({ "jwks_uri": uri, "jwks": keys })))
}

async fn users(State(store): State<Store>, caller: Authed) -> ApiResult<Json<Value>> {
    json_of(&admin(&store, &caller).users().await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    claims: Map<String, Value>,
}

async fn create_user(
    State(store): State<Store>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let NewUser {
        username,
        password,
        claims,
    } = parse(&body)?;
    let user = admin(&store, &caller)
        .create_user(&username, password, claims)
        .await?;
    Ok((StatusCode::CREATED, json_of(&user)?))
}

async fn user(
    State(store): State<Store>,
    caller: Authed,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    json_of(&admin(&store, &caller).user(&username).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChanges {
    claims: Option<Map<String, Value>>,
    enabled: Option<bool>,
}

async fn update_user(
    State(store): State<Store>,
    caller: Authed,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let UserChanges { claims, enabled } = parse(&body)?;
    json_of(
        &admin(&store, &caller)
            .update_user(&username, claims, enabled)
            .await?,
    )
}

async fn delete_user(
    State(store): State<Store>,
    caller: Authed,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    admin(&store, &caller).delete_user(&username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(store): State<Store>,
    caller: Authed,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let NewPassword { password } = parse(&body)?;
    admin(&store, &caller)
        .set_password(&username, password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeTokens {
    user: Option<String>,
    client: Option<String>,
}

async fn revoke_tokens(
    State(store): State<Store>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let of = parse::<RevokeTokens>(&body)?;
    let whose = match (&of.user, &of.client) {
        (Some(user), None) => TokensOf::User(user),
        (None, Some(client)) => TokensOf::Client(client),
        _ => return Err(ApiError::BadRequest("give user or client".into())),
    };
    let revoked = admin(&store, &caller).revoke_tokens(whose).await?;
    Ok(Json(json!({ "revoked": revoked })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRegistrationToken {
    #[serde(default = "a_day")]
    expires_in: u32,
}

fn a_day() -> u32 {
    86_400
}

async fn create_registration_token(
    State(store): State<Store>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let NewRegistrationToken { expires_in } = if body.is_empty() {
        NewRegistrationToken {
            expires_in: a_day(),
        }
    } else {
        parse(&body)?
    };
    if expires_in == 0 {
        return Err(ApiError::BadRequest("expires_in must be positive".into()));
    }
    let token = admin(&store, &caller)
        .create_registration_token(expires_in.into())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "initial_access_token": token, "expires_in": expires_in })),
    ))
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn audit(
    State(store): State<Store>,
    caller: Authed,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(AuditQuery { limit }) =
        query.map_err(|_| ApiError::BadRequest("limit must be a number".into()))?;
    json_of(
        &admin(&store, &caller)
            .audit_log(at_most_1000(limit)?)
            .await?,
    )
}

// ---- the client side: server descriptions and client configurations ----

async fn servers(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
) -> ApiResult<Json<Value>> {
    json_of(&admin(&store, &caller).server_descriptions(&client).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Discover {
    issuer: String,
    ca_file: Option<String>,
}

/// Discover and Save.
async fn discover_server(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Discover { issuer, ca_file } = parse(&body)?;
    let server = admin(&store, &caller)
        .discover_server(&client, &issuer, ca_file.as_deref())
        .await?;
    Ok((StatusCode::CREATED, json_of(&server)?))
}

/// Manual creation (or replacement) of a server description.
async fn save_server(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let server: ServerDescription = parse(&body)?;
    json_of(
        &admin(&store, &caller)
            .save_server_description(&client, server)
            .await?,
    )
}

async fn server(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    Path(issuer): Path<String>,
) -> ApiResult<Json<Value>> {
    json_of(
        &admin(&store, &caller)
            .server_description(&client, &issuer)
            .await?,
    )
}

/// UpdateJWKS.
async fn refresh_server_keys(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    Path(issuer): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        admin(&store, &caller)
            .refresh_server_keys(&client, &issuer)
            .await?,
    ))
}

#[derive(Deserialize)]
struct IssuerQuery {
    issuer: Option<String>,
}

async fn configurations(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    query: Result<Query<IssuerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(IssuerQuery { issuer }) =
        query.map_err(|_| ApiError::BadRequest("issuer must be a URL".into()))?;
    let all = admin(&store, &caller)
        .client_configurations(&client, issuer.as_deref())
        .await?;
    Ok(Json(all.iter().map(crate::relying::redacted).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    app: String,
    issuer: String,
    #[serde(default)]
    metadata: Map<String, Value>,
    initial_access_token: Option<String>,
}

/// Dynamic Registration and Save.
async fn register_configuration(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Register {
        app,
        issuer,
        metadata,
        initial_access_token,
    } = parse(&body)?;
    let config = admin(&store, &caller)
        .register_configuration(
            &client,
            &app,
            &issuer,
            metadata,
            initial_access_token.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(crate::relying::redacted(&config))))
}

async fn configuration(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let config = admin(&store, &caller)
        .client_configuration(&client, &app)
        .await?;
    Ok(Json(crate::relying::redacted(&config)))
}

#[derive(Deserialize)]
struct SaveQuery {
    #[serde(default)]
    update_registration: bool,
}

/// Save (and, with `?update_registration=true`, Update Registration) of a configuration.
async fn save_configuration(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    Path(app): Path<String>,
    query: Result<Query<SaveQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let Query(SaveQuery {
        update_registration,
    }) = query.map_err(|_| ApiError::BadRequest("update_registration is true or false".into()))?;
    let mut config: ClientConfiguration = parse(&body)?;
    config.app = app;
    let saved = admin(&store, &caller)
        .save_configuration(&client, config, update_registration)
        .await?;
    Ok(Json(crate::relying::redacted(&saved)))
}

async fn rotate_configuration_keys(
    State(store): State<Store>,
    State(client): State<Client>,
    caller: Authed,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let kids = admin(&store, &caller)
        .rotate_configuration_keys(&client, &app)
        .await?;
    Ok(Json(json!({ "new_keys": kids })))
}

// ---- sessions, grants and tokens ----

#[derive(Deserialize)]
struct Whose {
    user: Option<String>,
    client: Option<String>,
    limit: Option<usize>,
}

type WhoseQuery = Result<Query<Whose>, axum::extract::rejection::QueryRejection>;

fn whose(query: WhoseQuery) -> ApiResult<Whose> {
    query
        .map(|Query(w)| w)
        .map_err(|_| ApiError::BadRequest("user, client: text; limit: a number".into()))
}

async fn find_tokens(
    State(store): State<Store>,
    caller: Authed,
    query: WhoseQuery,
) -> ApiResult<Json<Value>> {
    let Whose {
        user,
        client,
        limit,
    } = whose(query)?;
    let found = admin(&store, &caller)
        .find_tokens(user.as_deref(), client.as_deref(), at_most_1000(limit)?)
        .await?;
    Ok(Json(Value::Array(found)))
}

async fn revoke_token(
    State(store): State<Store>,
    caller: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin(&store, &caller).revoke_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sessions(
    State(store): State<Store>,
    caller: Authed,
    query: WhoseQuery,
) -> ApiResult<Json<Value>> {
    let Whose { user, .. } = whose(query)?;
    Ok(Json(Value::Array(
        admin(&store, &caller).sessions(user.as_deref()).await?,
    )))
}

async fn end_session(
    State(store): State<Store>,
    State(server): State<ostiary_server::Server>,
    caller: Authed,
    Path(sid): Path<String>,
) -> ApiResult<StatusCode> {
    admin(&store, &caller).end_session(&sid).await?;
    crate::admin::tell_clients(&server, &sid).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn grants(
    State(store): State<Store>,
    caller: Authed,
    query: WhoseQuery,
) -> ApiResult<Json<Value>> {
    let Whose { user, .. } = whose(query)?;
    json_of(&admin(&store, &caller).grants(user.as_deref()).await?)
}

async fn revoke_grant(
    State(store): State<Store>,
    caller: Authed,
    Path((username, client_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    admin(&store, &caller)
        .revoke_grant(&username, &client_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A listing's `limit`: 100 unless given, never more than 1000.
fn at_most_1000(limit: Option<usize>) -> ApiResult<usize> {
    match limit.unwrap_or(100) {
        n if n > 1000 => Err(ApiError::BadRequest("limit is at most 1000".into())),
        n => Ok(n),
    }
}
