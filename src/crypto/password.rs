//! Password hashing with argon2id (OWASP parameters) on a fixed set of workers.

use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Params};

use super::hash_workers::{CoreSharing, HashWorkers};
use crate::clock::Observer;

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
    Busy { retry_after: u64 },
}

/// Hashes and verifies passwords on a fixed set of argon2 workers (see [`HashWorkers`]):
/// memory is `concurrency x m_cost` (~19 MiB each) whatever the load.
#[derive(Clone)]
pub struct PasswordHasherPool {
    workers: HashWorkers,
    observer: Option<Arc<dyn Observer>>,
    params: Params,
    /// A hash with the current parameters that no password matches: unknown users are
    /// verified against it so they cost the same time as wrong passwords.
    dummy: Arc<tokio::sync::OnceCell<String>>,
}

impl std::fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherPool")
            .field("in_flight", &self.workers.in_flight())
            .finish()
    }
}

/// A hashing worker idle this long unmaps its memory (~19 MiB): after a burst of sign-ins the
/// process returns to its idle size, and a steady trickle pays a few milliseconds a hash.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1.
pub fn default_params() -> Params {
    Params::new(19_456, 2, 1, None).unwrap_or_default()
}

impl PasswordHasherPool {
    /// `concurrency` workers; at most `queue` checks wait for one, beyond that
    /// [`PasswordError::Busy`] at once.
    pub fn new(concurrency: usize, queue: usize, params: Params) -> Self {
        Self::start(concurrency, queue, params, CoreSharing::Default)
    }

    /// [`PasswordHasherPool::new`], the workers sharing their cores as `sharing` says.
    pub fn start(concurrency: usize, queue: usize, params: Params, sharing: CoreSharing) -> Self {
        Self {
            workers: HashWorkers::start(concurrency, queue, params.clone(), RELEASE_AFTER, sharing),
            observer: None,
            params,
            dummy: Arc::default(),
        }
    }

    /// Refuses checks that would wait longer than `max_wait` for a worker: under a flood the
    /// rest are told at once when to come back, instead of queueing into a timeout.
    pub fn with_max_wait(self, max_wait: std::time::Duration) -> Self {
        Self {
            workers: self.workers.with_max_wait(max_wait),
            ..self
        }
    }

    /// `Some(seconds)` when a password check submitted now would be refused (see
    /// [`HashWorkers::saturated`]); callers look before doing the work that leads to one.
    pub fn saturated(&self) -> Option<u64> {
        self.workers.saturated()
    }

    /// Reports each hash's and check's time (queue wait included) to `observer`.
    pub fn with_observer(self, observer: Arc<dyn Observer>) -> Self {
        Self {
            observer: Some(observer),
            ..self
        }
    }

    fn observe<T>(&self, op: &'static str, started: Instant, r: &Result<T, PasswordError>) {
        if let Some(o) = &self.observer {
            o.observe(op, started.elapsed(), r.is_err());
        }
    }

    /// Password checks being computed.
    pub fn running(&self) -> usize {
        self.workers.running()
    }

    /// Bytes of argon2 memory the workers hold now.
    pub fn memory_bytes(&self) -> usize {
        self.workers.memory_bytes()
    }

    /// Password checks skipped because the request had gone before a worker took them.
    pub fn abandoned(&self) -> u64 {
        self.workers.abandoned()
    }

    /// Password checks queued or running.
    pub fn in_flight(&self) -> usize {
        self.workers.in_flight()
    }

