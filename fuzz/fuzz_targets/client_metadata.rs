//! The client metadata validator: any JSON as dynamic registration metadata (RFC 7591) and as an
//! administrator's, then the checks a stored client description passes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ostiary_server::config::ServerConfig;
use ostiary_server::registration::{Registrant, check, client_from_metadata};

static CONFIG: LazyLock<ServerConfig> = LazyLock::new(ServerConfig::default);

fuzz_target!(|data: &[u8]| {
    let Ok(metadata) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data)
    else {
        return;
    };
    for registrant in [Registrant::Dynamic, Registrant::Admin] {
        if let Ok(client) = client_from_metadata(&CONFIG, metadata.clone(), registrant, 0) {
            let _ = check(&client);
            let _ = client.validate();
        }
    }
});
