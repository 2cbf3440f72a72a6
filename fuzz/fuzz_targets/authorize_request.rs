//! The authorization request parser: any query string, validated for a registered client (code and
//! implicit grants, two redirect URIs) against the default configuration.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ostiary_server::config::{ClientDescription, ClientType, ServerConfig};
use ostiary_server::params::Params;

static CONFIG: LazyLock<ServerConfig> = LazyLock::new(ServerConfig::default);
static CLIENT: LazyLock<ClientDescription> = LazyLock::new(|| ClientDescription {
    client_id: "app".into(),
    client_type: ClientType::Public,
    redirect_uris: vec![
        "https://app.example/cb".into(),
        "http://127.0.0.1/cb".into(),
    ],
    ..Default::default()
});

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse(data) else {
        return;
    };
    let _ = ostiary_server::authorize::validate(&CONFIG, Some(&CLIENT), &params);
    let _ = ostiary_server::authorize::validate(&CONFIG, None, &params);
    if let Some(response_type) = params.get("response_type") {
        let _ = ostiary_server::authorize::normalize_response_type(response_type);
    }
});
