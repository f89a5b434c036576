//! Unit tests of input normalisation and code generation; the stored flows are covered by
//! `tests/it/mfa_core.rs`.

use chrono::DateTime;

use super::*;

#[test]
fn codes_are_normalised() {
    for raw in ["123456", " 123 456 ", "123-456", "\t123456\n"] {
        assert_eq!(parse(raw).unwrap(), Input::Totp("123456".into()), "{raw:?}");
    }
    for raw in ["abcde-fg234", "ABCDE FG234", " abcdefg234 ", "AbCdE-Fg234"] {
        assert_eq!(
            parse(raw).unwrap(),
            Input::Recovery("abcdefg234".into()),
            "{raw:?}"
        );
    }
}

#[test]
fn malformed_input_is_refused_with_a_message() {
    let long = "1".repeat(65);
    for raw in [
        "",
        "   ",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        "abcde-fg23",
        "abcde-fg2345",
        "abcde-fg01",   // 0 and 1 are not in the alphabet
        "123\u{0}456",  // control character
        "123\u{7f}456", // DEL
        "１２３４５６", // full-width digits
        "ábcdefg234",
        long.as_str(),
    ] {
        let got = parse(raw);
        assert!(
            matches!(got, Err(MfaError::Malformed(MSG_CODE_OR_RECOVERY))),
            "{raw:?} gave {got:?}"
        );
    }
    let e = parse("x").unwrap_err();
    assert!(e.is_user_facing());
    assert!(e.to_string().contains("6-digit code"));
}

#[test]
fn code_at_matches_totp_rs_at_several_times() {
    let secret = [9u8; totp::SECRET_LEN];
    let b32 = totp::to_base32(&secret);
    let reference = totp_rs::Builder::new()
        .with_secret(secret.as_slice())
        .build()
        .unwrap();
    for t in [
        0_i64,
        29,
        30,
        59,
        1_700_000_000,
        1_700_000_029,
        4_000_000_000,
    ] {
        let at = DateTime::from_timestamp(t, 0).unwrap();
        let got = code_at(&b32, at).unwrap();
        assert_eq!(got.len(), 6);
        assert_eq!(
            got,
            reference.generate(u64::try_from(t).unwrap()).to_string(),
            "t = {t}"
        );
    }
    assert_eq!(code_at("not base32!", DateTime::UNIX_EPOCH), None);
    assert_eq!(code_at("AAAA", DateTime::UNIX_EPOCH), None, "too short");
    let before_1970 = DateTime::from_timestamp(-31, 0).unwrap();
    assert_eq!(code_at(&b32, before_1970), None);
}

#[test]
fn enrollment_shows_secret_uri_and_qr_but_never_prints_them() {
    let e = enrollment(&[1u8; totp::SECRET_LEN], "Acme", "alice").unwrap();
    assert_eq!(e.secret_base32.len(), 32);
    assert!(
        e.otpauth_uri
            .starts_with("otpauth://totp/Acme:alice?secret=")
    );
    assert!(e.otpauth_uri.contains(&e.secret_base32));
    assert!(e.qr_svg.starts_with("<svg"));
    assert_eq!(format!("{e:?}"), "Enrollment(***)");
}

#[test]
fn recovery_hashes_depend_on_pool_and_user() {
    let (p, key) = (
        PoolId::new("local_Ab3dE5gH7"),
        crate::crypto::MasterKey::from_bytes(&[7; 32]),
    );
    let h = recovery_hash(&key, &p, "u1", "abcdefg234");
    assert_eq!(h.len(), 64);
    assert_ne!(h, recovery_hash(&key, &p, "u2", "abcdefg234"));
    assert_ne!(
        h,
        recovery_hash(&key, &PoolId::new("local_Zb3dE5gH7"), "u1", "abcdefg234")
    );
    let other = crate::crypto::MasterKey::from_bytes(&[8; 32]);
    assert_ne!(h, recovery_hash(&other, &p, "u1", "abcdefg234"), "keyed");
}
