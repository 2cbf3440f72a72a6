//! OpenID Connect Discovery 1.0 and RFC 8414 metadata, generated from the configuration; every
//! URL absolute and under the issuer.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use ostiary_core::{AuthMethod, GrantType, ProviderMetadata};
use ostiary_jose::SigAlg;

use crate::config::ServerConfig;
use crate::error::ServerResult;
use crate::properties::{ACR_PASSWORD, ACR_SESSION};
use crate::state::Server;

pub async fn openid_configuration(State(server): State<Server>) -> ServerResult<Response> {
    let config = server.config().await?;
    let body = server.discovery_body(&config, |config| {
        let document = metadata(config, server.hooks().validate_user.supported_claims());
        serde_json::to_vec(&document).unwrap_or_default().into()
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

pub async fn oauth_authorization_server(State(server): State<Server>) -> ServerResult<Response> {
    openid_configuration(State(server)).await
}

pub fn metadata(config: &ServerConfig, claims: Vec<String>) -> ProviderMetadata {
    let issuer = config.issuer_url();
    let url = |path: &str| Some(format!("{issuer}{path}"));
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let auth_methods: Vec<String> = AuthMethod::ALL
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    let sig_algs: Vec<String> = SigAlg::ALL.iter().map(|a| a.name().to_owned()).collect();
    let grants = &config.grant_types;
    let mut response_types = Vec::new();
    if grants.contains(&GrantType::AuthorizationCode) {
        response_types.push("code".to_owned());
    }
    if grants.contains(&GrantType::Implicit) {
        response_types.extend(names(&["id_token", "id_token token", "token"]));
    }
    if grants.contains(&GrantType::AuthorizationCode) && grants.contains(&GrantType::Implicit) {
        response_types.extend(names(&[
            "code id_token",
            "code token",
            "code id_token token",
        ]));
    }
    ProviderMetadata {
        authorization_endpoint: url("/authorize"),
        token_endpoint: url("/token"),
        userinfo_endpoint: url("/userinfo"),
        jwks_uri: url("/jwks"),
        registration_endpoint: (config.registration != crate::config::Registration::Off)
            .then(|| format!("{issuer}/register")),
        introspection_endpoint: url("/introspection"),
        revocation_endpoint: url("/revocation"),
        end_session_endpoint: url("/logout"),
        scopes_supported: config.scopes.iter().map(|s| s.name.clone()).collect(),
        response_types_supported: response_types,
        response_modes_supported: names(&["query", "fragment", "form_post"]),
        grant_types_supported: grants.iter().map(|g| g.as_str().to_owned()).collect(),
        subject_types_supported: names(&["public"]),
        id_token_signing_alg_values_supported: sig_algs.clone(),
        id_token_encryption_alg_values_supported: ostiary_jose::KeyAlg::ALL
            .iter()
            .filter(|k| **k != ostiary_jose::KeyAlg::Rsa1_5)
            .map(|k| k.name().to_owned())
            .collect(),
        id_token_encryption_enc_values_supported: ostiary_jose::EncAlg::ALL
            .iter()
            .map(|e| e.name().to_owned())
            .collect(),
        userinfo_signing_alg_values_supported: sig_algs.clone(),
        request_object_signing_alg_values_supported: sig_algs.clone(),
        // The server holds private keys for these (see `state::algorithms_in_use`).
        request_object_encryption_alg_values_supported: crate::state::algorithms_in_use(config)
            .into_iter()
            .filter_map(|a| match a {
                ostiary_jose::Algorithm::Key(k) => Some(k.name().to_owned()),
                _ => None,
            })
            .collect(),
        request_object_encryption_enc_values_supported: ostiary_jose::EncAlg::ALL
            .iter()
            .map(|e| e.name().to_owned())
            .collect(),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        token_endpoint_auth_signing_alg_values_supported: sig_algs,
        introspection_endpoint_auth_methods_supported: auth_methods[1..].to_vec(),
        revocation_endpoint_auth_methods_supported: auth_methods,
        claims_supported: claims,
        code_challenge_methods_supported: names(&["S256"]),
        acr_values_supported: names(&[ACR_SESSION, ACR_PASSWORD]),
        // The built-in pages are English; templates and hooks see `ui_locales` to do better.
        ui_locales_supported: names(&["en"]),
        service_documentation: config.service_documentation.clone(),
        op_policy_uri: config.op_policy_uri.clone(),
        op_tos_uri: config.op_tos_uri.clone(),
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: true,
        request_parameter_supported: true,
        request_uri_parameter_supported: true,
        frontchannel_logout_supported: config.frontchannel_logout,
        frontchannel_logout_session_supported: config.frontchannel_logout_sid,
        // Logout tokens always carry sid.
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        issuer,
    }
}
