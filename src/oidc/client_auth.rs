//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::OAuthError;
use super::params::Params;
use crate::clients::secret_matches;
use crate::ids::Secret;
use crate::pools::PoolRuntime;
use crate::store::sql::clients::Client;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
    None,
}

/// A client whose identity has been proven (or, for public clients, asserted).
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    pub method: AuthMethod,
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, rest) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// Authenticates the client of a back-channel request. Every failure is `invalid_client`
/// without saying whether the client exists.
pub fn authenticate(
    tenant: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
) -> Result<AuthenticatedClient, OAuthError> {
    let fail = || OAuthError::invalid_client("client authentication failed");
    let (id, secret, method) = match authorization {
        Some(h) => {
            let (id, secret) = parse_basic(h).ok_or_else(|| {
                OAuthError::invalid_client("malformed Authorization header; use HTTP Basic")
            })?;
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            if params.get("client_id").is_some_and(|p| p != id) {
                return Err(fail());
            }
            (id, Some(secret), AuthMethod::Basic)
        }
        None => {
            let id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("client authentication required"))?;
            match params.get("client_secret") {
                Some(s) => (id.to_string(), Some(s.to_string()), AuthMethod::Post),
                None => (id.to_string(), None, AuthMethod::None),
            }
        }
    };
    let client = tenant.clients.get(&id).cloned().ok_or_else(fail)?;
    match (&secret, client.is_public()) {
        (Some(s), false) if secret_matches(&client, &Secret::new(s.clone())) => {}
        (None, true) => {}
        _ => return Err(fail()),
    }
    Ok(AuthenticatedClient { client, method })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        let h = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        assert_eq!(
            parse_basic(h.as_bytes()),
            Some(("my id".into(), "s:cret".into()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"\xff\xfe"), None);
        assert_eq!(
            parse_basic(format!("Basic {}", STANDARD.encode("nocolon")).as_bytes()),
            None
        );
    }
}
