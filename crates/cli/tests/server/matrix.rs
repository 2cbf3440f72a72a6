//! Every grant × every client authentication method × every access token format, on both engines.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{Algorithm, EncAlg, Jwk, JwkSet, KeyAlg, SigAlg};
use ostiary_server::config::{AccessTokenFormat, ServerConfig};
use ostiary_server::issue::token_hash;
use ostiary_server::store::{CodeRecord, TokenStore as _};
use serde_json::Value;

use crate::harness::{Backend, TestServer, client_secret_key};

#[derive(Clone, Copy, Debug)]
enum Format {
    Opaque,
    SignedJwt,
    SignedAndEncryptedJwt,
}

fn configure(format: Format) -> impl FnOnce(&mut ServerConfig) {
    move |c| match format {
        Format::Opaque => {}
        Format::SignedJwt => {
            c.access_token_format = AccessTokenFormat::Jwt;
            c.jwt.signing_alg = Some(SigAlg::ES256);
        }
        Format::SignedAndEncryptedJwt => {
            c.access_token_format = AccessTokenFormat::Jwt;
            c.jwt.signing_alg = Some(SigAlg::RS256);
            c.jwt.key_alg = Some(KeyAlg::RsaOaep256);
            c.jwt.enc_alg = Some(EncAlg::A256Gcm);
        }
    }
}

/// The credentials a client of `method` adds to a request.
struct Credentials {
    id: String,
    method: AuthMethod,
    secret: Option<String>,
    signing: JwkSet,
}

impl Credentials {
    fn apply(
        &self,
        server: &TestServer,
        form: &mut Vec<(String, String)>,
        jti: &str,
    ) -> Option<(String, String)> {
        let mut push = |k: &str, v: String| form.push((k.to_owned(), v));
        match self.method {
            AuthMethod::ClientSecretBasic => {
                return Some((self.id.clone(), self.secret.clone().unwrap()));
            }
            AuthMethod::ClientSecretPost => {
                push("client_id", self.id.clone());
                push("client_secret", self.secret.clone().unwrap());
            }
            AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt => {
                let (keys, alg) = if self.method == AuthMethod::ClientSecretJwt {
                    (
                        client_secret_key(self.secret.as_deref().unwrap()),
                        SigAlg::HS256,
                    )
                } else {
                    (self.signing.clone(), SigAlg::ES256)
                };
                push(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                );
                push(
                    "client_assertion",
                    server.assertion(&self.id, &keys, alg, jti, 60),
                );
            }
            AuthMethod::None => push("client_id", self.id.clone()),
        }
        None
    }
}

