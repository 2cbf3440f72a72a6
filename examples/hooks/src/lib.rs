//! An Ostiary authorization server customized through every hook, as the reference's chapter on
//! custom methods describes them:
//!
//! - [`ClinicLogin`] (`Authenticate`): a FHIR-style `launch/patient` scope, noted in
//!   `before_authenticate`, answered by a patient picker on its own login page (a `p_patient`
//!   field, which arrives as a custom property) and turned into a `patient/<id>.read` scope and a
//!   `patient` token response member in `after_authenticate`; its own consent page; and a direct
//!   login for kiosk clients, with the deny marker for anything a kiosk may not ask.
//! - [`Directory`] (`ValidateUser`): users from an in-memory directory instead of the users
//!   table, an extra `department` claim, a custom JWT header parameter `co`, and client
//!   credentials for listed services only.
//! - [`MemorySessions`] (`SessionStore`): sign-ins kept in memory under a cookie of its own.
//! - [`TenantTokens`] (`TokenGenerator`): JWT access tokens stamped with the tenant a login
//!   form or request named.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::HeaderMap;
use ostiary_server::config::ServerConfig;
use ostiary_server::hooks::session::{cookie, set_cookie};
use ostiary_server::hooks::{
    AccessToken, Authenticate, ConsentForm, Context, Credential, DirectLogin, HookError,
    HookResult, Hooks, JwtTokens, LoginForm, SessionStore, SetCookies, TokenGenerator, UserSession,
    ValidateUser,
};
use ostiary_server::properties::{ClaimRequest, ClaimType, Properties, ScopeMap};
use ostiary_server::state::Server;
use serde_json::json;

/// The hooks of this example, over `directory`.
pub fn hooks(directory: Directory, kiosks: &[&str]) -> Hooks {
    Hooks {
        authenticate: Arc::new(ClinicLogin::new(kiosks)),
        validate_user: Arc::new(directory),
        sessions: Arc::new(MemorySessions::default()),
        token_generator: Arc::new(TenantTokens),
    }
}

/// The scope a SMART-style app asks for when it needs the user to pick a patient.
pub const LAUNCH_PATIENT: &str = "launch/patient";

/// The login and consent pages of a clinic, and kiosk sign-ins.
#[derive(Debug)]
pub struct ClinicLogin {
    pages: minijinja::Environment<'static>,
    kiosks: BTreeSet<String>,
}

