//! The `Properties` object (DESIGN.md, "customization"; the reference's %OAuth2.Server.Properties):
//! what one authorization carries from hook to hook and on to the tokens it produces. The server
//! fills it from the request, the hooks add claim values and requirements, and it is stored with
//! the code and the tokens so that the token, userinfo and introspection endpoints answer from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ClientDescription, ServerConfig, User};
use crate::params::Params;

/// Request parameters that never reach the hooks: credentials and single-use secrets.
const SECRET_PARAMETERS: &[&str] = &[
    "password",
    "client_secret",
    "client_assertion",
    "assertion",
    "code",
    "code_verifier",
    "refresh_token",
];

/// Scopes as the hooks see them, in request order: scope value → its display form (the
/// description the server configuration gives it, or the value itself). Hooks may add or remove
/// entries (`shift_remove` keeps the order).
pub type ScopeMap = indexmap::IndexMap<String, String>;

/// One requested claim (OpenID Connect Core §5.5.1): essential or voluntary, with optional values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimRequest {
    #[serde(default)]
    pub essential: bool,
    /// Permissible values; empty when any value will do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
}

/// Claim name → requirement.
pub type ClaimRequests = BTreeMap<String, ClaimRequest>;

/// The type of a claim value, as the reference's `SetClaimValue` names it. Arrays take the type
/// of their items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimType {
    String,
    Boolean,
    Number,
    Object,
}

#[derive(Debug, thiserror::Error)]
#[error("claim {name}: {text:?} is not a {kind:?}")]
pub struct ClaimTypeError {
    pub name: String,
    pub text: String,
    pub kind: ClaimType,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Properties {
    /// The parameters of the request that started the authorization (secrets left out).
    pub request: BTreeMap<String, String>,
    /// Members to add to the token response (and to the authorization response's parameters).
    pub response: Map<String, Value>,
    /// Free-form values for customization code to pass along; login form fields `p_*` land here.
    pub custom: BTreeMap<String, String>,
    /// What the server shares with the hooks: the client's `client_name`, `logo_uri`,
    /// `client_uri`, `policy_uri`, `tos_uri`.
    pub server: BTreeMap<String, String>,
    /// Claims introspection returns beyond its base set.
    pub introspection_claims: ClaimRequests,
    /// Claims the ID token carries beyond `iss`, `sub`, `aud`, `exp`, `iat`, `azp`, ….
    pub id_token_claims: ClaimRequests,
    /// Claims userinfo returns beyond `sub`.
    pub userinfo_claims: ClaimRequests,
    /// Claims a JWT access token carries beyond `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, ….
    pub jwt_claims: ClaimRequests,
    /// Extra JWT header parameters. An empty value takes the claim of the same name, or for `jku`
    /// the server's JWKS URL and for `jwk` the signing key; any other value is used as it is.
    /// Registered parameters (`alg`, `enc`, `kid`, `typ`, `cty`, …) cannot be set this way.
    pub jwt_header_claims: BTreeMap<String, String>,
    /// The claim values, by name.
    claim_values: BTreeMap<String, Value>,
}

/// Authentication context classes (`acr`), as Keycloak numbers them: `0` when a session
/// answered without the user doing anything, `1` when they proved themselves in this request.
pub const ACR_SESSION: &str = "0";
pub const ACR_PASSWORD: &str = "1";

/// The JWT header parameters a [`Properties`] asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JwtHeader {
    /// Unregistered parameters, with their values.
    pub custom: Map<String, Value>,
    /// Add `jku`: the server's JWKS URL.
    pub jku: bool,
    /// Add `jwk`: the signing key's public half.
    pub jwk: bool,
}

