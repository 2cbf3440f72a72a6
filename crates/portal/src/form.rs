//! Forms made from the JSON form of a configuration item: each member a field whose input kind
//! follows its current value, read back into JSON of the same shape. One renderer and one
//! reader serve every tab of the server configuration and every client description, so a new
//! configuration item appears in the portal without new page code.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Text,
    Number,
    Bool,
    /// A list of strings, one per line.
    Lines,
    /// Scopes: `name description` per line.
    Scopes,
    /// Anything else, as JSON.
    Json,
}

/// One field of a form: its dotted path, label, kind and current text.
#[derive(Clone, Debug, Serialize)]
pub struct Field {
    pub path: String,
    pub label: String,
    pub kind: Kind,
    pub value: String,
    /// The validation message for this field, when the last submission was refused for it.
    pub error: Option<String>,
    /// The values it may take, when there are few (shown as a list to choose from; an empty
    /// first choice means "not set").
    pub options: Vec<String>,
}

/// The choices of the configuration items that take one of a few values.
fn options_for(path: &str, unset: bool) -> Vec<String> {
    use ostiary_jose::{EncAlg, KeyAlg, SigAlg};
    let name = path.rsplit('.').next().unwrap_or(path);
    let mut choices: Vec<String> = match name {
        "client_type" | "kind" => vec!["confidential".into(), "public".into(), "resource".into()],
        "token_endpoint_auth_method" => ostiary_core::AuthMethod::ALL
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        "access_token_format" => vec!["opaque".into(), "jwt".into()],
        "registration" => vec!["off".into(), "open".into(), "token".into()],
        "return_refresh_token" => [
            "if_client_allows_refresh",
            "if_offline_access",
            "always",
            "never",
        ]
        .map(str::to_owned)
        .to_vec(),
        "signing_alg"
        | "id_token_signed_response_alg"
        | "userinfo_signed_response_alg"
        | "request_object_signing_alg"
        | "token_endpoint_auth_signing_alg" => {
            SigAlg::ALL.iter().map(|a| a.name().to_owned()).collect()
        }
        "key_alg" | "id_token_encrypted_response_alg" | "userinfo_encrypted_response_alg" => {
            KeyAlg::ALL.iter().map(|a| a.name().to_owned()).collect()
        }
        "enc_alg" | "id_token_encrypted_response_enc" | "userinfo_encrypted_response_enc" => {
            EncAlg::ALL.iter().map(|a| a.name().to_owned()).collect()
        }
        _ => return Vec::new(),
    };
    if unset {
        choices.insert(0, String::new());
    }
    choices
}

fn at<'v>(root: &'v Value, path: &str) -> &'v Value {
    path.split('.')
        .try_fold(root, |node, part| node.get(part))
        .unwrap_or(&Value::Null)
}

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) | Value::Null => Kind::Text,
        Value::Array(items) if items.iter().all(Value::is_string) => Kind::Lines,
        Value::Array(items)
            if items
                .iter()
                .all(|s| s.get("name").is_some_and(Value::is_string)) =>
        {
            Kind::Scopes
        }
        _ => Kind::Json,
    }
}

/// The kind of the item at `path`: by its value, or — unset — by what it holds when set (the
/// key-holding items are JSON objects).
fn kind_at(root: &Value, path: &str) -> Kind {
    let value = at(root, path);
    let name = path.rsplit('.').next().unwrap_or(path);
    if value.is_null() && matches!(name, "x509" | "jwks") {
        return Kind::Json;
    }
    kind_of(value)
}

