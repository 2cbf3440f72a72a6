//! The smallest client of an authorization server: describe the server by discovery, save a
//! client configuration issued elsewhere, and get a token with the client credentials grant.
//!
//! ```sh
//! cargo run -p ostiary --example client -- http://127.0.0.1:9000/oauth2 postman-client SECRET reports:read
//! ```

use std::sync::Arc;

use ostiary_client::{Client, ClientConfiguration};
use ostiary_store::{MasterKey, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: client ISSUER CLIENT_ID CLIENT_SECRET [SCOPE]";
    let (issuer, client_id, secret) = match (args.next(), args.next(), args.next()) {
        (Some(issuer), Some(id), Some(secret)) => (issuer, id, secret),
        _ => return Err(usage.into()),
    };
    let scope = args.next();
    // Server descriptions, configurations and tokens live in a store: here, a SQLite file.
    let path =
        std::env::temp_dir().join(format!("ostiary-client-example-{}.db", std::process::id()));
    let master = MasterKey::from_text(&MasterKey::generate_text())?;
    let store = Store::open(&format!("sqlite://{}", path.display()), master).await?;
    let client = Client::new(Arc::new(store));
    client.discover(&issuer, None).await?;
    client
        .create_configuration(&ClientConfiguration {
            app: "example".into(),
            issuer,
            client_id,
            client_secret: Some(secret),
            ..Default::default()
        })
        .await?;
    let tokens = client
        .client_credentials("example", scope.as_deref(), None)
        .await?;
    println!("{}", tokens.access_token);
    drop(client);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(())
}