impl Properties {
    /// The properties of a new authorization by `client`: the request's parameters (secrets left
    /// out) and the client's display details.
    pub fn new(client: &ClientDescription, params: &Params) -> Self {
        let request = params
            .iter()
            .filter(|(name, _)| !SECRET_PARAMETERS.contains(name))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let server = [
            ("client_name", Some(client.display_name())),
            ("logo_uri", client.logo_uri.as_deref()),
            ("client_uri", client.client_uri.as_deref()),
            ("policy_uri", client.policy_uri.as_deref()),
            ("tos_uri", client.tos_uri.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
        Properties {
            request,
            server,
            ..Default::default()
        }
    }

    /// Sets a claim to any JSON value: a string, a bool, a number, an object or an array.
    pub fn set_claim(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.claim_values.insert(name.into(), value.into());
    }

    /// Sets a claim from its text form and type, as the reference's `SetClaimValue` does:
    /// `"boolean"` accepts `1`/`0`/`true`/`false`, `"object"` a serialized JSON object.
    pub fn set_claim_text(
        &mut self,
        name: &str,
        text: &str,
        kind: ClaimType,
    ) -> Result<(), ClaimTypeError> {
        let error = || ClaimTypeError {
            name: name.to_owned(),
            text: text.to_owned(),
            kind,
        };
        let value = match kind {
            ClaimType::String => Value::String(text.to_owned()),
            ClaimType::Boolean => match text {
                "1" | "true" => Value::Bool(true),
                "0" | "false" => Value::Bool(false),
                _ => return Err(error()),
            },
            ClaimType::Number => match serde_json::from_str::<Value>(text) {
                Ok(n @ Value::Number(_)) => n,
                _ => return Err(error()),
            },
            ClaimType::Object => match serde_json::from_str::<Value>(text) {
                Ok(o @ Value::Object(_)) => o,
                _ => return Err(error()),
            },
        };
        self.claim_values.insert(name.to_owned(), value);
        Ok(())
    }

    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claim_values.get(name)
    }

    /// The type of a claim's value (of its items, for an array); `None` when it is not set or
    /// holds `null` or an empty array.
    pub fn claim_type(&self, name: &str) -> Option<ClaimType> {
        fn kind(value: &Value) -> Option<ClaimType> {
            match value {
                Value::String(_) => Some(ClaimType::String),
                Value::Bool(_) => Some(ClaimType::Boolean),
                Value::Number(_) => Some(ClaimType::Number),
                Value::Object(_) => Some(ClaimType::Object),
                Value::Array(items) => items.first().and_then(kind),
                Value::Null => None,
            }
        }
        self.claim(name).and_then(kind)
    }

    pub fn remove_claim(&mut self, name: &str) -> Option<Value> {
        self.claim_values.remove(name)
    }

    /// The name of the claim after `name` in name order; `""` gives the first one.
    pub fn next_claim(&self, name: &str) -> Option<&str> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.claim_values
            .range::<str, _>((Excluded(name), Unbounded))
            .next()
            .map(|(k, _)| k.as_str())
    }

