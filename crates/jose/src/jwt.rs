//! Encoding and decoding JWTs (RFC 7519): signed, encrypted, or signed then encrypted (nested,
//! `cty: "JWT"`), with the header handling of the reference's ObjectToJWT / JWTToObject.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alg::{EncAlg, KeyAlg, SigAlg};
use crate::encoding::json_object;
use crate::error::{JoseError, Result};
use crate::header::{self, Header, REGISTERED};
use crate::jwe::{self, JweLimits};
use crate::jwk::KeyOp;
use crate::jwks::JwkSet;
use crate::jws;

/// How to protect a token. At least one of signing and encryption is required, unless the caller
/// asks for an unsigned token explicitly.
#[derive(Clone, Debug, Default)]
pub struct EncodeOptions {
    /// Sign with this algorithm, using the first fitting key of the signer's set.
    pub sig_alg: Option<SigAlg>,
    /// Encrypt with this key management algorithm (with `enc`) to a key of the recipient's set.
    pub key_alg: Option<KeyAlg>,
    pub enc: Option<EncAlg>,
    /// `typ` of the token; `"JWT"` when not set.
    pub typ: Option<String>,
    /// Extra header parameters. They go into the signed header (the inner one when nested) and may
    /// not use a registered name.
    pub custom: Header,
    /// `jku` of the signed header: the URL of the signer's public JWK Set.
    pub jku: Option<String>,
    /// `jku` of the encryption header: the URL of the recipient's public JWK Set.
    pub recipient_jku: Option<String>,
    /// Put the signer's public key (and, when encrypting, the recipient's) in `jwk`.
    pub include_jwk: bool,
    /// Make an `alg: none` token when no signing algorithm is given.
    pub allow_unsigned: bool,
    /// Permit RSA1_5 key encryption (interop with old peers only).
    pub allow_rsa1_5: bool,
}

/// What a caller accepts when decoding.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// Accept `alg: none` tokens and tokens that are encrypted but not signed.
    pub allow_unsigned: bool,
    /// Allowed signature algorithms (all when `None`).
    pub sig_algs: Option<Vec<SigAlg>>,
    /// Allowed key management algorithms (all but RSA1_5 when `None`).
    pub key_algs: Option<Vec<KeyAlg>>,
    /// Allowed content encryption algorithms (all when `None`).
    pub encs: Option<Vec<EncAlg>>,
    /// Accept RSA1_5 key encryption (RFC 7516 §11.5 care is taken when on; off by default).
    pub allow_rsa1_5: bool,
    /// Longest token accepted, in bytes.
    pub max_len: usize,
    /// Extension header parameters the caller processes, for `crit`.
    pub understood_crit: Vec<String>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            allow_unsigned: false,
            sig_algs: None,
            key_algs: None,
            encs: None,
            allow_rsa1_5: false,
            max_len: header::DEFAULT_MAX_TOKEN_LEN,
            understood_crit: Vec::new(),
        }
    }
}

/// The algorithms that protected a token; each is absent when that layer was not used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Security {
    pub sigalg: Option<SigAlg>,
    pub keyalg: Option<KeyAlg>,
    pub encalg: Option<EncAlg>,
}

/// A decoded token.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub claims: Map<String, Value>,
    pub security: Security,
    /// The raw header of the signed token (the inner one when nested), or of the only layer.
    pub header: Header,
    /// The JWE header of a nested token.
    pub outer_header: Option<Header>,
}

fn check_custom(custom: &Header) -> Result<()> {
    match custom.keys().find(|k| REGISTERED.contains(&k.as_str())) {
        Some(name) => Err(JoseError::ReservedHeader(name.clone())),
        None => Ok(()),
    }
}

/// Encodes `claims` as a JWT (ObjectToJWT): signed with a key of `signer` when `sig_alg` is set,
/// then encrypted to a key of `recipient` when `key_alg`/`enc` are set.
pub fn encode(
    claims: &Map<String, Value>,
    opts: &EncodeOptions,
    signer: &JwkSet,
    recipient: Option<&JwkSet>,
) -> Result<String> {
    let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Json {
        part: "claims",
        reason: e.to_string(),
    })?;
    encode_payload(&payload, opts, signer, recipient)
}

