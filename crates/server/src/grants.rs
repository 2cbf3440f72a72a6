//! One module per grant_type value (RFC 6749 §4, RFC 7523): pure flows over the store traits.
