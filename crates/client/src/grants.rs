//! Authorization code (with PKCE), implicit, password, client credentials, refresh and JWT bearer grants.
