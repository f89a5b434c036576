//! The server side of Cognito's SRP-6a (`USER_SRP_AUTH`), as amazon-cognito-identity-js and
//! the AWS SDKs compute it: the 3072-bit group of RFC 5054 (RFC 3526's MODP prime, g = 2),
//! SHA-256, `k = H(N | g)`, `x = H(salt | H(pool_name + user_id + ":" + password))`, numbers
//! padded the Java `BigInteger` way (a zero byte before a leading byte >= 0x80), the session
//! key from HKDF-SHA256 with the info "Caldera Derived Key", and the password claim
//! `HMAC(key, pool_name | user_id | secret_block | timestamp)`. Big numbers are OpenSSL's
//! (already in the tree; the secret exponent is marked constant-time).

use hmac::{Hmac, Mac};
use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What can go wrong: bad numbers from the client, or OpenSSL failing.
#[derive(Debug, thiserror::Error)]
pub enum SrpError {
    #[error("SRP_A is not a valid public value")]
    BadA,
    #[error("the stored SRP verifier is not valid")]
    BadVerifier,
    #[error("SRP arithmetic failed: {0}")]
    Math(#[from] openssl::error::ErrorStack),
}

/// The group generator.
const G: u32 = 2;
/// HKDF's info for the password authentication key.
const DERIVE_KEY_INFO: &[u8] = b"Caldera Derived Key";

fn n() -> Result<BigNum, SrpError> {
    Ok(BigNum::get_rfc3526_prime_3072()?)
}

/// Java's `BigInteger.toByteArray()` of a non-negative number: a zero byte in front when the
/// top bit is set (so the number does not read as negative).
fn padded(bytes: &[u8]) -> Vec<u8> {
    match bytes.first() {
        Some(b) if *b >= 0x80 => {
            let mut v = Vec::with_capacity(bytes.len() + 1);
            v.push(0);
            v.extend_from_slice(bytes);
            v
        }
        _ => bytes.to_vec(),
    }
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut m) = <HmacSha256 as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// `k = H(PAD(N) | PAD(g))`.
fn k(n: &BigNumRef) -> Result<BigNum, SrpError> {
    let g = BigNum::from_u32(G)?;
    Ok(BigNum::from_slice(&hash(&[
        &padded(&n.to_vec()),
        &padded(&g.to_vec()),
    ]))?)
}

/// The verifier `v = g^x mod N` for a password; `pool_name` is the part of the pool id after
/// the `_`, `user_id` what the challenge names as `USER_ID_FOR_SRP`.
pub fn verifier(
    pool_name: &str,
    user_id: &str,
    password: &str,
    salt: &[u8],
) -> Result<Vec<u8>, SrpError> {
    let identity = hash(&[
        pool_name.as_bytes(),
        user_id.as_bytes(),
        b":",
        password.as_bytes(),
    ]);
    let mut x = BigNum::from_slice(&hash(&[&padded(salt), &identity]))?;
    x.set_const_time();
    let (n, mut ctx) = (n()?, BigNumContext::new_secure()?);
    let mut v = BigNum::new()?;
    let g = BigNum::from_u32(G)?;
    v.mod_exp(&g, &x, &n, &mut ctx)?;
    Ok(v.to_vec())
}

/// The server's public value `B = (k v + g^b) mod N` for the secret `b`.
pub fn public_b(verifier: &[u8], b: &[u8]) -> Result<Vec<u8>, SrpError> {
    let (n, mut ctx) = (n()?, BigNumContext::new_secure()?);
    let v = BigNum::from_slice(verifier)?;
    if v.num_bits() == 0 || v.ucmp(&n) != std::cmp::Ordering::Less {
        return Err(SrpError::BadVerifier);
    }
    let mut b = BigNum::from_slice(b)?;
    b.set_const_time();
    let mut gb = BigNum::new()?;
    let g = BigNum::from_u32(G)?;
    gb.mod_exp(&g, &b, &n, &mut ctx)?;
    let mut kv = BigNum::new()?;
    let k = k(&n)?;
    kv.mod_mul(&k, &v, &n, &mut ctx)?;
    let mut big_b = BigNum::new()?;
    big_b.mod_add(&kv, &gb, &n, &mut ctx)?;
    Ok(big_b.to_vec())
}

/// Parses the client's `SRP_A` (hex) and refuses `A mod N = 0` (RFC 5054 §2.5.4).
pub fn parse_a(hex: &str) -> Result<Vec<u8>, SrpError> {
    if hex.is_empty() || hex.len() > 2048 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(SrpError::BadA);
    }
    let a = BigNum::from_hex_str(hex).map_err(|_| SrpError::BadA)?;
    let (n, mut ctx) = (n()?, BigNumContext::new()?);
    let mut rem = BigNum::new()?;
    rem.nnmod(&a, &n, &mut ctx)?;
    if rem.num_bits() == 0 {
        return Err(SrpError::BadA);
    }
    Ok(a.to_vec())
}

