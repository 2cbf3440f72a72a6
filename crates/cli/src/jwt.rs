//! `ostiary jwt keygen | encode | decode`: the JOSE layer for scripts and other implementations.
//! Claims and tokens come on stdin; keys come from files (a JWK Set, a single JWK, or PEM).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use ostiary_jose::{Algorithm, DecodeOptions, EncAlg, EncodeOptions, Jwk, JwkSet, KeyAlg, SigAlg};
use serde_json::{Value, json};

/// Environment variable holding the password of an encrypted PEM key file.
const KEY_PASSWORD_ENV: &str = "OSTIARY_KEY_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum JwtCommand {
    /// Print a private JWK Set with one new key for ALG (kid = RFC 7638 thumbprint).
    Keygen {
        /// A JWS alg (RS256, ES256, EdDSA, HS256, …), a JWE key management alg (RSA-OAEP,
        /// ECDH-ES+A128KW, A256KW, …) or a content encryption alg for a `dir` key (A256GCM, …).
        #[arg(long)]
        alg: String,
        /// RSA modulus size in bits (2048, 3072 or 4096).
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Curve for ECDH-ES keys (P-256, P-384, P-521).
        #[arg(long)]
        crv: Option<String>,
    },
    /// Read claims (a JSON object) on stdin and print the compact token.
    Encode {
        /// Signer's keys: a JWK Set, a JWK or a PEM file.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// Signature algorithm; `none` makes an unsigned token.
        #[arg(long)]
        alg: Option<String>,
        /// Content encryption algorithm: encrypts the (signed) token.
        #[arg(long, requires_all = ["key_alg", "recipient_jwks"])]
        enc: Option<String>,
        /// Key management algorithm for encryption.
        #[arg(long, requires = "enc")]
        key_alg: Option<String>,
        /// Recipient's keys for encryption.
        #[arg(long, requires = "enc")]
        recipient_jwks: Option<PathBuf>,
        /// `typ` header (default JWT).
        #[arg(long)]
        typ: Option<String>,
        /// Extra header parameters as a JSON object (never overriding registered ones).
        #[arg(long)]
        header: Option<String>,
        /// Allow RSA1_5 key encryption (for old peers only).
        #[arg(long)]
        allow_rsa1_5: bool,
    },
    /// Read a compact token on stdin and print its header, claims and algorithms.
    Decode {
        /// Keys to decrypt with (private) and verify with (public or private).
        #[arg(long)]
        jwks: PathBuf,
        /// Accept `alg: none` and encrypted-but-unsigned tokens.
        #[arg(long)]
        allow_unsigned: bool,
        /// Accept RSA1_5 key encryption.
        #[arg(long)]
        allow_rsa1_5: bool,
    },
}

