//! The OpenAPI 3.1 document of the admin JSON API (served at `/admin/api/openapi.json`). Written
//! out by hand next to the routes of `api.rs`; the API tests check every path of it against the
//! router, so the two cannot drift apart unnoticed.

use serde_json::{Map, Value, json};

/// One operation: its summary, request body schema (if any), success status and response schema.
fn operation(
    id: &str,
    summary: &str,
    body: Option<Value>,
    status: &str,
    response: Option<Value>,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "responses": {
            status: match response {
                Some(schema) => json!({"description": "done", "content": {"application/json": {"schema": schema}}}),
                None => json!({"description": "done"}),
            },
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
            "409": {"$ref": "#/components/responses/Error"},
        },
    });
    if let Some(schema) = body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        });
    }
    op
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": schema(name)})
}

fn path_parameter(name: &str) -> Value {
    json!([{"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}])
}

pub fn document() -> Value {
    let object = json!({"type": "object"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ostiary admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every configuration item of the authorization server. Authenticate with an admin API token (`ostiary admin api-token create NAME`); `viewer` tokens may only GET. Every change is written to the audit log.",
        },
        "servers": [{"url": "/admin/api"}],
        "security": [{"bearer": []}],
        "paths": paths(&object),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {"description": "refused", "content": {"application/json": {"schema": schema("Error")}}},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error", "error_description"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}},
                "ServerConfig": {"type": "object", "required": ["issuer", "scopes", "intervals", "jwt"]},
                "Client": {"type": "object", "required": ["client_id", "client_type", "grant_types"]},
                "ClientMetadata": {"type": "object",
                    "description": "RFC 7591 / OpenID registration metadata plus Ostiary's own fields (client_type, description, …)"},
                "ServerDescription": {"type": "object", "required": ["issuer", "metadata"],
                    "properties": {"issuer": {"type": "string"}, "metadata": {"type": "object"}, "ca_file": {"type": ["string", "null"]},
                                   "jwks": {"type": ["object", "null"]}, "jwks_fetched_at": {"type": "integer"}}},
                "ClientConfiguration": {"type": "object", "required": ["issuer", "client_id"],
                    "description": "issuer, client_id, client_secret, kind (confidential | public | resource), redirect_uri, grant_types, token_endpoint_auth_method, …"},
                "User": {"type": "object", "required": ["username", "claims", "enabled"],
                    "properties": {"username": {"type": "string"}, "claims": {"type": "object"}, "enabled": {"type": "boolean"}}},
                "AuditEntry": {"type": "object", "required": ["at", "actor", "action", "target", "detail"],
                    "properties": {"at": {"type": "integer"}, "actor": {"type": "string"}, "action": {"type": "string"},
                                   "target": {"type": "string"}, "detail": {}}},
            },
        },
    })
}

fn paths(object: &Value) -> Value {
    let mut all = Map::new();
    for part in [
        paths_1(object),
        paths_2(object),
        paths_3(object),
        paths_4(object),
    ] {
        if let Value::Object(part) = part {
            all.extend(part);
        }
    }
    Value::Object(all)
}

/// Paths of the document, part 1 (one `json!` each: the macro's recursion has a limit).
fn paths_1(object: &Value) -> Value {
    json!({
            "/server-config": {
                "get": operation("getServerConfig", "The server configuration", None, "200", Some(schema("ServerConfig"))),
                "patch": operation("patchServerConfig", "Change the server configuration (RFC 7396 merge patch); nothing is saved unless the result is valid", Some(config_patch()), "200", Some(schema("ServerConfig"))),
            },
            "/server-config/rotate-keys": {
                "post": operation("rotateKeys", "Rotate Keys: a new current key per algorithm", None, "200", Some(object.clone())),
            },
            "/server-config/retire-keys": {
                "post": operation("retireKeys", "Remove keys retired at least older_than seconds ago",
                    Some(json!({"type": "object", "required": ["older_than"], "additionalProperties": false,
                        "properties": {"older_than": {"type": "integer", "minimum": 0}}})),
                    "200", Some(object.clone())),
            },
            "/clients": {
                "get": operation("listClients", "Client descriptions", None, "200", Some(list_of("Client"))),
                "post": operation("createClient", "Create a client description from registration metadata; the secret is shown once", Some(schema("ClientMetadata")), "201", Some(object.clone())),
            },
            "/clients/{client_id}": {
                "parameters": path_parameter("client_id"),
                "get": operation("getClient", "One client description", None, "200", Some(schema("Client"))),
                "patch": operation("patchClient", "Change members of a client description", Some(object.clone()), "200", Some(schema("Client"))),
                "delete": operation("deleteClient", "Delete a client description and revoke its tokens", None, "204", None),
            },
            "/clients/{client_id}/secret": {
                "parameters": path_parameter("client_id"),
                "post": operation("regenerateSecret", "A new client secret, shown once", None, "200", Some(object.clone())),
            },
            "/clients/{client_id}/jwks": {
                "parameters": path_parameter("client_id"),
                "post": operation("updateClientJwks", "Update JWKS: fetch the client's jwks_uri now; this node uses the keys at once, others within five minutes or at the first signature they cannot verify", None, "200", Some(object.clone())),
            },
    })
}

