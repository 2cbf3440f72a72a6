//! HTTP endpoints: authorize, token, userinfo, introspection, revocation, JWKS, registration, logout, discovery.