impl ClinicLogin {
    pub fn new(kiosks: &[&str]) -> Self {
        let mut pages = minijinja::Environment::new();
        // `.html` names turn on HTML escaping for every value.
        let templates = [
            ("login.html", include_str!("../templates/login.html")),
            ("consent.html", include_str!("../templates/consent.html")),
        ];
        for (name, text) in templates {
            pages
                .add_template(name, text)
                .expect("the example's templates parse");
        }
        ClinicLogin {
            pages,
            kiosks: kiosks.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    fn render(&self, name: &str, context: serde_json::Value) -> HookResult<String> {
        self.pages
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
            .map_err(|e| HookError::Failed(format!("{name}: {e}")))
    }
}

#[async_trait]
impl Authenticate for ClinicLogin {
    async fn before_authenticate(
        &self,
        _ctx: &Context<'_>,
        scope: &mut ScopeMap,
        properties: &mut Properties,
    ) -> HookResult<()> {
        if scope.contains_key(LAUNCH_PATIENT) {
            properties.custom.insert("needs_patient".into(), "1".into());
            scope.insert(LAUNCH_PATIENT.into(), "Choose a patient".into());
        }
        Ok(())
    }

    async fn direct_login(
        &self,
        ctx: &Context<'_>,
        scope: &ScopeMap,
        _properties: &mut Properties,
    ) -> HookResult<Option<DirectLogin>> {
        if !self.kiosks.contains(&ctx.client.client_id) {
            return Ok(None);
        }
        // A kiosk signs in as its shared account, for nothing beyond the kiosk scopes.
        if scope.keys().any(|s| s != "openid" && s != "kiosk") {
            return Ok(Some(DirectLogin::Deny));
        }
        Ok(Some(DirectLogin::User {
            username: "kiosk".into(),
            password: None,
        }))
    }

    async fn display_login(
        &self,
        _ctx: &Context<'_>,
        form: &LoginForm,
        _scope: &ScopeMap,
        properties: &Properties,
    ) -> HookResult<String> {
        let patients: &[&str] = if properties.custom_value("needs_patient").is_some() {
            &["p-100", "p-200"]
        } else {
            &[]
        };
        self.render("login.html", json!({ "form": form, "patients": patients }))
    }

    async fn display_permissions(
        &self,
        _ctx: &Context<'_>,
        form: &ConsentForm,
        requested: &ScopeMap,
        granted: &ScopeMap,
        _properties: &Properties,
    ) -> HookResult<String> {
        let context = json!({ "form": form, "requested": requested, "granted": granted });
        self.render("consent.html", context)
    }

    async fn after_authenticate(
        &self,
        _ctx: &Context<'_>,
        scope: &mut ScopeMap,
        properties: &mut Properties,
    ) -> HookResult<()> {
        if scope.shift_remove(LAUNCH_PATIENT).is_none() {
            return Ok(());
        }
        let Some(patient) = properties.custom_value("patient").map(str::to_owned) else {
            return Err(HookError::Denied("no patient was chosen".into()));
        };
        scope.insert(
            format!("patient/{patient}.read"),
            format!("Read the records of {patient}"),
        );
        // SMART on FHIR returns the launch context next to the token.
        properties.response.insert("patient".into(), json!(patient));
        properties.set_claim("fhirUser", format!("Patient/{patient}"));
        properties
            .id_token_claims
            .insert("fhirUser".into(), ClaimRequest::default());
        Ok(())
    }
}

/// A person in the directory.
#[derive(Clone, Debug)]
pub struct Person {
    pub password: String,
    pub name: String,
    pub email: String,
    pub department: String,
}

/// Users from an in-memory directory (a stand-in for LDAP or an HR system).
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub people: HashMap<String, Person>,
    /// Clients that may have client credentials tokens.
    pub services: BTreeSet<String>,
}

/// Compares without leaving early, so timing says nothing about where two secrets differ.
fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[async_trait]
impl ValidateUser for Directory {
    async fn validate_user(
        &self,
        _ctx: &Context<'_>,
        username: &str,
        credential: Credential<'_>,
        scope: &mut ScopeMap,
        properties: &mut Properties,
    ) -> HookResult<bool> {
        let Some(person) = self.people.get(username) else {
            return Ok(false);
        };
        if let Credential::Password(given) = credential
            && !same_secret(given, &person.password)
        {
            return Ok(false);
        }
        properties.set_claim("sub", username);
        properties.set_claim("name", person.name.clone());
        properties.set_claim("email", person.email.clone());
        properties
            .set_claim_text("email_verified", "0", ClaimType::Boolean)
            .map_err(|e| HookError::Failed(e.to_string()))?;
        // The extra claim: in JWT access tokens and introspection always, in userinfo with `org`.
        properties.set_claim("department", person.department.clone());
        properties
            .jwt_claims
            .insert("department".into(), ClaimRequest::default());
        properties
            .introspection_claims
            .insert("department".into(), ClaimRequest::default());
        if scope.contains_key("org") {
            properties
                .userinfo_claims
                .insert("department".into(), ClaimRequest::default());
        }
        // A custom JWT header parameter from a claim value, and the key set's URL (`jku`).
        properties.set_claim("co", "ostiary-example");
        properties
            .jwt_header_claims
            .insert("co".into(), String::new());
        properties
            .jwt_header_claims
            .insert("jku".into(), String::new());
        Ok(true)
    }

