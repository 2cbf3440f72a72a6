//! The token store trait: tokens kept per application and web session, removed when they expire.