/// The 16-byte password authentication key both sides derive.
pub fn session_key(
    a: &[u8],
    big_b: &[u8],
    b: &[u8],
    verifier: &[u8],
) -> Result<[u8; 16], SrpError> {
    let (n, mut ctx) = (n()?, BigNumContext::new_secure()?);
    let u = BigNum::from_slice(&hash(&[&padded(a), &padded(big_b)]))?;
    if u.num_bits() == 0 {
        return Err(SrpError::BadA);
    }
    let (a_num, v) = (BigNum::from_slice(a)?, BigNum::from_slice(verifier)?);
    // S = (A * v^u) ^ b mod N
    let mut vu = BigNum::new()?;
    vu.mod_exp(&v, &u, &n, &mut ctx)?;
    let mut base = BigNum::new()?;
    base.mod_mul(&a_num, &vu, &n, &mut ctx)?;
    let mut b = BigNum::from_slice(b)?;
    b.set_const_time();
    let mut s = BigNum::new()?;
    s.mod_exp(&base, &b, &n, &mut ctx)?;
    let prk = hmac(&padded(&u.to_vec()), &[&padded(&s.to_vec())]);
    let okm = hmac(&prk, &[DERIVE_KEY_INFO, &[1]]);
    let mut key = [0u8; 16];
    key.copy_from_slice(&okm[..16]);
    Ok(key)
}

