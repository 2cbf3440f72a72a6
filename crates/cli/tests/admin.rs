//! `ostiary admin` and `ostiary serve` as operators use them: real processes on a data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("ostiary-admin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        DataDir(path)
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ostiary"))
            .args(args)
            .env("OSTIARY_DATA_DIR", &self.0)
            .env_remove("OSTIARY_DATABASE")
            .env_remove("OSTIARY_MASTER_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str], stdin: &str) -> Value {
        serde_json::from_str(&self.ok(args, stdin)).unwrap()
    }

    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("ostiary: ") && !l.contains("created the master key"))
            .collect();
        assert_eq!(lines.len(), 1, "one-line error: {err}");
        err
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn clients_are_created_listed_updated_and_deleted() {
    let dir = DataDir::new("clients");
    let created = dir.json(&["admin", "client", "create"], r#"{"name": "Billing", "client_type": "confidential", "grant_types": ["client_credentials"], "default_scope": "openid"}"#);
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    // The secret is shown once: never again.
    let shown = dir.json(&["admin", "client", "show", &id], "");
    assert_eq!(shown["name"], "Billing");
    assert!(shown.get("client_secret").is_none());
    assert!(
        !dir.ok(&["admin", "client", "list", "--json"], "")
            .contains(&secret)
    );
    let table = dir.ok(&["admin", "client", "list"], "");
    assert!(table.starts_with("CLIENT_ID"));
    assert!(table.contains(&id) && table.contains("Billing"));
    let updated = dir.json(
        &["admin", "client", "update", &id],
        r#"{"description": "pays the bills"}"#,
    );
    assert_eq!(
        (updated["description"].as_str(), updated["name"].as_str()),
        (Some("pays the bills"), Some("Billing"))
    );
    let regenerated = dir.json(&["admin", "client", "regenerate-secret", &id], "");
    assert_ne!(regenerated["client_secret"], secret.as_str());
    let public = dir.json(
        &["admin", "client", "create"],
        r#"{"client_type": "public", "redirect_uris": ["http://127.0.0.1/cb"]}"#,
    );
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    dir.ok(&["admin", "client", "delete", &id], "");
    dir.fails(&["admin", "client", "show", &id], "");
    dir.fails(
        &["admin", "client", "create"],
        r#"{"redirect_uris": ["not a uri"]}"#,
    );
    dir.fails(&["admin", "client", "create"], "not json");
    dir.fails(
        &["admin", "client", "create"],
        r#"{"grant_types": ["magic"]}"#,
    );
    // Every change is in the audit log, newest first, with who made it and never a secret.
    let audit = dir.ok(&["admin", "audit", "--limit", "10"], "");
    assert!(!audit.contains(&secret));
    let log: Value = serde_json::from_str(&audit).unwrap();
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(actions[0], ("client.delete", id.as_str()));
    assert!(actions.contains(&("client.regenerate_secret", id.as_str())));
    assert!(actions.contains(&("client.update", id.as_str())));
    assert_eq!(actions.last().unwrap(), &("client.create", id.as_str()));
    assert!(log[0]["actor"].as_str().unwrap().starts_with("cli:"));
}

#[test]
fn a_backup_restores_what_it_held_and_a_bad_one_changes_nothing() {
    let dir = DataDir::new("backup");
    dir.json(
        &["admin", "client", "create"],
        r#"{"client_id": "kept", "grant_types": ["client_credentials"]}"#,
    );
    let backup = dir.0.join("snapshot.db");
    let file = backup.to_str().unwrap();
    dir.ok(&["admin", "backup", file], "");
    assert!(
        dir.fails(&["admin", "backup", file], "")
            .contains("exists already")
    );

    // After the backup: the client goes, another comes.
    dir.ok(&["admin", "client", "delete", "kept"], "");
    dir.json(
        &["admin", "client", "create"],
        r#"{"client_id": "later", "grant_types": ["client_credentials"]}"#,
    );

    // Files that are not a backup of this server leave the database as it is.
    let garbage = dir.0.join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, just bytes").unwrap();
    dir.fails(&["admin", "restore", garbage.to_str().unwrap()], "");
    let other = DataDir::new("backup-other");
    other.json(
        &["admin", "client", "create"],
        r#"{"client_id": "elsewhere", "grant_types": ["client_credentials"]}"#,
    );
    let foreign = dir.0.join("foreign.db");
    other.ok(&["admin", "backup", foreign.to_str().unwrap()], "");
    let refused = dir.fails(&["admin", "restore", foreign.to_str().unwrap()], "");
    assert!(refused.contains("master key"), "{refused}");
    dir.ok(&["admin", "client", "show", "later"], "");

    let restored = dir.json(&["admin", "restore", file], "");
    assert_eq!(restored["clients"], 1);
    assert_eq!(restored["invalidated"]["codes"], 0, "{restored}");
    let kept = restored["previous_database_kept_as"].as_str().unwrap();
    assert!(
        std::path::Path::new(kept).is_file(),
        "the replaced database is kept"
    );
    let client = dir.json(&["admin", "client", "show", "kept"], "");
    assert_eq!(client["client_id"], "kept");
    dir.fails(&["admin", "client", "show", "later"], "");
    let kept = dir.json(&["admin", "restore", file, "--keep-grants"], "");
    assert_eq!(kept["invalidated"], Value::Null);
    let ended = dir.json(&["admin", "invalidate-grants"], "");
    assert_eq!(ended["invalidated"]["tokens"], 0);
}

#[test]
fn the_master_key_is_rotated_resealed_and_retired() {
    let dir = DataDir::new("master-key");
    let client = dir.json(
        &["admin", "client", "create"],
        r#"{"client_id": "sealed", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_jwt"}"#,
    );
    assert!(client["client_secret"].is_string(), "{client}");
    dir.json(&["admin", "server-config", "rotate-keys"], "");
    let file = dir.0.join("master.key");
    let original = std::fs::read_to_string(&file).unwrap();

    let rotated = dir.json(&["admin", "master-key", "rotate"], "");
    assert_eq!(rotated["keys"], 2);
    let ring = std::fs::read_to_string(&file).unwrap();
    let keys: Vec<&str> = ring.lines().collect();
    assert_eq!(keys[1], original.trim(), "the old key stays, second");
    let resealed = dir.json(&["admin", "master-key", "reseal"], "");
    assert_eq!(
        resealed["resealed"], 2,
        "the key ring and the client secret: {resealed}"
    );
    let retired = dir.json(&["admin", "master-key", "retire"], "");
    assert_eq!(retired["retired_keys"], 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), keys[0]);
    // The server's keys open with the new key alone, and no longer with the old one.
    dir.json(&["admin", "server-config", "rotate-keys"], "");
    std::fs::write(&file, &original).unwrap();
    let refused = dir.fails(&["admin", "server-config", "rotate-keys"], "");
    assert!(refused.contains("master key"), "{refused}");
    assert!(
        dir.fails(&["admin", "master-key", "retire"], "")
            .contains("key_rings server"),
        "nothing is retired while a value does not open"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
}

#[test]
fn users_and_the_server_configuration() {
    let dir = DataDir::new("users");
    let user = dir.json(
        &[
            "admin",
            "user",
            "create",
            "alice",
            "--password-stdin",
            "--claims",
            r#"{"email": "alice@example.com"}"#,
        ],
        "wonderland\n",
    );
    assert_eq!(user["claims"]["email"], "alice@example.com");
    dir.fails(
        &["admin", "user", "create", "alice", "--password-stdin"],
        "again\n",
    );
    dir.fails(&["admin", "user", "create", "bob", "--password-stdin"], "");
    dir.ok(
        &["admin", "user", "set-password", "alice", "--password-stdin"],
        "looking-glass\n",
    );
    let disabled = dir.json(
        &["admin", "user", "update", "alice", "--enabled", "false"],
        "",
    );
    assert_eq!(disabled["enabled"], false);
    assert!(dir.ok(&["admin", "user", "list"], "").contains("alice"));
    dir.ok(&["admin", "user", "delete", "alice"], "");
    dir.fails(&["admin", "user", "delete", "alice"], "");

    let config = dir.json(&["admin", "server-config", "show"], "");
    assert_eq!(config["intervals"]["access_token"], 3600);
    assert_eq!(config["intervals"]["authorization_code"], 60);
    assert_eq!(config["intervals"]["refresh_token"], 86400);
    assert_eq!(config["intervals"]["session"], 86400);
    assert_eq!(config["intervals"]["client_secret"], 0);
    let changed = dir.json(
        &[
            "admin",
            "server-config",
            "set",
            "intervals.access_token=600",
            "access_token_format=jwt",
            "description=Test AS",
        ],
        "",
    );
    assert_eq!(changed["intervals"]["access_token"], 600);
    assert_eq!(changed["access_token_format"], "jwt");
    dir.fails(
        &["admin", "server-config", "set", "intervals.acess_token=600"],
        "",
    );
    dir.fails(&["admin", "server-config", "set", "no_such_option=1"], "");
    dir.fails(
        &[
            "admin",
            "server-config",
            "set",
            "access_token_format=sometimes",
        ],
        "",
    );
    let rotated = dir.json(&["admin", "server-config", "rotate-keys"], "");
    let fresh = rotated["new_keys"].as_array().unwrap().len();
    assert!(fresh > 0);
    // Replaced keys stay until retired; a young one survives --older-than.
    let kept = dir.json(
        &[
            "admin",
            "server-config",
            "retire-keys",
            "--older-than",
            "3600",
        ],
        "",
    );
    assert_eq!(kept["retired"], 0);
    let retired = dir.json(&["admin", "server-config", "retire-keys"], "");
    assert_eq!(retired["retired"].as_u64().unwrap() as usize, fresh);

    let initial = dir.json(
        &[
            "admin",
            "registration-token",
            "create",
            "--expires-in",
            "60",
        ],
        "",
    );
    assert_eq!(initial["expires_in"], 60);
    assert_eq!(initial["initial_access_token"].as_str().unwrap().len(), 43);

    // Admin API tokens: made (shown once), revoked by name; the name must be one word.
    let made = dir.json(
        &["admin", "api-token", "create", "deploy", "--role", "viewer"],
        "",
    );
    assert_eq!(
        (made["name"].as_str(), made["role"].as_str()),
        (Some("deploy"), Some("viewer"))
    );
    assert_eq!(made["token"].as_str().unwrap().len(), 43);
    dir.fails(&["admin", "api-token", "create", "two words"], "");
    let revoked = dir.json(&["admin", "api-token", "revoke", "deploy"], "");
    assert_eq!(revoked["revoked"], 1);
}

#[test]
fn config_check_names_what_is_wrong_and_creates_nothing() {
    let dir = DataDir::new("config-check");
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("ostiary.toml");
    let check = |toml: &str| {
        std::fs::write(&config, toml).unwrap();
        dir.run(
            &["config", "check", "--config", config.to_str().unwrap()],
            "",
        )
    };
    let fails = |toml: &str, names: &str| {
        let out = check(toml);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{toml}: {err}");
        assert!(err.contains(names), "{toml}: {err}");
    };
    // A new data directory is fine and stays empty.
    let fresh = check("listen = \"127.0.0.1:8080\"");
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    let report: Value = serde_json::from_slice(&fresh.stdout).unwrap();
    assert!(report["state"].as_str().unwrap().starts_with("new"));
    assert!(!dir.0.join("ostiary.db").exists() && !dir.0.join("master.key").exists());

    fails("listn = \"127.0.0.1:8080\"", "listn");
    fails("listen = \"localhost\"", "listen");
    fails("admin_listen = \"127.0.0.1\"", "admin_listen");
    fails("issuer = \"ftp://example.com\"", "issuer");
    fails("tls_certificate = \"/nonexistent.pem\"", "tls_key");
    fails(
        "tls_certificate = \"/nonexistent.pem\"\ntls_key = \"/nonexistent.key\"",
        "nonexistent.pem",
    );

    // An initialized directory: its stored configuration and keys are read.
    let data = format!("data_dir = \"{}\"", dir.0.display());
    std::fs::write(&config, &data).unwrap();
    dir.ok(
        &[
            "admin",
            "server-config",
            "show",
            "--config",
            config.to_str().unwrap(),
        ],
        "",
    );
    let ok = check(&data);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(report["keys"].as_u64().unwrap() > 0, "{report}");
    // … and a master key that does not open them is named.
    let other = DataDir::new("config-check-other");
    other.ok(&["admin", "server-config", "show"], "");
    std::fs::copy(other.0.join("master.key"), dir.0.join("master.key")).unwrap();
    fails(&data, "master key");
}

#[test]
fn a_corrupt_config_file_or_database_url_is_one_line() {
    let dir = DataDir::new("corrupt");
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("ostiary.toml");
    std::fs::write(&config, "data_dir = [").unwrap();
    dir.fails(
        &[
            "admin",
            "--config",
            config.to_str().unwrap(),
            "user",
            "list",
        ],
        "",
    );
    std::fs::write(&config, "unknown_key = 1").unwrap();
    dir.fails(
        &[
            "admin",
            "--config",
            config.to_str().unwrap(),
            "user",
            "list",
        ],
        "",
    );
    dir.fails(&["admin", "--database", "mysql://x", "user", "list"], "");
    std::fs::write(dir.0.join("master.key"), "not-a-key").unwrap();
    dir.fails(&["admin", "user", "list"], "");
}

#[test]
fn serve_starts_on_an_empty_data_directory_and_stops_on_sigterm() {
    let dir = DataDir::new("serve");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ostiary"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OSTIARY_DATA_DIR", &dir.0)
        .env_remove("OSTIARY_BOOTSTRAP_ADMIN_PASSWORD")
        .env_remove("OSTIARY_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let text = seen.join("\n");
    assert!(text.contains("created the master key"), "{text}");
    assert!(text.contains("one-time password"), "{text}");
    assert!(dir.0.join("master.key").exists() && dir.0.join("ostiary.db").exists());
    let port = url.rsplit(':').next().unwrap();
    let health = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/readyz")])
        .output();
    if let Ok(out) = health {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ready");
    }
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    }
}

