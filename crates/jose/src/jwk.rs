//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) and their thumbprints (RFC 7638).
//!
//! A [`Jwk`] is parsed once: the aws-lc key objects it needs are built when it is read, so a bad
//! key is refused at load time and signing or verifying never re-parses key material.

mod material;

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use aws_lc_rs::{digest, rsa};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, EncAlg, KeyAlg, SigAlg, SigFamily};
use crate::encoding::{b64, b64_decode, json_object};
use crate::error::{JoseError, Result};

pub use material::Curve;
pub(crate) use material::{EcKey, Material, OkpKey, RsaKey, RsaPrivate, minimal};
use material::{generate_ec, random_oct, trunc};

/// What a key is wanted for, to check `use` and `key_ops` (RFC 7517 §4.2, §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOp {
    Sign,
    Verify,
    Encrypt,
    Decrypt,
}

/// A JSON Web Key: the key itself and its parameters. Cloning is cheap (the material is shared).
#[derive(Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The algorithm the key is pinned to, when it says so. A pinned key is used for that algorithm only.
    pub alg: Option<String>,
    /// `use`: `"sig"` or `"enc"`.
    pub key_use: Option<String>,
    pub key_ops: Option<Vec<String>>,
    /// X.509 chain, base64 (not base64url) DER, leaf first (RFC 7517 §4.7).
    pub x5c: Option<Vec<String>>,
    /// `x5t#S256`: base64url SHA-256 of the leaf certificate's DER.
    pub x5t_s256: Option<String>,
    /// Other members, kept as they were read (e.g. `x5u`, `x5t`, or application members).
    pub extra: Map<String, Value>,
    pub(crate) material: Arc<Material>,
}

const REGISTERED_MEMBERS: &[&str] = &[
    "kty", "kid", "alg", "use", "key_ops", "x5c", "x5t#S256", "n", "e", "d", "p", "q", "dp", "dq",
    "qi", "oth", "crv", "x", "y", "k",
];

fn member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JoseError::InvalidKey(format!(
            "\"{name}\" must be a string"
        ))),
    }
}

