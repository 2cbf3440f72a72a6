//! The ordered checks of an authorization request (OAuth 2.0 §4.1.1, OpenID Connect Core §3.1.2).
