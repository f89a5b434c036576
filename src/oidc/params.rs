//! Request parameters of the OAuth endpoints: form bodies parsed strictly (repeated parameters
//! are rejected, sizes bounded), per RFC 6749 §3.1 and §3.2.

use std::collections::BTreeMap;

use super::error::OAuthError;

/// Most parameters a request may carry (the account page's profile form: 15 standard and up
/// to 50 custom attributes), and the longest value accepted.
const MAX_PARAMS: usize = 96;
const MAX_VALUE: usize = 8 * 1024;

/// Parsed `application/x-www-form-urlencoded` parameters, each present at most once.
#[derive(Debug, Default, Clone)]
pub struct Params(
    BTreeMap<String, String>,
    /// Names sent with an empty value (absent to `get`; a form field that was cleared).
    std::collections::BTreeSet<String>,
);

impl Params {
    /// Parses a form body or query string; empty values count as absent (RFC 6749 §3.1).
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut map = BTreeMap::new();
        let mut empty = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            if seen.len() >= MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if v.len() > MAX_VALUE || k.len() > 256 {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is too long",
                    truncate(&k)
                )));
            }
            if !seen.insert(k.to_string()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is repeated",
                    truncate(&k)
                )));
            }
            if v.is_empty() {
                empty.insert(k.into_owned());
            } else {
                map.insert(k.to_string(), v.into_owned());
            }
        }
        Ok(Self(map, empty))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A form field's value, `Some("")` when it was sent empty (cleared), `None` when absent.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.get(name)
            .or_else(|| self.1.contains(name).then_some(""))
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing() {
        let p = Params::parse(b"a=1&b=&c=%20x").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some(" x"));
        assert!(Params::parse(b"a=1&a=2").is_err());
        assert!(
            Params::parse(b"a=&a=2").is_err(),
            "an empty first value still counts"
        );
        assert!(Params::parse(format!("a={}", "x".repeat(MAX_VALUE + 1)).as_bytes()).is_err());
        assert!(
            Params::parse(b"\xff\xfe=\xff").is_ok(),
            "invalid UTF-8 is decoded lossily, not a panic"
        );
    }
}
