//! AWS Signature Version 4, the verifying side: parses the `Authorization` header, rebuilds the
//! canonical request from what arrived, and compares the signature in constant time. The
//! rules are AWS's ("Create a signed AWS API request"): canonical URI and query, the signed
//! headers in order with their values trimmed and inner spaces folded, the payload's SHA-256,
//! the scope `date/region/service/aws4_request`, and the HMAC chain from `"AWS4" + secret`.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Why a request's signature is refused. Each maps to an AWS error the client understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("the request is not signed")]
    Missing,
    #[error("the Authorization header is not a valid AWS4-HMAC-SHA256 signature: {0}")]
    Malformed(&'static str),
    #[error("the credential scope does not match: {0}")]
    Scope(&'static str),
    #[error(
        "the signature expired or is not yet valid: the request time is over 5 minutes from the server's"
    )]
    Skew,
    #[error("the request signature does not match the one computed with the access key's secret")]
    Mismatch,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `yyyymmdd` of the scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, in the order the client signed them.
    pub signed_headers: Vec<String>,
    /// Hex.
    pub signature: String,
}

/// A request as it arrived: header names in lower case, the raw path and query.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The values of header `name`, joined with commas as AWS canonicalizes repeated headers.
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| {
            values
                .iter()
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

/// Parses the header's value.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(SigV4Error::Malformed("only AWS4-HMAC-SHA256 is supported"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SigV4Error::Malformed("a component without '='"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(SigV4Error::Malformed("an unknown component")),
        }
    }
    let credential = credential.ok_or(SigV4Error::Malformed("no Credential"))?;
    let mut scope = credential.split('/');
    let (Some(key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(SigV4Error::Malformed(
            "Credential must be KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    let signature = signature.ok_or(SigV4Error::Malformed("no Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(SigV4Error::Malformed("Signature must be 64 hex digits"));
    }
    let signed_headers: Vec<String> = signed
        .ok_or(SigV4Error::Malformed("no SignedHeaders"))?
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    Ok(Authorization {
        access_key_id: key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// What a verified request must have been signed for.
pub struct Expect<'a> {
    pub region: &'a str,
    pub service: &'a str,
    /// Headers that must be among the signed ones (besides `host` and `x-amz-date`).
    pub must_sign: &'a [&'a str],
    pub now: DateTime<Utc>,
    pub max_skew: TimeDelta,
}

/// Checks the scope, the time and the signature of `req` under `secret`.
pub fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    secret: &str,
    expect: &Expect<'_>,
) -> Result<(), SigV4Error> {
    if auth.region != expect.region {
        return Err(SigV4Error::Scope("wrong region"));
    }
    if auth.service != expect.service {
        return Err(SigV4Error::Scope("wrong service"));
    }
    for h in ["host", "x-amz-date"].iter().chain(expect.must_sign) {
        if !auth.signed_headers.iter().any(|s| s == h) {
            return Err(SigV4Error::Malformed("a required header is not signed"));
        }
    }
    let amz_date = req
        .header("x-amz-date")
        .ok_or(SigV4Error::Malformed("no X-Amz-Date header"))?;
    let at = NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| SigV4Error::Malformed("X-Amz-Date must be yyyymmddThhmmssZ"))?
        .and_utc();
    if !amz_date.starts_with(&auth.date) {
        return Err(SigV4Error::Scope("the scope's date is not the request's"));
    }
    if (expect.now - at).abs() > expect.max_skew {
        return Err(SigV4Error::Skew);
    }
    let string_to_sign = string_to_sign(req, auth, &amz_date)?;
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    let computed = hex(&hmac(&key, string_to_sign.as_bytes()));
    if crate::crypto::ct_eq(computed.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SigV4Error::Mismatch)
    }
}

/// AWS's `UriEncode`: everything but unreserved characters percent-encoded, upper-case hex.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The canonical query: parameters sorted by encoded name then value, each encoded once.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k), false), uri_encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn string_to_sign(
    req: &Request<'_>,
    auth: &Authorization,
    amz_date: &str,
) -> Result<String, SigV4Error> {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        req.method,
        uri_encode(&decode(path), true),
        canonical_query(req.query)
    );
    for name in &auth.signed_headers {
        let value = req
            .header(name)
            .ok_or(SigV4Error::Malformed("a signed header is missing"))?;
        canonical.push_str(&format!("{name}:{value}\n"));
    }
    canonical.push('\n');
    canonical.push_str(&auth.signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(&hex(&Sha256::digest(req.body)));
    Ok(format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.date,
        auth.region,
        auth.service,
        hex(&Sha256::digest(canonical.as_bytes()))
    ))
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example (IAM ListUsers, "Create a signed AWS API request").
    #[test]
    fn the_documented_example_verifies() {
        let headers = vec![
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let req = Request {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let at = NaiveDateTime::parse_from_str("20150830T123600Z", "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        let expect = |now| Expect {
            region: "us-east-1",
            service: "iam",
            must_sign: &[],
            now,
            max_skew: TimeDelta::minutes(5),
        };
        assert_eq!(verify(&req, &auth, secret, &expect(at)), Ok(()));
        assert_eq!(
            verify(&req, &auth, "another secret", &expect(at)),
            Err(SigV4Error::Mismatch)
        );
        assert_eq!(
            verify(&req, &auth, secret, &expect(at + TimeDelta::minutes(6))),
            Err(SigV4Error::Skew)
        );
        let tampered = Request {
            query: "Action=DeleteUser&Version=2010-05-08",
            ..req
        };
        assert_eq!(
            verify(&tampered, &auth, secret, &expect(at)),
            Err(SigV4Error::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        assert!(parse_authorization("Bearer x").is_err());
        assert!(
            parse_authorization(
                "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00"
            )
            .is_err()
        );
    }
}