fn required_bytes(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>> {
    let text =
        member(obj, name)?.ok_or_else(|| JoseError::InvalidKey(format!("missing \"{name}\"")))?;
    b64_decode(text, name)
        .map_err(|_| JoseError::InvalidKey(format!("\"{name}\" is not base64url")))
}

fn optional_secret(
    obj: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    match member(obj, name)? {
        None => Ok(None),
        Some(_) => required_bytes(obj, name).map(|b| Some(Zeroizing::new(b))),
    }
}

impl Jwk {
    fn with_material(material: Material) -> Self {
        Jwk {
            kid: None,
            alg: None,
            key_use: None,
            key_ops: None,
            x5c: None,
            x5t_s256: None,
            extra: Map::new(),
            material: Arc::new(material),
        }
    }

    /// Parses one JWK from JSON text.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_object(json_object(text.as_bytes(), "JWK")?)
    }

    /// Builds a JWK from a parsed JSON object.
    pub fn from_object(mut obj: Map<String, Value>) -> Result<Self> {
        let kty =
            member(&obj, "kty")?.ok_or_else(|| JoseError::InvalidKey("missing \"kty\"".into()))?;
        let material = match kty {
            "RSA" => {
                if obj.contains_key("oth") {
                    return Err(JoseError::InvalidKey(
                        "multi-prime RSA keys are not supported".into(),
                    ));
                }
                let n = minimal(&required_bytes(&obj, "n")?).to_vec();
                let e = minimal(&required_bytes(&obj, "e")?).to_vec();
                let private = match optional_secret(&obj, "d")? {
                    None => None,
                    Some(d) => {
                        let mut parts = [
                            d,
                            Zeroizing::default(),
                            Zeroizing::default(),
                            Zeroizing::default(),
                            Zeroizing::default(),
                            Zeroizing::default(),
                        ];
                        for (slot, name) in
                            parts.iter_mut().skip(1).zip(["p", "q", "dp", "dq", "qi"])
                        {
                            *slot = optional_secret(&obj, name)?.ok_or_else(|| {
                                JoseError::InvalidKey(format!("RSA private key without \"{name}\" (CRT parameters are required)"))
                            })?;
                        }
                        Some(RsaPrivate::from_components(&n, &e, parts)?)
                    }
                };
                Material::Rsa(Box::new(RsaKey::new(n, e, private)?))
            }
            "EC" => {
                let curve = Curve::from_name(member(&obj, "crv")?.unwrap_or_default())?;
                if !curve.is_nist() {
                    return Err(JoseError::InvalidKey(
                        "EC keys use P-256, P-384 or P-521".into(),
                    ));
                }
                let x = required_bytes(&obj, "x")?;
                let y = required_bytes(&obj, "y")?;
                Material::Ec(EcKey::new(curve, x, y, optional_secret(&obj, "d")?)?)
            }
            "OKP" => {
                let curve = Curve::from_name(member(&obj, "crv")?.unwrap_or_default())?;
                Material::Okp(OkpKey::new(
                    curve,
                    required_bytes(&obj, "x")?,
                    optional_secret(&obj, "d")?,
                )?)
            }
            "oct" => {
                let k = Zeroizing::new(required_bytes(&obj, "k")?);
                if k.is_empty() {
                    return Err(JoseError::InvalidKey("empty symmetric key".into()));
                }
                Material::Oct(k)
            }
            other => {
                return Err(JoseError::InvalidKey(format!(
                    "unsupported key type \"{}\"",
                    trunc(other)
                )));
            }
        };
        let mut jwk = Jwk::with_material(material);
        jwk.kid = member(&obj, "kid")?.map(str::to_owned);
        jwk.alg = member(&obj, "alg")?.map(str::to_owned);
        jwk.key_use = member(&obj, "use")?.map(str::to_owned);
        jwk.x5t_s256 = member(&obj, "x5t#S256")?.map(str::to_owned);
        jwk.key_ops = match obj.get("key_ops") {
            None => None,
            Some(v) => Some(string_array(v).ok_or_else(|| {
                JoseError::InvalidKey("\"key_ops\" must be an array of strings".into())
            })?),
        };
        jwk.x5c = match obj.get("x5c") {
            None => None,
            Some(v) => Some(string_array(v).ok_or_else(|| {
                JoseError::InvalidKey("\"x5c\" must be an array of strings".into())
            })?),
        };
        obj.retain(|name, _| !REGISTERED_MEMBERS.contains(&name.as_str()));
        jwk.extra = obj;
        Ok(jwk)
    }

    /// Generates a new key for `alg` (RSA keys are 2048 bits; see [`Jwk::generate_rsa`]), with `alg`,
    /// `use` and `kid` (the RFC 7638 thumbprint) set.
    pub fn generate(alg: Algorithm) -> Result<Self> {
        let material = match alg {
            Algorithm::Sig(s) => match s.family() {
                SigFamily::Hmac => random_oct(s.hash_len())?,
                SigFamily::RsaPkcs1 | SigFamily::RsaPss => return Self::generate_rsa(2048, alg),
                SigFamily::Ecdsa(curve) => generate_ec(curve)?,
                SigFamily::Ed25519 => {
                    let pair = Ed25519KeyPair::generate()?;
                    let seed = Zeroizing::new(pair.seed()?.as_be_bytes()?.as_ref().to_vec());
                    let x = pair.public_key().as_ref().to_vec();
                    Material::Okp(OkpKey::new(Curve::Ed25519, x, Some(seed))?)
                }
            },
            Algorithm::Key(k) if k.is_rsa() => return Self::generate_rsa(2048, alg),
            Algorithm::Key(k) if k.is_ecdh() => generate_ec(Curve::P256)?,
            Algorithm::Key(KeyAlg::Dir) => {
                return Err(JoseError::InvalidKey("a \"dir\" key is made for a content encryption algorithm: name the enc (e.g. A256GCM)".into()));
            }
            Algorithm::Key(k) => random_oct(k.kek_len().unwrap_or(32))?,
            Algorithm::Enc(e) => random_oct(e.key_len())?,
        };
        Ok(Self::finish_generated(Jwk::with_material(material), alg))
    }

    /// Generates an RSA key of `bits` (2048, 3072 or 4096) for `alg`.
    pub fn generate_rsa(bits: usize, alg: Algorithm) -> Result<Self> {
        let size = match bits {
            2048 => rsa::KeySize::Rsa2048,
            3072 => rsa::KeySize::Rsa3072,
            4096 => rsa::KeySize::Rsa4096,
            _ => {
                return Err(JoseError::InvalidKey(
                    "RSA key size must be 2048, 3072 or 4096".into(),
                ));
            }
        };
        let pair = RsaKeyPair::generate(size)?;
        let pkcs8 = Zeroizing::new(
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)?
                .as_ref()
                .to_vec(),
        );
        let jwk = crate::pem::from_pkcs8_der(&pkcs8)?;
        Ok(Self::finish_generated(jwk, alg))
    }

    /// Generates an EC key on `curve` for ECDH-ES (the curve is the caller's choice there).
    pub fn generate_ec(curve: Curve, alg: Algorithm) -> Result<Self> {
        Ok(Self::finish_generated(
            Jwk::with_material(generate_ec(curve)?),
            alg,
        ))
    }

    fn finish_generated(mut jwk: Jwk, alg: Algorithm) -> Self {
        // A key made for a content encryption algorithm is a `dir` key.
        jwk.alg = Some(match alg {
            Algorithm::Enc(_) => KeyAlg::Dir.to_string(),
            other => other.to_string(),
        });
        jwk.key_use = Some(
            if matches!(alg, Algorithm::Sig(_)) {
                "sig"
            } else {
                "enc"
            }
            .to_owned(),
        );
        jwk.kid = Some(jwk.thumbprint());
        jwk
    }

    /// An `oct` key holding `secret` (a client secret used for HS*, A*KW or `dir`).
    pub fn symmetric(secret: &[u8]) -> Result<Self> {
        if secret.is_empty() {
            return Err(JoseError::InvalidKey("empty symmetric key".into()));
        }
        Ok(Jwk::with_material(Material::Oct(Zeroizing::new(
            secret.to_vec(),
        ))))
    }

    /// The key a client secret stands for when JWTs are encrypted to it with a symmetric
    /// algorithm (OpenID Connect Core §10.2): the left-truncated SHA-2 hash of the secret, as long
    /// as `key_alg` (or, for `dir`, `enc`) needs; SHA-256 up to 256 bits, SHA-384 up to 384,
    /// SHA-512 beyond. `None` for asymmetric key management.
    pub fn from_client_secret(secret: &str, key_alg: KeyAlg, enc: EncAlg) -> Option<Self> {
        let len = match key_alg {
            KeyAlg::Dir => enc.key_len(),
            other if !other.is_ecdh() => other.kek_len()?,
            _ => return None,
        };
        let hash = match len {
            0..=32 => &digest::SHA256,
            33..=48 => &digest::SHA384,
            _ => &digest::SHA512,
        };
        let key = digest::digest(hash, secret.as_bytes()).as_ref()[..len].to_vec();
        Some(Jwk::with_material(Material::Oct(Zeroizing::new(key))))
    }

    pub(crate) fn from_material(material: Material) -> Self {
        Jwk::with_material(material)
    }

    /// Size of an RSA key's modulus in bits.
    pub fn rsa_bits(&self) -> Option<usize> {
        match &*self.material {
            Material::Rsa(k) => Some(k.modulus_len() * 8),
            _ => None,
        }
    }

    pub fn kty(&self) -> &'static str {
        match &*self.material {
            Material::Rsa(_) => "RSA",
            Material::Ec(_) => "EC",
            Material::Okp(_) => "OKP",
            Material::Oct(_) => "oct",
        }
    }

    pub fn curve(&self) -> Option<Curve> {
        match &*self.material {
            Material::Ec(k) => Some(k.curve),
            Material::Okp(k) => Some(k.curve),
            _ => None,
        }
    }

    /// True when the key holds private (or symmetric) material.
    pub fn is_private(&self) -> bool {
        match &*self.material {
            Material::Rsa(k) => k.private.is_some(),
            Material::Ec(k) => k.d.is_some(),
            Material::Okp(k) => k.d.is_some(),
            Material::Oct(_) => true,
        }
    }

    pub fn is_symmetric(&self) -> bool {
        matches!(&*self.material, Material::Oct(_))
    }

    /// The public half; `None` for symmetric keys, which have none.
    pub fn to_public(&self) -> Option<Jwk> {
        let material = match &*self.material {
            Material::Rsa(k) => {
                Material::Rsa(Box::new(RsaKey::new(k.n.clone(), k.e.clone(), None).ok()?))
            }
            Material::Ec(k) => {
                Material::Ec(EcKey::new(k.curve, k.x.clone(), k.y.clone(), None).ok()?)
            }
            Material::Okp(k) => Material::Okp(OkpKey::new(k.curve, k.x.clone(), None).ok()?),
            Material::Oct(_) => return None,
        };
        Some(Jwk {
            material: Arc::new(material),
            ..self.clone()
        })
    }

    /// The RFC 7638 thumbprint: base64url SHA-256 of the required members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let canonical = match &*self.material {
            Material::Rsa(k) => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(&k.e), b64(&k.n))
            }
            Material::Ec(k) => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                k.curve.name(),
                b64(&k.x),
                b64(&k.y)
            ),
            Material::Okp(k) => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                k.curve.name(),
                b64(&k.x)
            ),
            Material::Oct(k) => format!(r#"{{"k":"{}","kty":"oct"}}"#, b64(k.as_slice())),
        };
        b64(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// The JWK as a JSON object, private members included when the key has them.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("kty".into(), self.kty().into());
        let mut put = |name: &str, bytes: &[u8]| {
            obj.insert(name.to_owned(), Value::String(b64(bytes)));
        };
        match &*self.material {
            Material::Rsa(k) => {
                put("n", &k.n);
                put("e", &k.e);
                if let Some(p) = &k.private {
                    for (name, part) in ["d", "p", "q", "dp", "dq", "qi"].iter().zip(&p.parts) {
                        put(name, part);
                    }
                }
            }
            Material::Ec(k) => {
                obj.insert("crv".into(), k.curve.name().into());
                let mut put = |name: &str, bytes: &[u8]| {
                    obj.insert(name.to_owned(), Value::String(b64(bytes)));
                };
                put("x", &k.x);
                put("y", &k.y);
                if let Some(d) = &k.d {
                    put("d", d);
                }
            }
            Material::Okp(k) => {
                obj.insert("crv".into(), k.curve.name().into());
                obj.insert("x".into(), b64(&k.x).into());
                if let Some(d) = &k.d {
                    obj.insert("d".into(), b64(d.as_slice()).into());
                }
            }
            Material::Oct(k) => put("k", k),
        }
        let mut put_str = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                obj.insert(name.to_owned(), v.clone().into());
            }
        };
        put_str("kid", &self.kid);
        put_str("alg", &self.alg);
        put_str("use", &self.key_use);
        put_str("x5t#S256", &self.x5t_s256);
        if let Some(ops) = &self.key_ops {
            obj.insert("key_ops".into(), ops.clone().into());
        }
        if let Some(x5c) = &self.x5c {
            obj.insert("x5c".into(), x5c.clone().into());
        }
        for (k, v) in &self.extra {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(obj)
    }

    /// True when the key may be used as `op` for `alg`: right type and size, and its `alg`, `use`
    /// and `key_ops` (when present) allow it. This is what keeps an HMAC algorithm from ever being
    /// keyed with an RSA or EC public key.
    pub fn fits(&self, alg: &str, op: KeyOp) -> bool {
        // A `dir` key may be pinned to the content encryption algorithm it serves (RFC 7520 §5.6).
        let pinned_ok = |pinned: &str| {
            pinned == alg || (alg == "dir" && pinned.parse::<crate::alg::EncAlg>().is_ok())
        };
        if self.alg.as_deref().is_some_and(|pinned| !pinned_ok(pinned)) {
            return false;
        }
        let is_sig = matches!(op, KeyOp::Sign | KeyOp::Verify);
        if let Some(u) = &self.key_use
            && u != if is_sig { "sig" } else { "enc" }
        {
            return false;
        }
        if let Some(ops) = &self.key_ops {
            let wanted: &[&str] = match op {
                KeyOp::Sign => &["sign"],
                KeyOp::Verify => &["verify"],
                KeyOp::Encrypt => &["encrypt", "wrapKey", "deriveKey"],
                KeyOp::Decrypt => &["decrypt", "unwrapKey", "deriveKey"],
            };
            if !ops.iter().any(|o| wanted.contains(&o.as_str())) {
                return false;
            }
        }
        let private_needed = matches!(op, KeyOp::Sign | KeyOp::Decrypt);
        if private_needed && !self.is_private() {
            return false;
        }
        let m = &*self.material;
        if is_sig {
            let Ok(alg) = alg.parse::<SigAlg>() else {
                return false;
            };
            match (alg.family(), m) {
                (SigFamily::Hmac, Material::Oct(k)) => k.len() >= alg.hash_len(),
                (SigFamily::RsaPkcs1 | SigFamily::RsaPss, Material::Rsa(_)) => true,
                (SigFamily::Ecdsa(c), Material::Ec(k)) => k.curve == c,
                (SigFamily::Ed25519, Material::Okp(k)) => k.curve == Curve::Ed25519,
                _ => false,
            }
        } else {
            let Ok(alg) = alg.parse::<KeyAlg>() else {
                return false;
            };
            match m {
                Material::Rsa(_) => alg.is_rsa(),
                Material::Ec(_) => alg.is_ecdh(),
                Material::Okp(k) => alg.is_ecdh() && k.curve == Curve::X25519,
                Material::Oct(k) => {
                    alg.kek_len()
                        .is_some_and(|n| n == k.len() && !alg.is_ecdh())
                        || alg == KeyAlg::Dir
                }
            }
        }
    }
}

