//! Password hashes made elsewhere (Keycloak, Auth0, Django, another Tessera): which schemes an
//! import accepts and within what cost, the PHC form they are stored in, and verifying them
//! until the user's next sign-in upgrades the hash to the pool's argon2id.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use crate::ids::Secret;

/// The largest argon2 memory a stored hash may ask for, in 1 KiB blocks (256 MiB).
pub const MAX_ARGON2_BLOCKS: usize = 256 * 1024;
/// The most argon2 work (blocks x passes: 1 GiB of block passes, about a second) and lanes a
/// stored hash may ask for, so one row cannot pin a hashing worker.
const MAX_ARGON2_WORK: u64 = 1 << 20;
const MAX_ARGON2_LANES: u32 = 16;

/// Are these argon2 parameters within what a stored hash may cost?
pub fn argon2_within_bounds(p: &argon2::Params) -> Result<(), String> {
    let work = (p.block_count() as u64).saturating_mul(u64::from(p.t_cost()));
    if p.block_count() > MAX_ARGON2_BLOCKS {
        return Err("argon2 memory above 256 MiB".into());
    }
    if work > MAX_ARGON2_WORK || p.p_cost() > MAX_ARGON2_LANES {
        return Err("argon2 passes x memory above 1 GiB, or more than 16 lanes".into());
    }
    Ok(())
}
/// The largest scrypt memory (`128 * r * 2^ln` bytes) a stored hash may ask for: 64 MiB.
const MAX_SCRYPT_BYTES: u64 = 64 << 20;
/// The most scrypt lanes, PBKDF2 rounds and bcrypt cost a stored hash may ask for: enough for
/// every default in use (Django's 1.2M rounds, bcrypt 14), bounded so one row cannot pin a
/// hashing worker for minutes.
const MAX_SCRYPT_P: u32 = 16;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
const MAX_BCRYPT_COST: u32 = 16;

/// What the import accepts, for error messages.
pub const ACCEPTED: &str = "argon2id, argon2i, bcrypt ($2a$/$2b$/$2y$), pbkdf2-sha256, \
pbkdf2-sha512 and scrypt in PHC form, or Django's pbkdf2_sha256$...";

/// A stored hash's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Argon2,
    Bcrypt,
    Pbkdf2,
    Scrypt,
}

/// The scheme of a stored hash, if it is one we verify.
pub fn scheme(hash: &str) -> Option<Scheme> {
    if hash.starts_with("$argon2") {
        Some(Scheme::Argon2)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Some(Scheme::Bcrypt)
    } else if hash.starts_with("$pbkdf2-sha256$") || hash.starts_with("$pbkdf2-sha512$") {
        Some(Scheme::Pbkdf2)
    } else if hash.starts_with("$scrypt$") {
        Some(Scheme::Scrypt)
    } else {
        None
    }
}

/// Checks a hash offered for import and returns the form it is stored in (PHC; Django's
/// `pbkdf2_sha256$ROUNDS$SALT$HASH` is rewritten to PHC). The message says what is wrong
/// without repeating the hash.
pub fn importable(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let phc = match raw.strip_prefix("pbkdf2_sha256$") {
        Some(django) => from_django(django)?,
        None => raw.to_string(),
    };
    let unsupported = || format!("unsupported password hash (accepted: {ACCEPTED})");
    match scheme(&phc).ok_or_else(unsupported)? {
        Scheme::Bcrypt => check_bcrypt(&phc)?,
        Scheme::Argon2 | Scheme::Pbkdf2 | Scheme::Scrypt => check_phc(&phc)?,
    }
    Ok(phc)
}

/// Django stores `pbkdf2_sha256$ROUNDS$SALT$BASE64(HASH)` with the salt as text.
fn from_django(rest: &str) -> Result<String, String> {
    let bad = || "malformed Django pbkdf2_sha256 hash".to_string();
    let mut parts = rest.splitn(3, '$');
    let (Some(rounds), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let rounds: u32 = rounds.parse().map_err(|_| bad())?;
    let hash = STANDARD.decode(hash).map_err(|_| bad())?;
    if salt.is_empty() || hash.len() < 16 {
        return Err(bad());
    }
    Ok(format!(
        "$pbkdf2-sha256$i={rounds},l={}${}${}",
        hash.len(),
        STANDARD_NO_PAD.encode(salt.as_bytes()),
        STANDARD_NO_PAD.encode(&hash)
    ))
}

fn check_bcrypt(hash: &str) -> Result<(), String> {
    let parts: bcrypt::HashParts = hash.parse().map_err(|_| "malformed bcrypt hash")?;
    if parts.get_cost() > MAX_BCRYPT_COST {
        return Err(format!("bcrypt cost above {MAX_BCRYPT_COST}"));
    }
    Ok(())
}

fn check_phc(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("malformed PHC hash: {e}"))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("a PHC hash needs a salt and a hash".into());
    }
    let param = |name: &str| parsed.params.get_decimal(name);
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" => {
            let p = argon2::Params::try_from(&parsed)
                .map_err(|e| format!("bad argon2 parameters: {e}"))?;
            argon2_within_bounds(&p)?;
        }
        "pbkdf2-sha256" | "pbkdf2-sha512" => {
            let rounds = param("i").ok_or("pbkdf2 needs i=ROUNDS")?;
            if rounds == 0 || rounds > MAX_PBKDF2_ROUNDS {
                return Err(format!("pbkdf2 rounds must be 1 to {MAX_PBKDF2_ROUNDS}"));
            }
        }
        "scrypt" => {
            let (ln, r, p) = (
                param("ln").ok_or("scrypt needs ln")?,
                param("r").ok_or("scrypt needs r")?,
                param("p").ok_or("scrypt needs p")?,
            );
            let bytes = 128u64
                .saturating_mul(u64::from(r))
                .saturating_mul(1u64.checked_shl(ln).unwrap_or(u64::MAX));
            if ln == 0 || r == 0 || p == 0 || bytes > MAX_SCRYPT_BYTES || p > MAX_SCRYPT_P {
                return Err("scrypt parameters out of range (at most 64 MiB, p <= 16)".into());
            }
        }
        other => return Err(format!("unsupported PHC algorithm {other}")),
    }
    Ok(())
}