/// A running `ostiary serve` process, stopped when dropped; its stderr is collected.
struct ServeProcess {
    child: std::process::Child,
    base: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl ServeProcess {
    fn start(dir: &DataDir, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ostiary"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("OSTIARY_DATA_DIR", &dir.0)
            .env_remove("OSTIARY_MASTER_KEY")
            .env_remove("OSTIARY_DATABASE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, stderr) = std::sync::mpsc::channel();
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = reader.next().expect("serve printed its address").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap();
                break url.trim_end_matches("/oauth2").to_owned();
            }
        };
        std::thread::spawn(move || {
            for line in reader.map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        ServeProcess {
            child,
            base,
            stderr,
        }
    }

    /// Stops the process and returns what it wrote to stderr after its address.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.stderr.iter().collect::<Vec<_>>().join("\n")
    }
}

#[test]
fn json_logs_carry_request_ids_and_no_secrets_and_metrics_count_requests() {
    let dir = DataDir::new("observe");
    let created = dir.json(
        &["admin", "client", "create"],
        r#"{"client_type": "confidential", "grant_types": ["client_credentials", "password", "refresh_token"]}"#,
    );
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let user_password = "a-user-password-for-the-log-test";
    dir.ok(
        &["admin", "user", "create", "alice", "--password-stdin"],
        &format!("{user_password}\n"),
    );
    let admin_password = "an-administrator-password-for-the-log-test";
    let server = ServeProcess::start(
        &dir,
        &[
            ("OSTIARY_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("OSTIARY_BOOTSTRAP_ADMIN_PASSWORD", admin_password),
        ],
    );
    let base = server.base.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (token, request_ids, metrics, refresh_tokens) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let token_url = format!("{base}/oauth2/token");
        let issued = http
            .post(&token_url)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(issued.status(), 200);
        let first_id = issued.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let token = issued.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let refused = http
            .post(&token_url)
            .basic_auth(&id, Some("a-wrong-secret"))
            .form(&[("grant_type", "client_credentials")])
            .header("x-request-id", "from-the-proxy-42")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.headers()["x-request-id"], "from-the-proxy-42");
        let introspected = http
            .post(format!("{base}/oauth2/introspection"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(introspected.status(), 200);
        let missing = http
            .get(format!("{base}/no/such/page"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(
            metrics.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let metrics = metrics.text().await.unwrap();
        // After the metrics were read: a user's password and refresh tokens (one spent and
        // presented again), none of which may be logged.
        let form = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", user_password),
        ];
        let tokens = async |form: &[(&str, &str)]| {
            let response = http
                .post(&token_url)
                .basic_auth(&id, Some(&secret))
                .form(form);
            let response = response.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        };
        let first = tokens(&form).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let refreshed = tokens(&[("grant_type", "refresh_token"), ("refresh_token", &first)]).await;
        let spent = http
            .post(&token_url)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &first)])
            .send()
            .await
            .unwrap();
        assert_eq!(spent.status(), 400);
        let refresh_tokens = [
            first,
            refreshed["refresh_token"].as_str().unwrap().to_owned(),
        ];
        (token, [first_id], metrics, refresh_tokens)
    });
    let value_of = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        value_of(r#"ostiary_http_requests_total{route="/oauth2/token",status="2xx"}"#),
        1.0
    );
    assert_eq!(
        value_of(r#"ostiary_http_requests_total{route="/oauth2/token",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        value_of(r#"ostiary_http_requests_total{route="unmatched",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        value_of(r#"ostiary_http_request_duration_seconds_count{route="/oauth2/introspection"}"#),
        1.0
    );
    assert_eq!(
        value_of(r#"ostiary_tokens_issued_total{grant_type="client_credentials"}"#),
        1.0
    );
    assert_eq!(
        value_of(r#"ostiary_tokens_issued_total{grant_type="password"}"#),
        0.0
    );
    // Two token requests and one introspection authenticated the client: the first read the
    // row from the database, the later ones found it in memory.
    let hits = value_of(r#"ostiary_client_cache_lookups_total{result="hit"}"#);
    let misses = value_of(r#"ostiary_client_cache_lookups_total{result="miss"}"#);
    assert!(misses >= 1.0 && hits >= 2.0, "{metrics}");
    assert!(value_of("ostiary_db_connections_max") >= 1.0);
    assert!(value_of("process_resident_memory_bytes") > 1e6);
    assert!(
        !metrics.contains("/no/such/page"),
        "unmatched paths share one label"
    );

    let logs = server.stop();
    let [first_refresh, second_refresh] = &refresh_tokens;
    for secret_value in [
        secret.as_str(),
        token.as_str(),
        admin_password,
        user_password,
        first_refresh,
        second_refresh,
    ] {
        assert!(
            !logs.contains(secret_value),
            "a secret in the logs:\n{logs}"
        );
    }
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let answered = |request_id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == "answered" && l["span"]["id"] == request_id)
    };
    let first =
        answered(&request_ids[0]).unwrap_or_else(|| panic!("no log of the first request:\n{logs}"));
    assert_eq!(first["span"]["route"], "/oauth2/token");
    assert_eq!(first["fields"]["status"], 200);
    let refused =
        answered("from-the-proxy-42").unwrap_or_else(|| panic!("no log of the refusal:\n{logs}"));
    assert_eq!(refused["fields"]["status"], 401);
}

/// Serves `body` to every request on a loopback port; returns the URL.
fn serve_static(body: String) -> String {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn update_jwks_fetches_a_clients_keys_through_the_guarded_fetcher() {
    let dir = DataDir::new("update-jwks");
    let private: Value =
        serde_json::from_str(&dir.ok(&["jwt", "keygen", "--alg", "ES256"], "")).unwrap();
    let kid = private["keys"][0]["kid"].as_str().unwrap().to_owned();
    let url = serve_static(private.to_string());
    let metadata = json!({
        "client_type": "confidential", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": url,
    });
    let id = dir.json(&["admin", "client", "create"], &metadata.to_string())["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Loopback is a private address: not fetched unless the configuration allows it (SSRF).
    let refused = dir.fails(&["admin", "client", "update-jwks", &id], "");
    assert!(refused.contains("cannot fetch"), "{refused}");
    dir.ok(
        &[
            "admin",
            "server-config",
            "set",
            "fetch_private_addresses=true",
        ],
        "",
    );
    let updated = dir.json(&["admin", "client", "update-jwks", &id], "");
    assert_eq!(updated["jwks_uri"], url.as_str());
    assert_eq!(updated["jwks"]["keys"][0]["kid"], kid.as_str());
    assert!(
        updated["jwks"]["keys"][0].get("d").is_none(),
        "only the public half is kept, whatever the client serves"
    );
    let audit = dir.ok(&["admin", "audit", "--limit", "1"], "");
    assert!(
        audit.contains("client.update_jwks") && audit.contains(&kid),
        "{audit}"
    );
    let inline = dir.json(
        &["admin", "client", "create"],
        r#"{"client_type": "public", "redirect_uris": ["http://127.0.0.1/cb"]}"#,
    )["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        dir.fails(&["admin", "client", "update-jwks", &inline], "")
            .contains("no jwks_uri")
    );
}

#[test]
fn tls_certificates_are_reloaded_on_sighup_and_silent_clients_block_nobody() {
    let dir = DataDir::new("tls-reload");
    let first = ostiary::tls::self_signed(&dir.0.join("first")).unwrap();
    let second = ostiary::tls::self_signed(&dir.0.join("second")).unwrap();
    let served = dir.0.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let (certificate, key) = (served.join("certificate.pem"), served.join("key.pem"));
    // As an operator's tooling would: new files beside, then renamed over the old.
    let install = |from: &ostiary::tls::TlsFiles| {
        for (source, target) in [(&from.certificate, &certificate), (&from.key, &key)] {
            let staged = target.with_extension("new");
            std::fs::copy(source, &staged).unwrap();
            std::fs::rename(&staged, target).unwrap();
        }
    };
    install(&first);
    let server = ServeProcess::start(
        &dir,
        &[
            ("OSTIARY_TLS_CERTIFICATE", certificate.to_str().unwrap()),
            ("OSTIARY_TLS_KEY", key.to_str().unwrap()),
        ],
    );
    let base = server.base.clone();
    assert!(base.starts_with("https://"), "{base}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A new client per request (no pooled connection, no TLS session to resume): each sees the
    // certificate served now, and answers whether it trusts it.
    let healthy = |trusted: &ostiary::tls::TlsFiles| {
        let pem = std::fs::read(&trusted.certificate).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(std::time::Duration::from_secs(3))
            .build()
            .unwrap();
        runtime.block_on(async {
            client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
    };
    let (old, new) = (&first, &second);
    // A client that connects and never says hello holds up no one (the handshake waits 10 s).
    let _silent = std::net::TcpStream::connect(base.trim_start_matches("https://")).unwrap();
    let started = std::time::Instant::now();
    assert!(healthy(old) && !healthy(new));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    let hangup = || {
        let pid = server.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    install(&second);
    hangup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !healthy(new) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was not served"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!healthy(old), "the old certificate is gone");

    // A broken key file is refused; the certificate in use stays and the server goes on.
    std::fs::write(&key, "not a key").unwrap();
    hangup();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(healthy(new));
    let logs = server.stop();
    assert!(logs.contains("TLS certificate reloaded"), "{logs}");
    assert!(logs.contains("not reloaded"), "{logs}");
}