pub fn run(cmd: JwtCommand) -> Result<String, String> {
    match cmd {
        JwtCommand::Keygen { alg, bits, crv } => keygen(&alg, bits, crv.as_deref()),
        JwtCommand::Encode {
            jwks,
            alg,
            enc,
            key_alg,
            recipient_jwks,
            typ,
            header,
            allow_rsa1_5,
        } => {
            let signer = jwks
                .as_deref()
                .map(read_keys)
                .transpose()?
                .unwrap_or_default();
            let recipient = recipient_jwks.as_deref().map(read_keys).transpose()?;
            let (sig_alg, allow_unsigned) = match alg.as_deref() {
                None => (None, false),
                Some("none") => (None, true),
                Some(name) => (Some(parse::<SigAlg>(name)?), false),
            };
            if sig_alg.is_some() && signer.is_empty() {
                return Err("--alg needs --jwks with a signing key".into());
            }
            if sig_alg.is_none() && !allow_unsigned && enc.is_none() {
                return Err(
                    "give --alg to sign, --enc to encrypt, or --alg none for an unsigned token"
                        .into(),
                );
            }
            let custom = match header {
                None => Default::default(),
                Some(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(map)) => map,
                    _ => return Err("--header must be a JSON object".into()),
                },
            };
            let opts = EncodeOptions {
                sig_alg,
                key_alg: key_alg.as_deref().map(parse::<KeyAlg>).transpose()?,
                enc: enc.as_deref().map(parse::<EncAlg>).transpose()?,
                typ,
                custom,
                allow_unsigned,
                allow_rsa1_5,
                ..Default::default()
            };
            let claims = match serde_json::from_str::<Value>(&read_stdin()?) {
                Ok(Value::Object(map)) => map,
                _ => return Err("the claims on stdin must be a JSON object".into()),
            };
            ostiary_jose::encode(&claims, &opts, &signer, recipient.as_ref())
                .map_err(|e| e.to_string())
        }
        JwtCommand::Decode {
            jwks,
            allow_unsigned,
            allow_rsa1_5,
        } => {
            let keys = read_keys(&jwks)?;
            let opts = DecodeOptions {
                allow_unsigned,
                allow_rsa1_5,
                ..Default::default()
            };
            let token = read_stdin()?;
            let decoded = ostiary_jose::decode(token.trim(), &keys, &keys, &opts)
                .map_err(|e| e.to_string())?;
            let security = &decoded.security;
            Ok(json!({
                "header": decoded.header,
                "claims": decoded.claims,
                "security": {
                    "sigalg": security.sigalg.map(|a| a.name()),
                    "keyalg": security.keyalg.map(|a| a.name()),
                    "encalg": security.encalg.map(|a| a.name()),
                },
            })
            .to_string())
        }
    }
}

fn keygen(alg: &str, bits: usize, crv: Option<&str>) -> Result<String, String> {
    let alg: Algorithm = parse(alg)?;
    let key = match (alg, crv) {
        (Algorithm::Key(k), Some(crv)) if k.name().starts_with("ECDH-ES") => {
            let curve = match crv {
                "P-256" => ostiary_jose::Curve::P256,
                "P-384" => ostiary_jose::Curve::P384,
                "P-521" => ostiary_jose::Curve::P521,
                other => {
                    return Err(format!(
                        "unsupported curve \"{other}\" (P-256, P-384, P-521)"
                    ));
                }
            };
            Jwk::generate_ec(curve, alg)
        }
        (_, Some(_)) => return Err("--crv applies to ECDH-ES keys only".into()),
        (Algorithm::Sig(s), None) if s.name().starts_with("RS") || s.name().starts_with("PS") => {
            Jwk::generate_rsa(bits, alg)
        }
        (Algorithm::Key(k), None) if k.name().starts_with("RSA") => Jwk::generate_rsa(bits, alg),
        _ => Jwk::generate(alg),
    }
    .map_err(|e| e.to_string())?;
    Ok(JwkSet::from(key).to_json())
}

fn parse<T: std::str::FromStr<Err = ostiary_jose::JoseError>>(name: &str) -> Result<T, String> {
    name.parse()
        .map_err(|e: ostiary_jose::JoseError| e.to_string())
}

/// Reads a key file: a JWK Set, a single JWK, or PEM (password from `OSTIARY_KEY_PASSWORD`).
fn read_keys(path: &Path) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let in_file = |e: ostiary_jose::JoseError| format!("{}: {e}", path.display());
    if text.trim_start().starts_with("-----BEGIN") {
        let password = std::env::var(KEY_PASSWORD_ENV).ok();
        return Jwk::from_pem(&text, password.as_deref().map(str::as_bytes))
            .map(JwkSet::from)
            .map_err(in_file);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(obj)) if obj.contains_key("keys") => {
            JwkSet::from_object(obj).map_err(in_file)
        }
        Ok(Value::Object(obj)) => Jwk::from_object(obj).map(JwkSet::from).map_err(in_file),
        _ => Err(format!(
            "{}: not a JWK Set, a JWK or a PEM file",
            path.display()
        )),
    }
}

fn read_stdin() -> Result<String, String> {
    let mut input = String::new();
    std::io::stdin()
        .take(16 * 1024 * 1024)
        .read_to_string(&mut input)
        .map_err(|e| format!("stdin: {e}"))?;
    Ok(input)
}
