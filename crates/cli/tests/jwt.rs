//! `ostiary jwt` as scripts use it: real process, stdin in, stdout out, one-line errors.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn ostiary(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ostiary"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails on its arguments exits without reading stdin: a broken pipe is fine.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str) -> String {
    let out = ostiary(args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs and expects a failure with exactly one line on stderr.
fn fails(args: &[&str], stdin: &str) -> String {
    let out = ostiary(args, stdin);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
    assert!(!err.contains("panicked"));
    err
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ostiary-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keygen(dir: &Dir, alg: &str) -> String {
    let jwks = ok(&["jwt", "keygen", "--alg", alg], "");
    dir.write(&format!("{alg}.json"), &jwks)
}

fn merged(dir: &Dir, files: &[&str]) -> String {
    let keys: Vec<Value> = files
        .iter()
        .flat_map(|f| {
            let set: Value =
                serde_json::from_str(&std::fs::read_to_string(Path::new(f)).unwrap()).unwrap();
            set["keys"].as_array().unwrap().clone()
        })
        .collect();
    dir.write("merged.json", &json!({ "keys": keys }).to_string())
}

#[test]
fn keygen_makes_one_private_key_with_a_thumbprint_kid() {
    for alg in [
        "RS256",
        "PS384",
        "ES256",
        "ES512",
        "EdDSA",
        "HS512",
        "RSA-OAEP-256",
        "ECDH-ES+A256KW",
        "A192KW",
        "A128GCM",
    ] {
        let set: Value = serde_json::from_str(&ok(&["jwt", "keygen", "--alg", alg], "")).unwrap();
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{alg}");
        let key = ostiary_jose::Jwk::from_object(keys[0].as_object().unwrap().clone()).unwrap();
        assert!(key.is_private());
        assert_eq!(key.kid.as_deref(), Some(key.thumbprint().as_str()));
    }
    let rsa: Value = serde_json::from_str(&ok(
        &["jwt", "keygen", "--alg", "RS256", "--bits", "3072"],
        "",
    ))
    .unwrap();
    assert_eq!(rsa["keys"][0]["n"].as_str().unwrap().len(), 512);
}

#[test]
fn encode_then_decode_signed_encrypted_and_nested() {
    let dir = Dir::new("roundtrip");
    let signer = keygen(&dir, "ES256");
    let recipient = keygen(&dir, "ECDH-ES+A128KW");
    let both = merged(&dir, &[&signer, &recipient]);
    let claims = r#"{"iss":"https://as.example","sub":"alice"}"#;

    let signed = ok(
        &["jwt", "encode", "--jwks", &signer, "--alg", "ES256"],
        claims,
    );
    let out: Value =
        serde_json::from_str(&ok(&["jwt", "decode", "--jwks", &signer], &signed)).unwrap();
    assert_eq!(out["claims"]["sub"], "alice");
    assert_eq!(
        out["security"],
        json!({"sigalg": "ES256", "keyalg": null, "encalg": null})
    );

    let nested = ok(
        &[
            "jwt",
            "encode",
            "--jwks",
            &signer,
            "--alg",
            "ES256",
            "--enc",
            "A128GCM",
            "--key-alg",
            "ECDH-ES+A128KW",
            "--recipient-jwks",
            &recipient,
        ],
        claims,
    );
    assert_eq!(nested.split('.').count(), 5);
    let out: Value =
        serde_json::from_str(&ok(&["jwt", "decode", "--jwks", &both], &nested)).unwrap();
    assert_eq!(
        out["security"],
        json!({"sigalg": "ES256", "keyalg": "ECDH-ES+A128KW", "encalg": "A128GCM"})
    );
    assert_eq!(out["header"]["alg"], "ES256", "the inner header is shown");

    let encrypted_only = ok(
        &[
            "jwt",
            "encode",
            "--enc",
            "A128GCM",
            "--key-alg",
            "ECDH-ES+A128KW",
            "--recipient-jwks",
            &recipient,
        ],
        claims,
    );
    let err = fails(&["jwt", "decode", "--jwks", &recipient], &encrypted_only);
    assert!(err.contains("unsigned"), "{err}");
    let out: Value = serde_json::from_str(&ok(
        &["jwt", "decode", "--jwks", &recipient, "--allow-unsigned"],
        &encrypted_only,
    ))
    .unwrap();
    assert_eq!(out["security"]["sigalg"], Value::Null);
    assert_eq!(out["claims"]["iss"], "https://as.example");
}

#[test]
fn unsigned_tokens_only_by_name() {
    let dir = Dir::new("none");
    let key = keygen(&dir, "HS256");
    fails(&["jwt", "encode"], "{}");
    let plain = ok(&["jwt", "encode", "--alg", "none"], r#"{"a":1}"#);
    assert!(plain.ends_with('.'));
    fails(&["jwt", "decode", "--jwks", &key], &plain);
    let out: Value = serde_json::from_str(&ok(
        &["jwt", "decode", "--jwks", &key, "--allow-unsigned"],
        &plain,
    ))
    .unwrap();
    assert_eq!(out["claims"]["a"], 1);
}

#[test]
fn pem_key_files_are_accepted() {
    let pem = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jose/tests/data/ec-p256-pkcs8.pem");
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jose/tests/data/ec-p256-cert.pem");
    let token = ok(
        &[
            "jwt",
            "encode",
            "--jwks",
            pem.to_str().unwrap(),
            "--alg",
            "ES256",
        ],
        "{}",
    );
    let out: Value = serde_json::from_str(&ok(
        &["jwt", "decode", "--jwks", cert.to_str().unwrap()],
        &token,
    ))
    .unwrap();
    assert_eq!(out["security"]["sigalg"], "ES256");
}

#[test]
fn bad_input_gives_one_line_and_a_nonzero_exit() {
    let dir = Dir::new("bad");
    let key = keygen(&dir, "ES256");
    let corrupt = dir.write(
        "corrupt.json",
        r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA"}]}"#,
    );
    let not_json = dir.write("junk.txt", "hello");
    fails(&["jwt", "keygen", "--alg", "XX999"], "");
    fails(&["jwt", "keygen", "--alg", "dir"], "");
    fails(&["jwt", "keygen", "--alg", "RS256", "--bits", "1024"], "");
    fails(
        &["jwt", "encode", "--jwks", &corrupt, "--alg", "ES256"],
        "{}",
    );
    fails(
        &["jwt", "encode", "--jwks", &not_json, "--alg", "ES256"],
        "{}",
    );
    fails(
        &[
            "jwt",
            "encode",
            "--jwks",
            "/nonexistent/keys.json",
            "--alg",
            "ES256",
        ],
        "{}",
    );
    fails(&["jwt", "encode", "--jwks", &key, "--alg", "RS256"], "{}");
    fails(
        &["jwt", "encode", "--jwks", &key, "--alg", "ES256"],
        "[1,2]",
    );
    fails(
        &[
            "jwt",
            "encode",
            "--jwks",
            &key,
            "--alg",
            "ES256",
            "--header",
            r#"{"alg":"none"}"#,
        ],
        "{}",
    );
    for token in [
        "",
        "x",
        "a.b.c",
        "a.b.c.d.e",
        "\u{feff}{}",
        &"A".repeat(300_000),
    ] {
        fails(&["jwt", "decode", "--jwks", &key], token);
    }
}