/// Verifies `password` against a stored bcrypt, PBKDF2 or scrypt hash (argon2 has its own
/// path, with reused memory). Anything malformed or out of the import's bounds does not match.
pub fn verify_other(password: &Secret, hash: &str) -> bool {
    let Some(scheme) = scheme(hash) else {
        return false;
    };
    let pw = password.expose().as_bytes();
    match scheme {
        Scheme::Argon2 => false,
        Scheme::Bcrypt => check_bcrypt(hash).is_ok() && bcrypt::verify(pw, hash).unwrap_or(false),
        Scheme::Pbkdf2 | Scheme::Scrypt => {
            if check_phc(hash).is_err() {
                return false;
            }
            let Ok(parsed) = PasswordHash::new(hash) else {
                return false;
            };
            let ok = match scheme {
                Scheme::Pbkdf2 => pbkdf2::Pbkdf2.verify_password(pw, &parsed),
                _ => scrypt::Scrypt.verify_password(pw, &parsed),
            };
            ok.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn salt() -> SaltString {
        SaltString::encode_b64(b"0123456789abcdef").unwrap()
    }

    #[test]
    fn bcrypt_hashes_verify_and_bad_costs_are_refused() {
        let h = bcrypt::hash_with_salt("s3cret pw", 4, *b"0123456789abcdef")
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        assert_eq!(importable(&h).unwrap(), h);
        assert!(verify_other(&Secret::new("s3cret pw"), &h));
        assert!(!verify_other(&Secret::new("s3cret pw!"), &h));
        let y = h.replacen("$2b$", "$2y$", 1);
        assert!(verify_other(&Secret::new("s3cret pw"), &y));
        let costly = h.replacen("$04$", "$20$", 1);
        assert!(importable(&costly).unwrap_err().contains("cost"));
        assert!(!verify_other(&Secret::new("s3cret pw"), &costly));
    }

    #[test]
    fn pbkdf2_in_phc_and_in_django_form() {
        let params = pbkdf2::Params {
            rounds: 1000,
            output_length: 32,
        };
        let phc = pbkdf2::Pbkdf2
            .hash_password_customized(b"pw", None, None, params, &salt())
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{phc}");
        assert_eq!(importable(&phc).unwrap(), phc);
        assert!(verify_other(&Secret::new("pw"), &phc));
        assert!(!verify_other(&Secret::new("pW"), &phc));

        // Django: pbkdf2_sha256$ROUNDS$SALT$BASE64, the salt used as text.
        let mut dk = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"django pw", b"NaClNaCl", 1000, &mut dk);
        let django = format!("pbkdf2_sha256$1000$NaClNaCl${}", STANDARD.encode(dk));
        let stored = importable(&django).unwrap();
        assert!(
            stored.starts_with("$pbkdf2-sha256$i=1000,l=32$"),
            "{stored}"
        );
        assert!(verify_other(&Secret::new("django pw"), &stored));
        assert!(!verify_other(&Secret::new("django"), &stored));
        assert!(importable("pbkdf2_sha256$x$salt$abc").is_err());
        let slow = phc.replacen("i=1000", "i=99999999", 1);
        assert!(importable(&slow).unwrap_err().contains("rounds"));
    }

    #[test]
    fn scrypt_within_bounds() {
        let params = scrypt::Params::new(10, 8, 1, 32).unwrap();
        let phc = scrypt::Scrypt
            .hash_password_customized(b"pw", None, None, params, &salt())
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$scrypt$ln=10,r=8,p=1$"), "{phc}");
        assert_eq!(importable(&phc).unwrap(), phc);
        assert!(verify_other(&Secret::new("pw"), &phc));
        assert!(!verify_other(&Secret::new("px"), &phc));
        let huge = phc.replacen("ln=10", "ln=20", 1);
        assert!(importable(&huge).unwrap_err().contains("64 MiB"));
        assert!(!verify_other(&Secret::new("pw"), &huge));
    }

    #[test]
    fn unknown_and_malformed_hashes_are_refused() {
        for bad in [
            "",
            "plain",
            "$md5$abc",
            "$2b$xx$",
            "$argon2id$v=19$m=1,t=1$x",
            "$scrypt$",
        ] {
            assert!(importable(bad).is_err(), "{bad}");
            assert!(!verify_other(&Secret::new("x"), bad), "{bad}");
        }
        let big = "$argon2id$v=19$m=1048576,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(importable(big).unwrap_err().contains("256 MiB"));
        let slow = big.replacen("m=1048576,t=1", "m=65536,t=100", 1);
        assert!(importable(&slow).unwrap_err().contains("1 GiB"), "{slow}");
        let ok = big.replacen("m=1048576,t=1", "m=19456,t=2", 1);
        assert!(importable(&ok).is_ok());
    }
}
