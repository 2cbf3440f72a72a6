//! Server descriptions from OpenID Connect Discovery 1.0 / RFC 8414 metadata, or entered by hand.