/// The field for `path` of `root`.
pub fn field(root: &Value, path: &str) -> Field {
    let value = at(root, path);
    let kind = kind_at(root, path);
    let text = match (kind, value) {
        (_, Value::Null) => String::new(),
        (Kind::Text, Value::String(s)) => s.clone(),
        (Kind::Lines, Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        (Kind::Scopes, Value::Array(items)) => items
            .iter()
            .map(|s| {
                let name = s["name"].as_str().unwrap_or_default();
                match s.get("description").and_then(Value::as_str) {
                    Some(d) if !d.is_empty() => format!("{name} {d}"),
                    _ => name.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
        (Kind::Json, v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        (_, v) => v.to_string(),
    };
    Field {
        path: path.to_owned(),
        label: path.rsplit('.').next().unwrap_or(path).replace('_', " "),
        kind,
        options: match kind {
            Kind::Text => options_for(path, value.is_null()),
            _ => Vec::new(),
        },
        value: text,
        error: None,
    }
}

/// The JSON for `input` in the field of `path`, shaped like the current value: `Err` with a
/// message for the field when it cannot be.
pub fn read(root: &Value, path: &str, input: &str) -> Result<Value, String> {
    let current = at(root, path);
    let input = input.trim();
    Ok(match kind_at(root, path) {
        Kind::Bool => Value::Bool(input == "true"),
        Kind::Number => {
            let number: serde_json::Number = input
                .parse()
                .map_err(|_| format!("\"{input}\" is not a number"))?;
            Value::Number(number)
        }
        Kind::Text if current.is_null() => {
            // Unset options: empty stays unset; a number or boolean keeps its type.
            if input.is_empty() {
                Value::Null
            } else {
                serde_json::from_str::<Value>(input)
                    .ok()
                    .filter(|v| v.is_number() || v.is_boolean())
                    .unwrap_or_else(|| Value::String(input.to_owned()))
            }
        }
        Kind::Text => Value::String(input.to_owned()),
        Kind::Lines => Value::Array(
            input
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::String(l.to_owned()))
                .collect(),
        ),
        Kind::Scopes => Value::Array(
            input
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (name, description) = l.split_once(' ').unwrap_or((l, ""));
                    let mut scope = Map::new();
                    scope.insert("name".into(), name.into());
                    scope.insert("description".into(), description.trim().into());
                    Value::Object(scope)
                })
                .collect(),
        ),
        Kind::Json if input.is_empty() => Value::Null,
        Kind::Json => serde_json::from_str(input).map_err(|e| format!("not JSON: {e}"))?,
    })
}

/// Puts `message` on the field whose name it mentions — as `redirect_uris`, `redirect uris` or
/// `redirect URI` — (else on none: the page shows it on top).
pub fn attach_error(fields: &mut [Field], message: &str) -> bool {
    let message = message.to_lowercase();
    let named = fields.iter_mut().find(|f| {
        let name = f.path.rsplit('.').next().unwrap_or(&f.path);
        let spaced = name.replace('_', " ");
        let singular = spaced.strip_suffix('s').unwrap_or(&spaced);
        message.contains(name) || message.contains(singular)
    });
    match named {
        Some(field) => {
            field.error = Some(message.to_owned());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_reads_back_what_it_shows() {
        let root = json!({
            "flag": true, "count": 3, "name": "x", "unset": null, "uris": ["a", "b"],
            "scopes": [{"name": "openid", "description": "Sign you in"}, {"name": "api"}],
            "jwks": {"keys": []},
        });
        for path in ["flag", "count", "name", "uris", "scopes", "jwks"] {
            let shown = field(&root, path);
            let mut expected = root[path].clone();
            if path == "scopes" {
                expected[1]["description"] = json!("");
            }
            assert_eq!(read(&root, path, &shown.value).unwrap(), expected, "{path}");
        }
        assert_eq!(read(&root, "unset", "").unwrap(), Value::Null);
        assert_eq!(read(&root, "unset", "3600").unwrap(), json!(3600));
        assert_eq!(read(&root, "unset", "RS256").unwrap(), json!("RS256"));
        assert!(read(&root, "count", "many").is_err());
        assert!(read(&root, "jwks", "{").is_err());
        assert_eq!(field(&root, "scopes").kind, Kind::Scopes);
    }

    #[test]
    fn items_of_a_few_values_offer_them() {
        let root =
            json!({"client_type": "public", "jwt": {"key_alg": null, "x509": null}, "name": "x"});
        assert_eq!(
            field(&root, "client_type").options,
            ["confidential", "public", "resource"]
        );
        let key_alg = field(&root, "jwt.key_alg");
        assert_eq!(key_alg.options[0], "", "unset comes first");
        assert!(key_alg.options.contains(&"RSA-OAEP-256".to_owned()));
        assert!(field(&root, "name").options.is_empty());
        // Unset key-holding items are JSON objects to fill in, and stay unset when left empty.
        assert_eq!(field(&root, "jwt.x509").kind, Kind::Json);
        let x509 = read(&root, "jwt.x509", r#"{"certificate_file": "c.pem"}"#).unwrap();
        assert_eq!(x509["certificate_file"], "c.pem");
        assert_eq!(read(&root, "jwt.x509", "").unwrap(), Value::Null);
    }

    #[test]
    fn a_message_lands_on_the_field_it_names() {
        let root = json!({"redirect_uris": [], "grant_types": []});
        let mut fields = vec![field(&root, "grant_types"), field(&root, "redirect_uris")];
        assert!(attach_error(
            &mut fields,
            "redirect URI \"x\" is not an absolute URI"
        ));
        assert!(fields[1].error.is_some() && fields[0].error.is_none());
        assert!(!attach_error(&mut fields, "something else entirely"));
    }
}