/// `PASSWORD_CLAIM_SIGNATURE` as the client must have computed it.
pub fn claim_signature(
    key: &[u8; 16],
    pool_name: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> [u8; 32] {
    hmac(
        key,
        &[
            pool_name.as_bytes(),
            user_id.as_bytes(),
            secret_block,
            timestamp.as_bytes(),
        ],
    )
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex string (an odd length gets a leading zero, as clients send `B`).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let padded = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_string()
    };
    (0..padded.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(padded.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The stored form of a verifier: `salt_hex:verifier_hex`.
pub fn stored(
    pool_name: &str,
    user_id: &str,
    password: &str,
    salt: &[u8],
) -> Result<String, SrpError> {
    Ok(format!(
        "{}:{}",
        hex(salt),
        hex(&verifier(pool_name, user_id, password, salt)?)
    ))
}

/// Salt and verifier of the stored form.
pub fn parse_stored(s: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (salt, v) = s.split_once(':')?;
    Some((unhex(salt)?, unhex(v)?))
}

/// The pool-name part of a pool id (`local_AbCdEfGhI` -> `AbCdEfGhI`), as SRP uses it.
pub fn pool_name(pool_id: &str) -> &str {
    pool_id.split_once('_').map_or(pool_id, |(_, name)| name)
}

/// Parses the `TIMESTAMP` Cognito accepts: `EEE MMM d HH:mm:ss UTC yyyy` (English names,
/// day of month without a leading zero; a leading zero is accepted too).
pub fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%a %b %e %H:%M:%S UTC %Y").ok()?;
    Some(naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client computed the textbook way, independently of the server functions above.
    fn client_key(
        a: &BigNum,
        big_b: &[u8],
        salt: &[u8],
        pool: &str,
        user: &str,
        pw: &str,
    ) -> [u8; 16] {
        let n = n().unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let g = BigNum::from_u32(2).unwrap();
        let mut big_a = BigNum::new().unwrap();
        big_a.mod_exp(&g, a, &n, &mut ctx).unwrap();
        let u = BigNum::from_slice(&hash(&[&padded(&big_a.to_vec()), &padded(big_b)])).unwrap();
        let id = hash(&[pool.as_bytes(), user.as_bytes(), b":", pw.as_bytes()]);
        let x = BigNum::from_slice(&hash(&[&padded(salt), &id])).unwrap();
        // S = (B - k g^x) ^ (a + u x) mod N
        let mut gx = BigNum::new().unwrap();
        gx.mod_exp(&g, &x, &n, &mut ctx).unwrap();
        let mut kgx = BigNum::new().unwrap();
        kgx.mod_mul(&k(&n).unwrap(), &gx, &n, &mut ctx).unwrap();
        let mut base = BigNum::new().unwrap();
        base.mod_sub(&BigNum::from_slice(big_b).unwrap(), &kgx, &n, &mut ctx)
            .unwrap();
        let mut ux = BigNum::new().unwrap();
        ux.checked_mul(&u, &x, &mut ctx).unwrap();
        let mut exp = BigNum::new().unwrap();
        exp.checked_add(a, &ux).unwrap();
        let mut s = BigNum::new().unwrap();
        s.mod_exp(&base, &exp, &n, &mut ctx).unwrap();
        let prk = hmac(&padded(&u.to_vec()), &[&padded(&s.to_vec())]);
        let okm = hmac(&prk, &[DERIVE_KEY_INFO, &[1]]);
        okm[..16].try_into().unwrap()
    }

    #[test]
    fn client_and_server_derive_the_same_key_only_with_the_right_password() {
        let salt = [0x9a_u8; 16];
        let v = verifier("AbCdEfGhI", "alice", "correct horse", &salt).unwrap();
        let b = [7u8; 32];
        let big_b = public_b(&v, &b).unwrap();
        let a = BigNum::from_slice(&[5u8; 32]).unwrap();
        let n = n().unwrap();
        let mut big_a = BigNum::new().unwrap();
        big_a
            .mod_exp(
                &BigNum::from_u32(2).unwrap(),
                &a,
                &n,
                &mut BigNumContext::new().unwrap(),
            )
            .unwrap();
        let a_bytes = parse_a(&big_a.to_hex_str().unwrap()).unwrap();
        let server = session_key(&a_bytes, &big_b, &b, &v).unwrap();
        assert_eq!(
            server,
            client_key(&a, &big_b, &salt, "AbCdEfGhI", "alice", "correct horse")
        );
        assert_ne!(
            server,
            client_key(&a, &big_b, &salt, "AbCdEfGhI", "alice", "wrong horse")
        );
    }

    #[test]
    fn a_multiple_of_n_is_refused() {
        let n = n().unwrap();
        assert!(parse_a("0").is_err());
        assert!(parse_a(&n.to_hex_str().unwrap()).is_err());
        assert!(parse_a("not hex").is_err());
        assert!(parse_a("02").is_ok());
    }

    #[test]
    fn timestamps_as_cognito_writes_them() {
        let t = parse_timestamp("Mon Feb 10 18:30:12 UTC 2025").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-02-10T18:30:12+00:00");
        let t = parse_timestamp("Tue Feb 4 08:03:02 UTC 2025").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-02-04T08:03:02+00:00");
        assert!(parse_timestamp("2025-02-04T08:03:02Z").is_none());
    }
}