/// Like [`encode`] for any payload bytes.
pub fn encode_payload(
    payload: &[u8],
    opts: &EncodeOptions,
    signer: &JwkSet,
    recipient: Option<&JwkSet>,
) -> Result<String> {
    check_custom(&opts.custom)?;
    let encryption = match (opts.key_alg, opts.enc) {
        (Some(k), Some(e)) => Some((k, e)),
        (None, None) => None,
        _ => {
            return Err(JoseError::BadHeader(
                "enc and key management alg go together".into(),
            ));
        }
    };
    let typ = opts.typ.clone().unwrap_or_else(|| "JWT".into());
    let mut inner = Header::new();

    let signed = match opts.sig_alg {
        Some(alg) => {
            let key = signer.select(None, alg.name(), KeyOp::Sign)?;
            inner.insert("alg".into(), alg.name().into());
            if let Some(kid) = &key.kid {
                inner.insert("kid".into(), kid.clone().into());
            }
            inner.insert("typ".into(), typ.clone().into());
            if let Some(jku) = &opts.jku {
                inner.insert("jku".into(), jku.clone().into());
            }
            if opts.include_jwk
                && let Some(public) = key.to_public()
            {
                inner.insert("jwk".into(), public.to_value());
            }
            inner.extend(opts.custom.clone());
            Some(jws::sign_compact(&inner, payload, key, alg)?)
        }
        None if encryption.is_some() => None,
        None if opts.allow_unsigned => {
            inner.insert("alg".into(), "none".into());
            inner.insert("typ".into(), typ.clone().into());
            inner.extend(opts.custom.clone());
            let header_json = serde_json::to_vec(&inner).map_err(|e| JoseError::Json {
                part: "header",
                reason: e.to_string(),
            })?;
            Some(format!(
                "{}.{}.",
                crate::encoding::b64(header_json),
                crate::encoding::b64(payload)
            ))
        }
        None => return Err(JoseError::Unsigned),
    };

    let Some((key_alg, enc)) = encryption else {
        return signed.ok_or(JoseError::Unsigned);
    };
    let recipient = recipient.ok_or_else(|| JoseError::NoKey {
        what: "encryption (no recipient key set)".into(),
    })?;
    let key = recipient.select(None, key_alg.name(), KeyOp::Encrypt)?;
    let mut outer = Header::new();
    if let Some(kid) = &key.kid {
        outer.insert("kid".into(), kid.clone().into());
    }
    if let Some(jku) = &opts.recipient_jku {
        outer.insert("jku".into(), jku.clone().into());
    }
    if opts.include_jwk
        && let Some(public) = key.to_public()
    {
        outer.insert("jwk".into(), public.to_value());
    }
    match &signed {
        // RFC 7519 §5.2: a nested JWT says so with `cty`.
        Some(_) => {
            outer.insert("cty".into(), "JWT".into());
        }
        None => {
            outer.insert("typ".into(), typ.into());
            outer.extend(opts.custom.clone());
        }
    }
    let plaintext = signed.as_deref().map(str::as_bytes).unwrap_or(payload);
    jwe::encrypt_compact(plaintext, outer, key_alg, enc, key, opts.allow_rsa1_5)
}

/// Decodes a JWT (JWTToObject): decrypts with `local_private` when encrypted, verifies with
/// `remote_public` when signed, and returns the claims, the algorithms used and the raw header.
/// Claims are not checked here; see [`crate::ClaimChecks`].
pub fn decode(
    token: &str,
    local_private: &JwkSet,
    remote_public: &JwkSet,
    opts: &DecodeOptions,
) -> Result<Decoded> {
    let (payload, security, header, outer_header) =
        open(token, local_private, remote_public, opts)?;
    let claims = json_object(&payload, "claims")?;
    Ok(Decoded {
        claims,
        security,
        header,
        outer_header,
    })
}