    /// Password checks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.workers
            .in_flight()
            .saturating_sub(self.workers.running())
    }

    /// A PHC-format argon2id hash of `password`.
    pub async fn hash(
        &self,
        password: &Secret,
        random: &dyn Random,
    ) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        random.fill(&mut salt);
        let started = Instant::now();
        let hashed = self.workers.hash(password.clone(), salt).await;
        self.observe("hash", started, &hashed);
        hashed
    }

    /// Verifies `password` against a stored PHC hash. A malformed hash verifies as false.
    pub async fn verify(&self, password: &Secret, hash: &str) -> Result<bool, PasswordError> {
        let started = Instant::now();
        let checked = self
            .workers
            .verify(password.clone(), hash.to_string())
            .await;
        self.observe("verify", started, &checked);
        checked
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
        let pool = PasswordHasherPool::new(1, 8, Params::new(1024, 1, 1, None).unwrap());
        let r = SeededRandom::new(b"s");
        let h = pool.hash(&Secret::new("correct horse"), &r).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        assert!(
            pool.verify(&Secret::new("correct horse"), &h)
                .await
                .unwrap()
        );
        assert!(!pool.verify(&Secret::new("wrong"), &h).await.unwrap());
        assert!(!pool.verify(&Secret::new("x"), "not a hash").await.unwrap());
        assert!(!pool.needs_rehash(&h));
        assert!(PasswordHasherPool::new(1, 8, default_params()).needs_rehash(&h));
    }

    #[tokio::test]
    async fn verifies_hashes_made_elsewhere_with_other_parameters() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        // A hash from the argon2 crate's own API, with more memory than the workers use.
        let other = Params::new(4096, 2, 2, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = argon2::Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, other)
            .hash_password(b"pw from keycloak", &salt)
            .unwrap()
            .to_string();
        let pool = PasswordHasherPool::new(1, 8, Params::new(1024, 1, 1, None).unwrap());
        assert!(
            pool.verify(&Secret::new("pw from keycloak"), &phc)
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify(&Secret::new("pw from keycloak!"), &phc)
                .await
                .unwrap()
        );
        assert!(pool.needs_rehash(&phc));
        // argon2i too (older imports).
        let argon2i = argon2::Argon2::new(
            Algorithm::Argon2i,
            argon2::Version::V0x13,
            Params::new(1024, 2, 1, None).unwrap(),
        )
        .hash_password(b"old", &salt)
        .unwrap()
        .to_string();
        assert!(pool.verify(&Secret::new("old"), &argon2i).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_at_once() {
        // One worker, room for one waiting job, and hashes slow enough to hold both.
        let slow = Params::new(64 * 1024, 3, 1, None).unwrap();
        let pool = PasswordHasherPool::new(1, 1, slow);
        let p = pool.clone();
        let first =
            tokio::spawn(async move { p.hash(&Secret::new("x"), &SeededRandom::new(b"a")).await });
        while pool.workers.running() == 0 {
            tokio::task::yield_now().await;
        }
        // Polled once: it is queued (synchronously, in that poll), and its answer is not awaited.
        let (pw, rng) = (Secret::new("y"), SeededRandom::new(b"b"));
        let queued = pool.hash(&pw, &rng);
        assert!(futures_util::FutureExt::now_or_never(queued).is_none());
        assert_eq!(pool.queued(), 1);
        let refused = pool.verify(&Secret::new("x"), "$argon2id$...").await;
        assert!(
            matches!(refused, Err(PasswordError::Busy { .. })),
            "{refused:?}"
        );
        assert!(first.await.unwrap().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_that_would_wait_too_long_is_refused_with_the_wait() {
        let slow = Params::new(32 * 1024, 2, 1, None).unwrap();
        let pool = PasswordHasherPool::new(1, 100, slow)
            .with_max_wait(std::time::Duration::from_millis(1));
        let rng = SeededRandom::new(b"w");
        // Until a job has been timed, only the count bounds the queue.
        assert_eq!(pool.saturated(), None);
        pool.hash(&Secret::new("first"), &rng).await.unwrap();
        let p = pool.clone();
        let running =
            tokio::spawn(async move { p.hash(&Secret::new("x"), &SeededRandom::new(b"a")).await });
        while pool.running() == 0 {
            tokio::task::yield_now().await;
        }
        // One running: a second job would wait a whole job (more than 1 ms).
        assert_eq!(pool.saturated(), Some(1));
        let refused = pool.verify(&Secret::new("x"), "$argon2id$...").await;
        assert!(
            matches!(refused, Err(PasswordError::Busy { retry_after: 1 })),
            "{refused:?}"
        );
        assert!(running.await.unwrap().is_ok());
        assert_eq!(pool.saturated(), None, "idle again");
    }
}
