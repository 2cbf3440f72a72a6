//! JWT validation with a cached JWKS, and introspection with a bounded cache.