/// Paths of the document, part 2 (one `json!` each: the macro's recursion has a limit).
fn paths_2(object: &Value) -> Value {
    json!({
            "/users": {
                "get": operation("listUsers", "Users", None, "200", Some(list_of("User"))),
                "post": operation("createUser", "Create a user",
                    Some(json!({"type": "object", "required": ["username", "password"], "additionalProperties": false,
                        "properties": {"username": {"type": "string", "minLength": 1, "pattern": "^\\S+$"},
                                       "password": {"type": "string", "minLength": 1},
                                       "claims": {"type": "object"}}})),
                    "201", Some(schema("User"))),
            },
            "/users/{username}": {
                "parameters": path_parameter("username"),
                "get": operation("getUser", "One user", None, "200", Some(schema("User"))),
                "patch": operation("patchUser", "Replace a user's claims and/or enable or disable them (a disabled user's tokens are revoked)",
                    Some(json!({"type": "object", "additionalProperties": false,
                        "properties": {"claims": {"type": ["object", "null"]}, "enabled": {"type": ["boolean", "null"]}}})),
                    "200", Some(schema("User"))),
                "delete": operation("deleteUser", "Delete a user and revoke their tokens", None, "204", None),
            },
            "/users/{username}/password": {
                "parameters": path_parameter("username"),
                "put": operation("setPassword", "Set a user's password",
                    Some(json!({"type": "object", "required": ["password"], "additionalProperties": false,
                        "properties": {"password": {"type": "string", "minLength": 1}}})),
                    "204", None),
            },
            "/tokens/revoke": {
                "post": operation("revokeTokens", "Revoke every token of a user or of a client",
                    Some(json!({"type": "object", "additionalProperties": false,
                        "properties": {"user": {"type": "string"}, "client": {"type": "string"}},
                        "oneOf": [{"required": ["user"]}, {"required": ["client"]}]})),
                    "200", Some(json!({"type": "object", "properties": {"revoked": {"type": "integer"}}}))),
            },
            "/tokens": {
                "get": {
                    "operationId": "findTokens",
                    "summary": "Access and refresh tokens of a user and/or a client, newest first (each named by id, never the token)",
                    "parameters": [
                        {"name": "user", "in": "query", "required": false, "schema": {"type": "string"}},
                        {"name": "client", "in": "query", "required": false, "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 1000}},
                    ],
                    "responses": {
                        "200": {"description": "done", "content": {"application/json": {"schema": {"type": "array", "items": object.clone()}}}},
                        "400": {"$ref": "#/components/responses/Error"},
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
            "/tokens/{id}/revoke": {
                "parameters": path_parameter("id"),
                "post": operation("revokeToken", "Revoke one token (a refresh token with its family)", None, "204", None),
            },
    })
}

/// Paths of the document, part 3 (one `json!` each: the macro's recursion has a limit).
fn paths_3(object: &Value) -> Value {
    json!({
            "/sessions": {
                "get": {
                    "operationId": "listSessions",
                    "summary": "Active login sessions, of one user when given",
                    "parameters": [{"name": "user", "in": "query", "required": false, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "done", "content": {"application/json": {"schema": {"type": "array", "items": object.clone()}}}},
                        "400": {"$ref": "#/components/responses/Error"},
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
            "/sessions/{sid}": {
                "parameters": path_parameter("sid"),
                "delete": operation("endSession", "End a login session and revoke the tokens issued through it", None, "204", None),
            },
            "/grants": {
                "get": {
                    "operationId": "listGrants",
                    "summary": "Consents users gave clients, of one user when given",
                    "parameters": [{"name": "user", "in": "query", "required": false, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "done", "content": {"application/json": {"schema": {"type": "array", "items": object.clone()}}}},
                        "400": {"$ref": "#/components/responses/Error"},
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
            "/grants/{username}/{client_id}": {
                "parameters": [
                    {"name": "username", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}},
                    {"name": "client_id", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}},
                ],
                "delete": operation("revokeGrant", "Forget a consent: the client must ask again", None, "204", None),
            },
            "/registration-tokens": {
                "post": optional_body(operation("createRegistrationToken", "An initial access token for dynamic registration, shown once (a day unless expires_in says otherwise)",
                    Some(json!({"type": "object", "additionalProperties": false,
                        "properties": {"expires_in": {"type": "integer", "minimum": 1, "maximum": 4_294_967_295_u64}}})),
                    "201", Some(object.clone()))),
            },
            "/servers": {
                "get": operation("listServerDescriptions", "Server descriptions of the client runtime, with how many client configurations each has", None, "200", Some(json!({"type": "array", "items": object.clone()}))),
                "post": operation("discoverServer", "Discover and Save: read an issuer's metadata and keys",
                    Some(json!({"type": "object", "required": ["issuer"], "additionalProperties": false,
                        "properties": {"issuer": {"type": "string", "format": "uri"}, "ca_file": {"type": "string"}}})),
                    "201", Some(schema("ServerDescription"))),
                "put": operation("saveServerDescription", "Manual creation of a server description", Some(schema("ServerDescription")), "200", Some(schema("ServerDescription"))),
            },
    })
}

/// Paths of the document, part 4 (one `json!` each: the macro's recursion has a limit).
fn paths_4(object: &Value) -> Value {
    json!({
            "/servers/{issuer}": {
                "parameters": path_parameter("issuer"),
                "get": operation("getServerDescription", "One server description", None, "200", Some(schema("ServerDescription"))),
            },
            "/servers/{issuer}/jwks": {
                "parameters": path_parameter("issuer"),
                "post": operation("refreshServerKeys", "UpdateJWKS: fetch the server's keys again", None, "200", Some(object.clone())),
            },
            "/configurations": {
                "get": {
                    "operationId": "listClientConfigurations",
                    "summary": "Client configurations (secrets left out), of one server description when issuer is given",
                    "parameters": [{"name": "issuer", "in": "query", "required": false, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "done", "content": {"application/json": {"schema": {"type": "array", "items": object.clone()}}}},
                        "400": {"$ref": "#/components/responses/Error"},
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                },
                "post": operation("registerClientConfiguration", "Dynamic Registration and Save",
                    Some(json!({"type": "object", "required": ["app", "issuer"], "additionalProperties": false,
                        "properties": {"app": {"type": "string", "minLength": 1}, "issuer": {"type": "string"},
                                       "metadata": {"type": "object"}, "initial_access_token": {"type": "string"}}})),
                    "201", Some(object.clone())),
            },
            "/configurations/{app}": {
                "parameters": path_parameter("app"),
                "get": operation("getClientConfiguration", "One client configuration (secrets left out)", None, "200", Some(object.clone())),
                "put": {
                    "operationId": "saveClientConfiguration",
                    "summary": "Save a client configuration; Save and Update Registration with update_registration=true",
                    "parameters": [{"name": "update_registration", "in": "query", "required": false, "schema": {"type": "boolean"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": schema("ClientConfiguration")}}},
                    "responses": {
                        "200": {"description": "done", "content": {"application/json": {"schema": object.clone()}}},
                        "400": {"$ref": "#/components/responses/Error"},
                        "401": {"$ref": "#/components/responses/Error"},
                        "403": {"$ref": "#/components/responses/Error"},
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
            "/configurations/{app}/keys": {
                "parameters": path_parameter("app"),
                "post": operation("rotateClientConfigurationKeys", "Rotate Keys of a client configuration", None, "200", Some(object.clone())),
            },
            "/audit": {
                "get": {
                    "operationId": "auditLog",
                    "summary": "Who changed what, newest first",
                    "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 1000}}],
                    "responses": {
                        "200": {"description": "done", "content": {"application/json": {"schema": list_of("AuditEntry")}}},
                        "400": {"$ref": "#/components/responses/Error"},
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
    })
}

/// A merge patch of the server configuration: its own members only (each checked on saving).
fn config_patch() -> Value {
    let defaults =
        serde_json::to_value(ostiary_server::config::ServerConfig::default()).unwrap_or_default();
    let members: Map<String, Value> = defaults
        .as_object()
        .map(|m| m.keys().map(|k| (k.clone(), json!({}))).collect())
        .unwrap_or_default();
    json!({"type": "object", "additionalProperties": false, "properties": members})
}

/// The operation, its request body optional.
fn optional_body(mut op: Value) -> Value {
    op["requestBody"]["required"] = false.into();
    op
}
