//! Scopes (RFC 6749 §3.3): a space-delimited set of tokens of printable ASCII without `"` and `\`.

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens, kept in the order first seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a `scope` parameter; `None` when a token has a character RFC 6749 §3.3 forbids.
    pub fn parse(text: &str) -> Option<Self> {
        let mut seen = BTreeSet::new();
        let mut tokens = Vec::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return None;
            }
            if seen.insert(token) {
                tokens.push(token.to_owned());
            }
        }
        Some(Scopes(tokens))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True when every scope here is also in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|s| keep(s));
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl FromIterator<String> for Scopes {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        Scopes::parse(&iter.into_iter().collect::<Vec<_>>().join(" ")).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_dedupe_and_refuse_bad_characters() {
        let s = Scopes::parse("openid  profile openid email").unwrap();
        assert_eq!(s.to_string(), "openid profile email");
        assert!(Scopes::parse("a\"b").is_none());
        assert!(Scopes::parse("a\\b").is_none());
        assert!(Scopes::parse("caf\u{e9}").is_none());
        assert!(Scopes::parse("").unwrap().is_empty());
        assert!(Scopes::parse("openid").unwrap().is_subset_of(&s));
        assert!(!Scopes::parse("openid admin").unwrap().is_subset_of(&s));
    }
}