async fn token(
    server: &TestServer,
    creds: &Credentials,
    mut form: Vec<(String, String)>,
    jti: &str,
) -> Value {
    let basic = creds.apply(server, &mut form, jti);
    let mut request = server.http.post(server.url("/token")).form(&form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{:?} {form:?}: {body}", creds.method);
    body
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn run(backend: Backend, format: Format) {
    let server = TestServer::start_with(backend, configure(format)).await;
    server.user("alice", "alice-password").await;
    let encryption = Jwk::generate(Algorithm::Key(KeyAlg::RsaOaep256)).unwrap();
    let signing = JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap());
    let client_keys = JwkSet::new(vec![signing.keys[0].clone(), encryption.clone()]);
    let server_keys = server.jwks().await;
    let all = [
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::JwtBearer,
        GrantType::AuthorizationCode,
    ];

    for (n, method) in AuthMethod::ALL.into_iter().enumerate() {
        let id = format!("client{n}");
        let grants: Vec<GrantType> = if method == AuthMethod::None {
            vec![GrantType::Password, GrantType::AuthorizationCode]
        } else {
            all.to_vec()
        };
        let secret = server
            .client(&id, method, &grants, Some(&client_keys.public()))
            .await;
        let creds = Credentials {
            id: id.clone(),
            method,
            secret: secret.clone(),
            signing: signing.clone(),
        };
        let mut issued = Vec::new();

        if method != AuthMethod::None {
            issued.push(
                token(
                    &server,
                    &creds,
                    pairs(&[("grant_type", "client_credentials")]),
                    &format!("{id}-cc"),
                )
                .await,
            );
        }
        let password = token(
            &server,
            &creds,
            pairs(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
                ("scope", "openid"),
            ]),
            &format!("{id}-pw"),
        )
        .await;
        if method != AuthMethod::None {
            let refresh = password["refresh_token"].as_str().unwrap().to_owned();
            issued.push(
                token(
                    &server,
                    &creds,
                    vec![
                        ("grant_type".into(), "refresh_token".into()),
                        ("refresh_token".into(), refresh),
                    ],
                    &format!("{id}-rt"),
                )
                .await,
            );
            // The grant assertion is signed with the client's key (or its secret for client_secret_jwt).
            let now = ostiary::settings::now();
            let claims = serde_json::json!({"iss": id, "sub": "alice", "aud": server.issuer, "exp": now + 60, "jti": format!("{id}-grant")});
            let (keys, alg) = match method {
                AuthMethod::ClientSecretJwt => {
                    (client_secret_key(secret.as_deref().unwrap()), SigAlg::HS256)
                }
                _ => (signing.clone(), SigAlg::ES256),
            };
            let opts = ostiary_jose::EncodeOptions {
                sig_alg: Some(alg),
                ..Default::default()
            };
            let assertion =
                ostiary_jose::encode(claims.as_object().unwrap(), &opts, &keys, None).unwrap();
            // Clients without client_secret_jwt sign grant assertions with their registered key.
            issued.push(
                token(
                    &server,
                    &creds,
                    vec![
                        (
                            "grant_type".into(),
                            "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                        ),
                        ("assertion".into(), assertion),
                    ],
                    &format!("{id}-jb"),
                )
                .await,
            );
        }
        issued.push(password);
        let code = format!("code-{id}");
        let now = ostiary::settings::now();
        server
            .store
            .insert_code(&CodeRecord {
                hash: token_hash(&code),
                client_id: id.clone(),
                redirect_uri: "https://app.example/cb".into(),
                username: "alice".into(),
                scope: "openid".into(),
                nonce: None,
                code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
                code_challenge_method: Some("S256".into()),
                auth_time: now,
                grant_id: format!("grant-{id}"),
                expires_at: now + 60,
                extra: Default::default(),
            })
            .await
            .unwrap();
        issued.push(
            token(
                &server,
                &creds,
                pairs(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://app.example/cb"),
                    (
                        "code_verifier",
                        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                    ),
                ]),
                &format!("{id}-code"),
            )
            .await,
        );

        for response in issued {
            let access = response["access_token"].as_str().unwrap();
            let record = server
                .store
                .token(&token_hash(access))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(record.client_id, id);
            match format {
                Format::Opaque => assert_eq!(access.split('.').count(), 1),
                Format::SignedJwt => {
                    let decoded = ostiary_jose::decode(
                        access,
                        &JwkSet::default(),
                        &server_keys,
                        &Default::default(),
                    )
                    .unwrap();
                    assert_eq!(decoded.claims["client_id"], id.as_str());
                }
                Format::SignedAndEncryptedJwt => {
                    let mine = JwkSet::from(encryption.clone());
                    let decoded =
                        ostiary_jose::decode(access, &mine, &server_keys, &Default::default())
                            .unwrap();
                    assert_eq!(decoded.security.keyalg, Some(KeyAlg::RsaOaep256));
                    assert_eq!(decoded.security.sigalg, Some(SigAlg::RS256));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grant_auth_method_and_format_on_sqlite() {
    for format in [
        Format::Opaque,
        Format::SignedJwt,
        Format::SignedAndEncryptedJwt,
    ] {
        run(Backend::Sqlite, format).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grant_auth_method_and_format_on_postgres() {
    for format in [
        Format::Opaque,
        Format::SignedJwt,
        Format::SignedAndEncryptedJwt,
    ] {
        run(Backend::Postgres, format).await;
    }
}
