//! TOTP arithmetic (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of skew) over
//! totp-rs with the time passed in, and the otpauth:// Key URI with its QR code as inline SVG.

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use totp_rs::{Algorithm, Builder, Totp};

use crate::crypto::ct_eq;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per time step (RFC 6238 `X`).
pub const STEP_SECS: i64 = 30;
/// Steps accepted either side of the current one (RFC 6238 §5.2 network delay).
pub const SKEW: i64 = 1;
/// Secret length in bytes: 160 bits, as RFC 4226 §4 recommends.
pub const SECRET_LEN: usize = 20;

/// Characters left as they are in Key URI parts: RFC 3986 unreserved.
const KEY_URI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn build(secret: &[u8], digits: usize) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(u8::try_from(digits).ok()?)
        .with_skew(1)
        .with_step_duration(STEP_SECS.unsigned_abs())
        .with_secret(secret)
        .build()
        .ok()
}

/// The RFC 6238 time step `T` of `at`.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The code of `secret` for time step `step`; None for a secret shorter than 128 bits or a
/// step before 1970.
pub(crate) fn code_for_step(secret: &[u8], step: i64, digits: usize) -> Option<String> {
    let totp = build(secret, digits)?;
    let t = u64::try_from(step.checked_mul(STEP_SECS)?).ok()?;
    Some(totp.generate(t).to_string())
}

/// The latest step in `now`'s window (now ± [`SKEW`]) whose code is `code` and which is later
/// than `after`. Every step of the window is computed and compared in constant time.
pub(crate) fn matching_step(
    secret: &[u8],
    code: &str,
    now: DateTime<Utc>,
    after: Option<i64>,
) -> Option<i64> {
    let origin = step_of(now);
    let mut found = None;
    for step in origin - SKEW..=origin + SKEW {
        let Some(expected) = code_for_step(secret, step, DIGITS) else {
            continue;
        };
        if ct_eq(expected.as_bytes(), code.as_bytes()) && after.is_none_or(|a| step > a) {
            found = Some(step);
        }
    }
    found
}

/// Base32 (RFC 4648, no padding) of a secret, as authenticator apps take it.
pub(crate) fn to_base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret).to_base32()
}

/// Bytes of a base32 secret; spaces and lowercase are tolerated (people copy it by hand).
pub(crate) fn from_base32(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let secret = totp_rs::Secret::try_from_base32(clean).ok()?;
    Some(secret.as_bytes().to_vec())
}

/// A colon separates issuer from account in the label, so neither may hold one.
fn label_part(s: &str) -> String {
    s.replace(':', " ")
}

/// The Key URI authenticator apps read:
/// `otpauth://totp/{issuer}:{account}?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30`.
pub(crate) fn otpauth_uri(secret_base32: &str, issuer: &str, account: &str) -> String {
    let issuer = label_part(issuer);
    let enc = |s: &str| utf8_percent_encode(s, KEY_URI).to_string();
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(&issuer),
        enc(&label_part(account)),
        enc(&issuer),
    )
}

/// The URI as an SVG QR code to inline in a page (no XML prolog).
pub(crate) fn qr_svg(uri: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// RFC 6238 Appendix B, SHA1 rows (8 digits, ASCII secret "12345678901234567890").
    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                code_for_step(secret, step_of(at(t)), 8).as_deref(),
                Some(want),
                "T = {t}"
            );
        }
        // Six digits are the low six of the same truncation.
        assert_eq!(
            code_for_step(secret, step_of(at(59)), 6).as_deref(),
            Some("287082")
        );
    }

    #[test]
    fn window_is_one_step_either_side_and_respects_the_last_step() {
        let secret = [42u8; SECRET_LEN];
        let now = at(1_800_000_015);
        let s = step_of(now);
        for d in [-1, 0, 1] {
            let code = code_for_step(&secret, s + d, DIGITS).unwrap();
            assert_eq!(matching_step(&secret, &code, now, None), Some(s + d));
            assert_eq!(matching_step(&secret, &code, now, Some(s + d)), None);
            assert_eq!(
                matching_step(&secret, &code, now, Some(s + d - 1)),
                Some(s + d)
            );
        }
        for d in [-2, 2] {
            let code = code_for_step(&secret, s + d, DIGITS).unwrap();
            assert_eq!(matching_step(&secret, &code, now, None), None, "step {d}");
        }
        assert_eq!(matching_step(&secret, "12345", now, None), None);
    }

    #[test]
    fn base32_roundtrip_tolerates_spaces_and_case() {
        let secret = [7u8; SECRET_LEN];
        let b32 = to_base32(&secret);
        assert_eq!(b32.len(), 32);
        assert!(!b32.contains('='));
        let spaced: String = b32
            .to_lowercase()
            .chars()
            .enumerate()
            .flat_map(|(i, c)| (i % 4 == 0).then_some(' ').into_iter().chain([c]))
            .collect();
        assert_eq!(from_base32(&spaced).unwrap(), secret);
        assert_eq!(from_base32("not base32!"), None);
    }

    #[test]
    fn key_uri_encodes_issuer_and_account() {
        let uri = otpauth_uri("ABC", "My Pool: Ü", "alice@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/My%20Pool%20%20%C3%9C:alice%40example.com?secret=ABC\
             &issuer=My%20Pool%20%20%C3%9C&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_is_inline_svg() {
        let svg = qr_svg("otpauth://totp/x:y?secret=ABC").unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
    }
}
