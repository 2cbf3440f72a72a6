//! `ostiary demo`: the three roles on loopback, in Chromium (interop/node/demo.mjs) and with the
//! client credentials curl sequence it prints.

use serde_json::{Value, json};

/// Three free consecutive loopback ports; returns the first.
fn free_base() -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = first.local_addr().unwrap().port();
        if base > u16::MAX - 2 {
            continue;
        }
        let next = (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if next {
            return base;
        }
    }
    panic!("no three free consecutive ports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_through_the_reference_example() {
    walk_through(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_through_the_reference_example_over_https() {
    walk_through(true).await;
}

async fn walk_through(tls: bool) {
    let options = ostiary::demo::DemoOptions {
        data_dir: None,
        listen_base: free_base(),
        tls,
    };
    let demo = ostiary::demo::start(&options).await.unwrap();
    let data_dir = demo.data_dir.clone();
    assert!(data_dir.join("authorization-server/ostiary.db").exists());
    assert!(data_dir.join("resource-server/ostiary.db").exists());
    assert!(data_dir.join("client-app/ostiary.db").exists());

    // The client credentials part: the printed curl commands, run as printed.
    let guide = ostiary::demo::guide(&demo);
    let commands: Vec<&str> = guide
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("TOKEN=") || l.starts_with("curl "))
        .collect();
    assert_eq!(commands.len(), 2, "{guide}");
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(commands.join("\n"))
        .output()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(answer["validated_by"], "local JWT validation");
    assert_eq!(answer["client_id"], "postman-client");
    assert_eq!(answer["reports"].as_array().unwrap().len(), 2);

    // The same with the Postman collection of examples/, its requests run in order as Postman
    // runs them (variables substituted, the token kept from the first answer).
    let collection: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/ostiary-demo.postman_collection.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut http = reqwest::Client::builder();
    if let Some(path) = &demo.certificate {
        let pem = std::fs::read(path).unwrap();
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    assert_eq!(demo.issuer.starts_with("https://"), tls);
    let answers = run_collection(
        &http.build().unwrap(),
        &collection,
        &[
            ("issuer", demo.issuer.clone()),
            ("resource_server", demo.resource_server.clone()),
            ("client_secret", demo.service_client_secret.clone()),
        ],
    )
    .await;
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[1]["validated_by"], "local JWT validation");
    assert_eq!(answers[2]["active"], true);
    assert_eq!(answers[2]["scope"], "reports:read");

    // The authorization code part, in a browser.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let screenshots = workspace.join(if tls {
        "target/demo-screenshots-https"
    } else {
        "target/demo-screenshots"
    });
    let _ = std::fs::remove_dir_all(&screenshots);
    let input = json!({
        "client_app": demo.client_app, "username": "demo", "password": "demo",
        "screenshots": screenshots, "tls": tls,
    });
    let script = workspace.join("interop/node/demo.mjs");
    let report = crate::interop::run_peer(std::path::Path::new("node"), &script, &input, 120).await;
    assert_eq!(report["steps"].as_array().unwrap().len(), 10, "{report}");

    drop(demo);
    assert!(
        !data_dir.exists(),
        "the temporary data directory goes with the demo"
    );
}

/// Runs a Postman v2.1 collection's requests in order (basic and bearer auth, urlencoded bodies,
/// `{{variables}}`); an answer's `access_token` becomes the `access_token` variable, as the
/// collection's test script does. Returns the JSON answers.
async fn run_collection(
    http: &reqwest::Client,
    collection: &Value,
    given: &[(&str, String)],
) -> Vec<Value> {
    let mut vars: Vec<(String, String)> = collection["variable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (key, value) in given {
        vars.retain(|(k, _)| k != key);
        vars.push(((*key).to_owned(), value.clone()));
    }
    let mut answers = Vec::new();
    for item in collection["item"].as_array().unwrap() {
        let fill = |text: &str| {
            vars.iter().fold(text.to_owned(), |t, (k, v)| {
                t.replace(&format!("{{{{{k}}}}}"), v)
            })
        };
        let request = &item["request"];
        let method: reqwest::Method = request["method"].as_str().unwrap().parse().unwrap();
        let mut call = http.request(method, fill(request["url"]["raw"].as_str().unwrap()));
        let auth = &request["auth"];
        let field = |list: &Value, key: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|f| f["key"] == key)
                .map(|f| fill(f["value"].as_str().unwrap()))
                .unwrap()
        };
        match auth["type"].as_str() {
            Some("basic") => {
                call = call.basic_auth(
                    field(&auth["basic"], "username"),
                    Some(field(&auth["basic"], "password")),
                )
            }
            Some("bearer") => call = call.bearer_auth(field(&auth["bearer"], "token")),
            _ => {}
        }
        if let Some(form) = request["body"]["urlencoded"].as_array() {
            let form: Vec<(String, String)> = form
                .iter()
                .map(|f| {
                    (
                        f["key"].as_str().unwrap().to_owned(),
                        fill(f["value"].as_str().unwrap()),
                    )
                })
                .collect();
            call = call.form(&form);
        }
        let response = call.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{}: {}",
            item["name"],
            response.status()
        );
        let answer: Value = response.json().await.unwrap();
        if let Some(token) = answer["access_token"].as_str() {
            vars.retain(|(k, _)| k != "access_token");
            vars.push(("access_token".into(), token.to_owned()));
        }
        answers.push(answer);
    }
    answers
}
