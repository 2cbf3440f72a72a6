//! `Authenticate`: the steps around identifying the user in the browser (the reference's
//! Authenticate class). The defaults render the login and consent templates.

use async_trait::async_trait;
use serde::Serialize;

use super::{Context, HookResult};
use crate::pages;
use crate::properties::{Properties, ScopeMap};

/// What the login page needs. The form posts `handle`, `username`, `password` and a button named
/// `action` (`login`, `cancel`, or `accept` when the page also shows the permissions); fields
/// named `p_*` become custom properties without the prefix.
#[derive(Clone, Debug, Serialize)]
pub struct LoginForm {
    /// Where the form posts to.
    pub action: String,
    /// The hidden field tying the form to the pending request (the reference's AuthorizationCode).
    pub handle: String,
    pub client_name: String,
    pub login_hint: String,
    /// Why the previous attempt failed.
    pub error: Option<String>,
    /// Which attempt this page is for, from 1.
    pub login_count: u32,
    /// With `prompt=select_account`: the user this browser is signed in as, whom the page offers
    /// to continue as (a button `action=continue`) besides signing in as someone else.
    pub signed_in_as: Option<String>,
    /// The request's `ui_locales`, most preferred first.
    pub ui_locales: Vec<String>,
}

/// What the consent page needs. The form posts `handle` and a button named `action` (`accept` or
/// `cancel`); the client's display details are in `properties.server` too.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentForm {
    pub action: String,
    pub handle: String,
    pub client_name: String,
    pub username: String,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// The request's `ui_locales`, most preferred first.
    pub ui_locales: Vec<String>,
}

/// What a direct login decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectLogin {
    /// The deny marker: the request ends with `access_denied`.
    Deny,
    /// This user; with a password to check, or vouched for by the hook when `None`. The user then
    /// goes through `validate_user`, and no consent page is shown.
    User {
        username: String,
        password: Option<String>,
    },
}

#[async_trait]
pub trait Authenticate: Send + Sync {
    /// Before the user is identified: adjust the requested scopes or the properties.
    async fn before_authenticate(
        &self,
        _ctx: &Context<'_>,
        _scope: &mut ScopeMap,
        _properties: &mut Properties,
    ) -> HookResult<()> {
        Ok(())
    }

    /// Identifies the user without a page and without the session, or returns `None` to go on
    /// with the session and the login page.
    async fn direct_login(
        &self,
        _ctx: &Context<'_>,
        _scope: &ScopeMap,
        _properties: &mut Properties,
    ) -> HookResult<Option<DirectLogin>> {
        Ok(None)
    }

    /// The login page's HTML.
    async fn display_login(
        &self,
        ctx: &Context<'_>,
        form: &LoginForm,
        _scope: &ScopeMap,
        _properties: &Properties,
    ) -> HookResult<String> {
        Ok(pages::render(templates(ctx), "login.html", form))
    }

    /// The consent page's HTML: `requested` are the scopes not granted yet, `granted` those the
    /// user allowed this client before.
    async fn display_permissions(
        &self,
        ctx: &Context<'_>,
        form: &ConsentForm,
        requested: &ScopeMap,
        granted: &ScopeMap,
        _properties: &Properties,
    ) -> HookResult<String> {
        #[derive(Serialize)]
        struct Scope<'a> {
            name: &'a str,
            description: &'a str,
        }
        #[derive(Serialize)]
        struct Page<'a> {
            #[serde(flatten)]
            form: &'a ConsentForm,
            requested: Vec<Scope<'a>>,
            granted: Vec<&'a str>,
        }
        let requested = requested
            .iter()
            .map(|(name, display)| Scope {
                name,
                description: if display == name { "" } else { display },
            })
            .collect();
        let page = Page {
            form,
            requested,
            granted: granted.keys().map(String::as_str).collect(),
        };
        Ok(pages::render(templates(ctx), "consent.html", page))
    }

    /// After the user accepted, before anything is issued: adjust the granted scopes, the claims,
    /// or add `properties.response` members.
    async fn after_authenticate(
        &self,
        _ctx: &Context<'_>,
        _scope: &mut ScopeMap,
        _properties: &mut Properties,
    ) -> HookResult<()> {
        Ok(())
    }
}

fn templates<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    ctx.config.customization.templates_dir.as_deref()
}

/// The default: the built-in pages, from the templates (overridable by directory).
#[derive(Debug, Default)]
pub struct BuiltinPages;

impl Authenticate for BuiltinPages {}
