//! Injected time and randomness: the only places domain code may learn "now" or draw entropy;
//! and the [`Observer`] hook through which lower layers report how long their work took.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

/// A source of the current time.
/// Where lower layers (the stores, password hashing) report how long an operation took, and
/// whether it failed. The metrics implement it; tools and tests that do not care leave it out.
/// Letters and digits: ids drawn from it are safe in URLs, file names and command lines.
pub const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub trait Observer: Send + Sync + 'static {
    /// `what` is `sql`, `kv`, `hash` or `verify`.
    fn observe(&self, what: &'static str, took: std::time::Duration, failed: bool);
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; tests use it to expire codes and tokens.
#[derive(Debug)]
pub struct FakeClock {
    millis: AtomicI64,
}

impl FakeClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            millis: AtomicI64::new(start.timestamp_millis()),
        }
    }

    pub fn advance(&self, by: TimeDelta) {
        self.millis
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.millis.store(to.timestamp_millis(), Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.millis.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// A source of cryptographically strong random bytes.
pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

/// Helpers every caller of [`Random`] wants.
pub trait RandomExt: Random {
    /// `n` random bytes encoded base64url without padding.
    fn token(&self, n: usize) -> String {
        let mut buf = vec![0u8; n];
        self.fill(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// `len` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
    fn string_from(&self, alphabet: &[u8], len: usize) -> String {
        debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
        let limit = 256 - (256 % alphabet.len());
        let mut out = String::with_capacity(len);
        let mut buf = [0u8; 64];
        while out.len() < len {
            self.fill(&mut buf);
            for &b in &buf {
                if (b as usize) < limit && out.len() < len {
                    out.push(alphabet[b as usize % alphabet.len()] as char);
                }
            }
        }
        out
    }

    /// A UUID v7 string: `now` in its time field (so ids sort by creation), the rest random.
    fn uuid_v7(&self, now: DateTime<Utc>) -> String {
        let mut r = [0u8; 10];
        self.fill(&mut r);
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &r)
            .into_uuid()
            .to_string()
    }
}

impl<R: Random + ?Sized> RandomExt for R {}

/// Randomness from the operating system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no entropy source at all; there is no safe
        // fallback for an identity provider, so that is fatal.
        #[allow(clippy::expect_used)]
        getrandom::getrandom(buf).expect("the operating system's random source failed");
    }
}

/// Deterministic randomness for tests: SHA-256 in counter mode over a seed.
#[derive(Debug)]
pub struct SeededRandom {
    state: Mutex<(Vec<u8>, u64)>,
}

impl SeededRandom {
    pub fn new(seed: &[u8]) -> Self {
        Self {
            state: Mutex::new((seed.to_vec(), 0)),
        }
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for chunk in buf.chunks_mut(32) {
            guard.1 += 1;
            let mut h = Sha256::new();
            h.update(&guard.0);
            h.update(guard.1.to_be_bytes());
            let block = h.finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_from_uses_only_the_alphabet() {
        let r = SeededRandom::new(b"x");
        let s = r.string_from(b"abc", 100);
        assert_eq!(s.len(), 100);
        assert!(s.bytes().all(|b| b"abc".contains(&b)));
    }

    #[test]
    fn fake_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let c = FakeClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(TimeDelta::seconds(61));
        assert_eq!(c.now().timestamp(), 1_700_000_061);
    }
}