fn string_array(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

pub(crate) fn ec_from_point(
    curve: Curve,
    point: &[u8],
    d: Option<Zeroizing<Vec<u8>>>,
) -> Result<Jwk> {
    let len = curve.coordinate_len();
    if point.len() != 1 + 2 * len || point[0] != 4 {
        return Err(JoseError::InvalidKey(
            "EC public key must be an uncompressed point".into(),
        ));
    }
    let (x, y) = (point[1..1 + len].to_vec(), point[1 + len..].to_vec());
    Ok(Jwk::from_material(Material::Ec(EcKey::new(
        curve, x, y, d,
    )?)))
}

pub(crate) fn okp(curve: Curve, x: Vec<u8>, d: Option<Zeroizing<Vec<u8>>>) -> Result<Jwk> {
    Ok(Jwk::from_material(Material::Okp(OkpKey::new(curve, x, d)?)))
}

pub(crate) fn rsa_public(n: &[u8], e: &[u8]) -> Result<Jwk> {
    let key = RsaKey::new(minimal(n).to_vec(), minimal(e).to_vec(), None)?;
    Ok(Jwk::from_material(Material::Rsa(Box::new(key))))
}

pub(crate) fn rsa_private(pkcs1: &[u8]) -> Result<Jwk> {
    let (n, e, private) = RsaPrivate::from_pkcs1(pkcs1)?;
    let key = RsaKey::new(minimal(&n).to_vec(), minimal(&e).to_vec(), Some(private))?;
    Ok(Jwk::from_material(Material::Rsa(Box::new(key))))
}

impl fmt::Debug for Jwk {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty())
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

impl serde::Serialize for Jwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Jwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let obj = Map::<String, Value>::deserialize(d)?;
        Jwk::from_object(obj).map_err(serde::de::Error::custom)
    }
}

impl PartialEq for Jwk {
    /// Two keys are equal when their material is (the thumbprint) and so is their privacy.
    fn eq(&self, other: &Self) -> bool {
        self.thumbprint() == other.thumbprint() && self.is_private() == other.is_private()
    }
}