    /// Every claim value, in name order.
    pub fn claims(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.claim_values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Adds the claim requirements of `scope` (OpenID Connect Core §5.4) and of a `claims`
    /// request parameter (§5.5) to the ID token and userinfo maps. Scope claims go to both, as
    /// the ID token is the only place they reach a client that gets no access token.
    pub fn require_claims(&mut self, scope: &ScopeMap, claims_parameter: Option<&Value>) {
        // `acr_values` (OpenID Connect Core §3.1.2.1) is a voluntary request for `acr`; a
        // `claims` request for it, below, says more and wins.
        if let Some(values) = self.request.get("acr_values") {
            let values = values
                .split(' ')
                .map(|v| Value::from(v.to_owned()))
                .collect();
            self.id_token_claims.insert(
                "acr".to_owned(),
                ClaimRequest {
                    essential: false,
                    values,
                },
            );
        }
        for name in scope.keys().flat_map(|s| claims_of_scope(s)) {
            for target in [&mut self.id_token_claims, &mut self.userinfo_claims] {
                target.entry((*name).to_owned()).or_default();
            }
        }
        let Some(request) = claims_parameter else {
            return;
        };
        for (member, target) in [
            ("id_token", &mut self.id_token_claims),
            ("userinfo", &mut self.userinfo_claims),
        ] {
            let Some(asked) = request.get(member).and_then(Value::as_object) else {
                continue;
            };
            for (name, how) in asked {
                let mut requirement = ClaimRequest::default();
                if let Some(how) = how.as_object() {
                    requirement.essential = how.get("essential") == Some(&Value::Bool(true));
                    if let Some(value) = how.get("value") {
                        requirement.values.push(value.clone());
                    }
                    if let Some(Value::Array(values)) = how.get("values") {
                        requirement.values.extend(values.iter().cloned());
                    }
                }
                target.insert(name.clone(), requirement);
            }
        }
    }

    /// Records how the user signed in (`acr` in the ID token). Errs, with the reason, when the
    /// request made `acr` essential and this level is not among its values.
    pub fn set_acr(&mut self, level: &str) -> Result<(), String> {
        let requirement = self.id_token_claims.entry("acr".to_owned()).or_default();
        if requirement.essential && !acr_allows(requirement, level) {
            return Err(format!(
                "the requested authentication context cannot be met (this sign-in is acr {level})"
            ));
        }
        self.set_claim("acr", level);
        Ok(())
    }

    /// Whether a sign-in at `level` suits the `acr` values the request asked for, if any.
    pub fn accepts_acr(&self, level: &str) -> bool {
        self.id_token_claims
            .get("acr")
            .is_none_or(|r| acr_allows(r, level))
    }

    /// The built-in user source's claims: every stored claim of `user`, and its username as
    /// `sub` and `preferred_username` unless stored otherwise.
    pub fn set_user_claims(&mut self, user: &User) {
        for (name, value) in &user.claims {
            self.set_claim(name.clone(), value.clone());
        }
        self.set_claim("sub", user.username.clone());
        if self.claim("preferred_username").is_none() {
            self.set_claim("preferred_username", user.username.clone());
        }
    }

    /// What the server fills in after `validate_user` / `validate_client` when a hook left it
    /// out: `iss`, `sub` (the user, or the client acting for itself), `exp`, and the custom
    /// property `client_id`.
    pub fn fill_missing(
        &mut self,
        config: &ServerConfig,
        subject: &str,
        client_id: &str,
        exp: i64,
    ) {
        for (name, value) in [
            ("iss", Value::from(config.issuer_url())),
            ("sub", Value::from(subject)),
            ("exp", Value::from(exp)),
        ] {
            self.claim_values.entry(name.to_owned()).or_insert(value);
        }
        self.custom
            .entry("client_id".to_owned())
            .or_insert_with(|| client_id.to_owned());
    }

    /// The values of the claims `requested` names that are set, for a token or response body.
    pub fn release(&self, requested: &ClaimRequests) -> Map<String, Value> {
        requested
            .keys()
            .filter_map(|name| Some((name.clone(), self.claim(name)?.clone())))
            .collect()
    }

    /// The header parameters `jwt_header_claims` names, for a JWT carrying `claims`. An empty
    /// value takes the token's claim of that name, else the claim value; registered names other
    /// than `jku` and `jwk` are left out, as the server sets those itself.
    pub fn jwt_header(&self, claims: &Map<String, Value>) -> JwtHeader {
        let mut header = JwtHeader::default();
        for (name, given) in &self.jwt_header_claims {
            match name.as_str() {
                "jku" => header.jku = true,
                "jwk" => header.jwk = true,
                n if ostiary_jose::REGISTERED.contains(&n) => {}
                _ => {
                    let value = if given.is_empty() {
                        claims.get(name).or_else(|| self.claim(name)).cloned()
                    } else {
                        Some(Value::String(given.clone()))
                    };
                    if let Some(value) = value {
                        header.custom.insert(name.clone(), value);
                    }
                }
            }
        }
        header
    }

    /// A custom property's value.
    pub fn custom_value(&self, name: &str) -> Option<&str> {
        self.custom.get(name).map(String::as_str)
    }
}

fn acr_allows(requirement: &ClaimRequest, level: &str) -> bool {
    requirement.values.is_empty() || requirement.values.iter().any(|v| v == level)
}

/// The claims a scope releases (OpenID Connect Core §5.4).
pub fn claims_of_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => crate::issue::PROFILE_CLAIMS,
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// The scopes of `text`, each with its display form from the configuration.
pub fn scope_map(config: &ServerConfig, scope: &ostiary_core::Scopes) -> ScopeMap {
    scope
        .iter()
        .map(|name| {
            let display = config
                .scopes
                .iter()
                .find(|d| d.name == name && !d.description.is_empty())
                .map_or(name, |d| d.description.as_str());
            (name.to_owned(), display.to_owned())
        })
        .collect()
}

/// The scope string of a scope map.
pub fn scope_string(scope: &ScopeMap) -> String {
    scope
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_claim_values_set_get_remove_and_walk_in_name_order() {
        let mut p = Properties::default();
        p.set_claim_text("email_verified", "0", ClaimType::Boolean)
            .unwrap();
        p.set_claim_text("age", "42", ClaimType::Number).unwrap();
        p.set_claim_text("address", r#"{"country":"NL"}"#, ClaimType::Object)
            .unwrap();
        p.set_claim("groups", json!(["a", "b"]));
        assert_eq!(p.claim("email_verified"), Some(&json!(false)));
        assert_eq!(p.claim_type("age"), Some(ClaimType::Number));
        assert_eq!(p.claim_type("address"), Some(ClaimType::Object));
        assert_eq!(p.claim_type("groups"), Some(ClaimType::String));
        assert!(p.set_claim_text("age", "forty", ClaimType::Number).is_err());
        assert!(p.set_claim_text("x", "[1]", ClaimType::Object).is_err());
        assert!(p.set_claim_text("x", "yes", ClaimType::Boolean).is_err());

        let mut names = Vec::new();
        let mut at = "";
        while let Some(next) = p.next_claim(at) {
            names.push(next.to_owned());
            at = names.last().unwrap();
        }
        assert_eq!(names, ["address", "age", "email_verified", "groups"]);
        assert_eq!(p.remove_claim("age"), Some(json!(42)));
        assert_eq!(p.next_claim("address"), Some("email_verified"));
    }

    #[test]
    fn scopes_and_the_claims_parameter_become_requirements() {
        let mut p = Properties::default();
        let scope: ScopeMap = [("openid", ""), ("email", "")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .into();
        let claims = json!({
            "id_token": {"acr": {"essential": true, "values": ["a", "b"]}, "name": null},
            "userinfo": {"nickname": {"value": "x"}}
        });
        p.require_claims(&scope, Some(&claims));
        assert!(p.id_token_claims.contains_key("email"));
        assert!(p.userinfo_claims.contains_key("email_verified"));
        assert_eq!(
            p.id_token_claims["acr"],
            ClaimRequest {
                essential: true,
                values: vec![json!("a"), json!("b")]
            }
        );
        assert!(p.id_token_claims.contains_key("name"));
        assert!(!p.userinfo_claims.contains_key("name"));
        assert_eq!(p.userinfo_claims["nickname"].values, vec![json!("x")]);
    }

    #[test]
    fn jwt_header_parameters_come_from_the_token_then_the_claim_values() {
        let mut p = Properties::default();
        p.set_claim("co", "example");
        for (name, value) in [
            ("co", ""),
            ("iss", ""),
            ("jku", ""),
            ("x-env", "prod"),
            ("kid", "k"),
        ] {
            p.jwt_header_claims.insert(name.into(), value.into());
        }
        let token: Map<String, Value> = [("iss".to_owned(), json!("https://as"))]
            .into_iter()
            .collect();
        let header = p.jwt_header(&token);
        assert!(header.jku && !header.jwk);
        assert_eq!(header.custom.get("co"), Some(&json!("example")));
        assert_eq!(header.custom.get("iss"), Some(&json!("https://as")));
        assert_eq!(header.custom.get("x-env"), Some(&json!("prod")));
        assert!(
            !header.custom.contains_key("kid"),
            "registered names are the server's"
        );
    }

    #[test]
    fn acr_requests_decide_whether_a_session_is_enough() {
        let mut p = Properties::default();
        p.request.insert("acr_values".into(), "1 urn:other".into());
        p.require_claims(&ScopeMap::new(), None);
        assert!(!p.accepts_acr(ACR_SESSION) && p.accepts_acr(ACR_PASSWORD));
        // Voluntary: a session sign-in is still recorded as what it is.
        assert!(p.set_acr(ACR_SESSION).is_ok());
        assert_eq!(p.claim("acr"), Some(&json!("0")));

        let mut essential = Properties::default();
        let claims = json!({"id_token": {"acr": {"essential": true, "value": "0"}}});
        essential.require_claims(&ScopeMap::new(), Some(&claims));
        assert!(essential.set_acr(ACR_PASSWORD).is_err());
        assert!(essential.set_acr(ACR_SESSION).is_ok());
        assert!(Properties::default().accepts_acr(ACR_SESSION));
    }

    #[test]
    fn missing_iss_sub_exp_and_client_id_are_filled_but_never_overwritten() {
        let config = ServerConfig::default();
        let mut p = Properties::default();
        p.set_claim("sub", "chosen-by-hook");
        p.fill_missing(&config, "alice", "app", 99);
        assert_eq!(p.claim("sub"), Some(&json!("chosen-by-hook")));
        assert_eq!(p.claim("exp"), Some(&json!(99)));
        assert_eq!(p.claim("iss"), Some(&json!(config.issuer_url())));
        assert_eq!(p.custom_value("client_id"), Some("app"));
    }
}