/// Decrypts and verifies without reading the payload as claims; returns the payload bytes.
pub fn open(
    token: &str,
    local_private: &JwkSet,
    remote_public: &JwkSet,
    opts: &DecodeOptions,
) -> Result<(Vec<u8>, Security, Header, Option<Header>)> {
    let parts = header::split_compact(token, opts.max_len)?;
    let first = header::decode_header(parts[0])?;
    header::check_crit(&first, &opts.understood_crit)?;
    if parts.len() == 3 {
        let (payload, sigalg, header) = open_jws(token, &parts, first, remote_public, opts)?;
        return Ok((
            payload,
            Security {
                sigalg,
                ..Security::default()
            },
            header,
            None,
        ));
    }
    let limits = JweLimits {
        key_algs: opts.key_algs.as_deref(),
        encs: opts.encs.as_deref(),
        allow_rsa1_5: opts.allow_rsa1_5,
    };
    let jwe = jwe::decrypt_parts(&parts, first, local_private, &limits)?;
    let mut security = Security {
        keyalg: Some(jwe.key_alg),
        encalg: Some(jwe.enc),
        sigalg: None,
    };
    let nested =
        header::str_param(&jwe.header, "cty")?.is_some_and(|cty| cty.eq_ignore_ascii_case("JWT"));
    if !nested {
        if !opts.allow_unsigned {
            return Err(JoseError::Unsigned);
        }
        return Ok((jwe.plaintext, security, jwe.header, None));
    }
    let inner = std::str::from_utf8(&jwe.plaintext)
        .map_err(|_| JoseError::Malformed("nested token is not text"))?;
    let inner_parts = header::split_compact(inner, opts.max_len)?;
    if inner_parts.len() != 3 {
        // SECURITY: only sign-then-encrypt is a nested JWT here; a JWE inside a JWE is refused.
        return Err(JoseError::Malformed("a nested JWT holds a JWS"));
    }
    let inner_header = header::decode_header(inner_parts[0])?;
    header::check_crit(&inner_header, &opts.understood_crit)?;
    let (payload, sigalg, inner_header) =
        open_jws(inner, &inner_parts, inner_header, remote_public, opts)?;
    security.sigalg = sigalg;
    Ok((payload, security, inner_header, Some(jwe.header)))
}

fn open_jws(
    token: &str,
    parts: &[&str],
    header: Header,
    keys: &JwkSet,
    opts: &DecodeOptions,
) -> Result<(Vec<u8>, Option<SigAlg>, Header)> {
    if header::required_str(&header, "alg")? == "none" {
        // SECURITY: `none` only when the caller named it (RFC 8725 §3.2), and then with no signature.
        if !opts.allow_unsigned {
            return Err(JoseError::Unsigned);
        }
        if !parts[2].is_empty() {
            return Err(JoseError::Malformed(
                "an unsigned token has an empty signature",
            ));
        }
        let payload = crate::encoding::b64_decode(parts[1], "payload")?;
        return Ok((payload, None, header));
    }
    let verified = jws::verify_parts(token, parts, header, keys, opts.sig_algs.as_deref(), None)?;
    Ok((verified.payload, Some(verified.alg), verified.header))
}

/// Reads a token's header without verifying anything: for choosing keys or a validation path only.
pub fn insecure_peek_header(token: &str) -> Result<Header> {
    let parts = header::split_compact(token, header::DEFAULT_MAX_TOKEN_LEN)?;
    header::decode_header(parts[0])
}

/// The key a JWE `token` encrypted to a client with a symmetric algorithm was made with, when
/// `secret` is that client's secret (OpenID Connect Core §10.2); `None` when the token is not
/// such a JWE. Add it to the decryption keys of a client that has a secret.
pub fn client_secret_key_for(token: &str, secret: &str) -> Option<crate::Jwk> {
    if token.split('.').count() != 5 {
        return None;
    }
    let header = insecure_peek_header(token).ok()?;
    let text = |name: &str| header.get(name).and_then(Value::as_str);
    let key_alg: KeyAlg = text("alg")?.parse().ok()?;
    let enc: EncAlg = text("enc")?.parse().ok()?;
    crate::Jwk::from_client_secret(secret, key_alg, enc)
}
