//! Customization traits with default implementations: Authenticate, ValidateUser, SessionStore, TokenGenerator.
