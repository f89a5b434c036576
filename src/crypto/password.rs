//! Password hashing with argon2id (OWASP parameters) on a bounded blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::clock::Random;
use crate::ids::Secret;

/// Errors from hashing; a wrong password is not an error but `Ok(false)`.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was cancelled")]
    Cancelled,
    /// Every hashing slot is busy and the queue is full: shed the load (503), do not queue
    /// without bound.
    #[error("too many password checks at once")]
    Busy,
}

/// Hashes and verifies passwords, at most `concurrency` at a time (each hash takes ~19 MiB).
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// Jobs waiting for a slot, and how many may wait.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    params: Params,
    /// A hash with the current parameters that no password matches: unknown users are
    /// verified against it so they cost the same time as wrong passwords.
    dummy: Arc<tokio::sync::OnceCell<String>>,
}

impl std::fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherPool")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1.
pub fn default_params() -> Params {
    Params::new(19_456, 2, 1, None).unwrap_or_default()
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasherPool {
    pub fn new(concurrency: usize, params: Params) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: Arc::default(),
            max_waiting: usize::MAX,
            params,
            dummy: Arc::default(),
        }
    }

    /// A PHC-format argon2id hash of `password`.
    /// At most `max` jobs wait for a slot; more are refused with [`PasswordError::Busy`].
    pub fn with_queue(self, max: usize) -> Self {
        Self {
            max_waiting: max,
            ..self
        }
    }

    pub async fn hash(
        &self,
        password: &Secret,
        random: &dyn Random,
    ) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        random.fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let (pw, params) = (password.clone(), self.params.clone());
        self.blocking(move || {
            argon2(params)
                .hash_password(pw.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
    }

    /// Verifies `password` against a stored PHC hash. A malformed hash verifies as false.
    pub async fn verify(&self, password: &Secret, hash: &str) -> Result<bool, PasswordError> {
        let (pw, hash) = (password.clone(), hash.to_string());
        self.blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Ok(false);
            };
            Ok(Argon2::default()
                .verify_password(pw.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    /// Verifies against `hash`, or, for an unknown user, against a dummy hash, so both take the
    /// same time; an unknown user never verifies.
    pub async fn verify_or_dummy(
        &self,
        password: &Secret,
        hash: Option<&str>,
        random: &dyn Random,
    ) -> Result<bool, PasswordError> {
        match hash {
            Some(h) => self.verify(password, h).await,
            None => {
                let dummy = self
                    .dummy
                    .get_or_try_init(|| async {
                        self.hash(&Secret::new(random_token(random)), random).await
                    })
                    .await?;
                let _ = self.verify(password, dummy).await?;
                Ok(false)
            }
        }
    }

    /// Does `hash` use other parameters than the current ones (so it should be rehashed)?
    pub fn needs_rehash(&self, hash: &str) -> bool {
        match PasswordHash::new(hash).and_then(|h| Params::try_from(&h).map(|p| (h.algorithm, p))) {
            Ok((alg, p)) => {
                alg != Algorithm::Argon2id.ident()
                    || p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        // The permit moves into the blocking job: a cancelled request must not free its slot
        // while the hash is still running.
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Reserve a place in the queue first (fetch_add), then decide.
                let queued = Waiting::join(&self.waiting);
                if queued.position > self.max_waiting {
                    return Err(PasswordError::Busy);
                }
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| PasswordError::Cancelled)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| PasswordError::Cancelled)?
    }
}

/// A place in the hashing queue, given up when dropped (also when the request is cancelled).
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// 1 for the first in line.
    position: usize,
}

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize) -> Self {
        let position = count.fetch_add(1, Ordering::SeqCst) + 1;
        Self { count, position }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

fn random_token(random: &dyn Random) -> String {
    let mut b = [0u8; 24];
    random.fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let pool = PasswordHasherPool::new(1, Params::new(1024, 1, 1, None).unwrap());
        let r = SeededRandom::new(b"s");
        let h = pool.hash(&Secret::new("correct horse"), &r).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            pool.verify(&Secret::new("correct horse"), &h)
                .await
                .unwrap()
        );
        assert!(!pool.verify(&Secret::new("wrong"), &h).await.unwrap());
        assert!(!pool.verify(&Secret::new("x"), "not a hash").await.unwrap());
        assert!(!pool.needs_rehash(&h));
        assert!(PasswordHasherPool::new(1, default_params()).needs_rehash(&h));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_at_once() {
        // One slot, no queue, and a hash slow enough to hold the slot while we ask again.
        let slow = Params::new(64 * 1024, 3, 1, None).unwrap();
        let pool = PasswordHasherPool::new(1, slow).with_queue(0);
        let busy = pool.clone();
        let first =
            tokio::spawn(
                async move { busy.hash(&Secret::new("x"), &SeededRandom::new(b"a")).await },
            );
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.verify(&Secret::new("x"), "$argon2id$...").await;
        assert!(matches!(refused, Err(PasswordError::Busy)), "{refused:?}");
        assert!(first.await.unwrap().is_ok());
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
    }
}