    async fn validate_client(
        &self,
        ctx: &Context<'_>,
        _scope: &mut ScopeMap,
        properties: &mut Properties,
    ) -> HookResult<bool> {
        if !self.services.contains(&ctx.client.client_id) {
            return Ok(false);
        }
        properties.set_claim("service_tier", "gold");
        properties
            .introspection_claims
            .insert("service_tier".into(), ClaimRequest::default());
        Ok(true)
    }

    fn supported_claims(&self) -> Vec<String> {
        [
            "sub",
            "name",
            "email",
            "email_verified",
            "department",
            "fhirUser",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// The cookie [`MemorySessions`] keeps its sessions under.
pub const SESSION_COOKIE: &str = "clinic_session";

/// Sign-ins in memory: gone when the process ends, which suits a kiosk or a single node.
#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<String, (UserSession, i64)>>,
}

impl MemorySessions {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, (UserSession, i64)>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn get_user(
        &self,
        _server: &Server,
        _config: &ServerConfig,
        request: &HeaderMap,
        now: i64,
    ) -> HookResult<Option<UserSession>> {
        let Some(value) = cookie(request, SESSION_COOKIE) else {
            return Ok(None);
        };
        Ok(self
            .sessions()
            .get(value)
            .filter(|(_, expires)| *expires > now)
            .map(|(s, _)| s.clone()))
    }

    async fn login(
        &self,
        _server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
        username: &str,
        now: i64,
    ) -> HookResult<(UserSession, SetCookies)> {
        let mut sessions = self.sessions();
        if let Some(old) = cookie(request, SESSION_COOKIE) {
            sessions.remove(old);
        }
        let value = ostiary_server::issue::random_token();
        let session = UserSession {
            sid: ostiary_server::issue::random_token(),
            username: username.to_owned(),
            auth_time: now,
        };
        sessions.insert(value.clone(), (session.clone(), now + 8 * 3600));
        let cookie = set_cookie(config, SESSION_COOKIE, &value, Some(8 * 3600));
        Ok((session, vec![cookie]))
    }

    async fn logout(
        &self,
        _server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
    ) -> HookResult<SetCookies> {
        if let Some(value) = cookie(request, SESSION_COOKIE) {
            self.sessions().remove(value);
        }
        Ok(vec![set_cookie(config, SESSION_COOKIE, "", Some(0))])
    }
}

/// JWT access tokens with a `tenant` claim: from the login form's `p_tenant`, else the request's
/// `tenant` parameter, else `main`. The token response says which tenant too.
#[derive(Debug, Default)]
pub struct TenantTokens;

#[async_trait]
impl TokenGenerator for TenantTokens {
    async fn generate_access_token(
        &self,
        ctx: &Context<'_>,
        token: &AccessToken,
        properties: &mut Properties,
    ) -> HookResult<String> {
        let tenant = properties
            .custom_value("tenant")
            .or(properties.request.get("tenant").map(String::as_str))
            .unwrap_or("main")
            .to_owned();
        properties.set_claim("tenant", tenant.clone());
        properties
            .jwt_claims
            .insert("tenant".into(), ClaimRequest::default());
        properties.response.insert("tenant".into(), json!(tenant));
        JwtTokens
            .generate_access_token(ctx, token, properties)
            .await
    }

    fn is_jwt(&self, _config: &ServerConfig) -> bool {
        true
    }
}

/// The example's directory: two clinicians.
pub fn sample_directory() -> Directory {
    let person = |password: &str, name: &str, department: &str| Person {
        password: password.to_owned(),
        name: name.to_owned(),
        email: format!("{}@clinic.example", name.to_lowercase().replace(' ', ".")),
        department: department.to_owned(),
    };
    Directory {
        people: HashMap::from([
            (
                "alice".into(),
                person("alice-password", "Alice Liddell", "cardiology"),
            ),
            (
                "bob".into(),
                person("bob-password", "Bob Kelso", "administration"),
            ),
            (
                "kiosk".into(),
                person("", "Waiting Room Kiosk", "front desk"),
            ),
        ]),
        services: BTreeSet::from(["reporting".to_owned()]),
    }
}
