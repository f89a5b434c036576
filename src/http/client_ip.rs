//! The client's address: the socket's peer, unless that peer is a trusted proxy, in which
//! case the nearest address in `Forwarded` (RFC 7239) or `X-Forwarded-For` that is not a
//! trusted proxy. Headers from anyone else are ignored (they are trivially forged).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The address per-client limits and the audit trail use.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // The hops, nearest last; walk back past our own proxies to the first one we did not add.
    let hops = forwarded_for(req);
    Some(
        hops.iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .copied()
            .unwrap_or(peer),
    )
}

/// The `for=` addresses of `Forwarded`, else the addresses of `X-Forwarded-For`, in order.
fn forwarded_for(req: &HttpRequest) -> Vec<IpAddr> {
    let headers = req.headers();
    let forwarded: Vec<IpAddr> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            k.eq_ignore_ascii_case("for").then(|| parse_node(v))?
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_node)
        .collect()
}

/// `203.0.113.7`, `"[2001:db8::1]:4711"`, `198.51.100.1:80`; `unknown` and obfuscated nodes
/// are not addresses.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        assert_eq!(parse_node("203.0.113.7"), "203.0.113.7".parse().ok());
        assert_eq!(
            parse_node("\"[2001:db8::1]:4711\""),
            "2001:db8::1".parse().ok()
        );
        assert_eq!(parse_node("198.51.100.1:80"), "198.51.100.1".parse().ok());
        assert_eq!(parse_node("unknown"), None);
        assert_eq!(parse_node("_hidden"), None);
    }
}
