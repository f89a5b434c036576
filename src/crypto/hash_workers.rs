//! The argon2 workers: a fixed set of threads, each reusing one memory buffer for every hash
//! it computes, fed by a bounded queue. Memory is `workers x m_cost` whatever the load (a
//! blocking-pool thread per waiting request, each allocating its own buffer, grew to
//! gigabytes), and a full queue answers at once instead of growing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use super::password::PasswordError;
use crate::ids::Secret;

/// What a worker is asked to do.
enum Job {
    Hash {
        password: Secret,
        salt: [u8; 16],
        reply: oneshot::Sender<Result<String, PasswordError>>,
    },
    Verify {
        password: Secret,
        hash: String,
        reply: oneshot::Sender<Result<bool, PasswordError>>,
    },
}

/// The queue in front of the workers.
#[derive(Clone)]
pub struct HashWorkers {
    queue: SyncSender<Job>,
    /// Jobs admitted at most: one per worker plus the queue.
    capacity: usize,
    /// Jobs queued or running, and running (for metrics and tests).
    in_flight: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    workers: usize,
    /// A job's compute time, smoothed (nanoseconds; 0 until the first job).
    job_ns: Arc<AtomicU64>,
    /// A job that would wait longer than this for a worker is refused at once.
    max_wait: Duration,
}

impl HashWorkers {
    /// Starts `workers` threads for `params`, with room for `queue` jobs waiting.
    pub fn start(workers: usize, queue: usize, params: Params) -> Self {
        let workers = workers.max(1);
        let capacity = workers.saturating_add(queue);
        // Admission is decided by `in_flight` (below), so the channel never fills.
        let (tx, rx) = sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let job_ns = Arc::new(AtomicU64::new(0));
        for n in 0..workers {
            let (rx, params) = (rx.clone(), params.clone());
            let counters = Counters {
                in_flight: in_flight.clone(),
                running: running.clone(),
                job_ns: job_ns.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                // argon2 keeps its state in the heap buffer; a small stack is plenty.
                .stack_size(256 * 1024)
                .spawn(move || work(&rx, &params, &counters));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            queue: tx,
            capacity,
            in_flight,
            running,
            workers,
            job_ns,
            max_wait: Duration::MAX,
        }
    }

    /// Refuses jobs that would wait longer than `max_wait` for a worker (by the smoothed
    /// job time), besides the count bound.
    pub fn with_max_wait(self, max_wait: Duration) -> Self {
        Self { max_wait, ..self }
    }

    /// How long a job admitted behind `ahead` others would wait for a worker.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let queued = ahead.saturating_add(1).saturating_sub(self.workers) as u64;
        let ns = self.job_ns.load(Ordering::Relaxed);
        Duration::from_nanos(ns.saturating_mul(queued) / self.workers.max(1) as u64)
    }

    /// `Some(seconds to wait)` if a job submitted now would be refused: a cheap look before
    /// any work that only a password check would follow (the admission itself is `submit`).
    pub fn saturated(&self) -> Option<u64> {
        self.refusal(self.in_flight())
    }

    fn refusal(&self, ahead: usize) -> Option<u64> {
        let wait = self.expected_wait(ahead);
        let full = ahead >= self.capacity || (ahead >= self.workers && wait > self.max_wait);
        full.then(|| wait.as_secs().saturating_add(1).clamp(1, 30))
    }

    /// Jobs a worker is computing now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Jobs queued or running.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Admits `job` if fewer than `capacity` are in flight and it would not wait longer than
    /// `max_wait`: the count is reserved first (`fetch_add`), then decided, so a burst cannot
    /// slip past it.
    fn submit(&self, job: Job) -> Result<(), PasswordError> {
        let ahead = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Some(retry_after) = self.refusal(ahead) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(PasswordError::Busy { retry_after });
        }
        match self.queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => PasswordError::Busy { retry_after: 1 },
                    TrySendError::Disconnected(_) => PasswordError::Cancelled,
                })
            }
        }
    }

    pub async fn hash(&self, password: Secret, salt: [u8; 16]) -> Result<String, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            password,
            salt,
            reply,
        })?;
        answer.await.map_err(|_| PasswordError::Cancelled)?
    }

    pub async fn verify(&self, password: Secret, hash: String) -> Result<bool, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        answer.await.map_err(|_| PasswordError::Cancelled)?
    }
}

/// The counters a worker keeps up to date.
struct Counters {
    in_flight: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    job_ns: Arc<AtomicU64>,
}

/// A worker: takes jobs until the queue closes, always into the same memory.
fn work(rx: &Mutex<Receiver<Job>>, params: &Params, counters: &Counters) {
    let Counters {
        in_flight,
        running,
        job_ns,
    } = counters;
    let mut memory = vec![Block::default(); params.block_count()];
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        running.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let answer = match job {
            Job::Hash {
                password,
                salt,
                reply,
            } => Answer::Hash(reply, hash(&password, &salt, params, &mut memory)),
            Job::Verify {
                password,
                hash,
                reply,
            } => Answer::Verify(reply, Ok(verify(&password, &hash, &mut memory))),
        };
        // A stored hash with more memory than ours grew the buffer for one job only.
        if memory.len() > params.block_count() {
            memory.truncate(params.block_count());
            memory.shrink_to_fit();
        }
        // Smoothed over about eight jobs (a lost update between workers is harmless).
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let prev = job_ns.load(Ordering::Relaxed);
        let next = if prev == 0 {
            took
        } else {
            prev - prev / 8 + took / 8
        };
        job_ns.store(next, Ordering::Relaxed);
        // The slot is free before the answer goes out: whoever the answer wakes may submit
        // the next job at once.
        running.fetch_sub(1, Ordering::SeqCst);
        in_flight.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Answer::Hash(reply, r) => {
                let _ = reply.send(r);
            }
            Answer::Verify(reply, r) => {
                let _ = reply.send(r);
            }
        }
    }
}

/// A computed answer, sent once the worker's slot is free.
enum Answer {
    Hash(
        oneshot::Sender<Result<String, PasswordError>>,
        Result<String, PasswordError>,
    ),
    Verify(
        oneshot::Sender<Result<bool, PasswordError>>,
        Result<bool, PasswordError>,
    ),
}

/// A PHC-format argon2id hash of `password` with `salt`.
fn hash(
    password: &Secret,
    salt: &[u8; 16],
    params: &Params,
    memory: &mut [Block],
) -> Result<String, PasswordError> {
    let err = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon
        .hash_password_into_with_memory(password.expose().as_bytes(), salt, &mut out, memory)
        .map_err(|e| err(&e))?;
    let salt = SaltString::encode_b64(salt).map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

/// Does `password` match the stored `hash`? argon2 runs in the worker's memory; imported
/// bcrypt, PBKDF2 and scrypt hashes (see [`super::schemes`]) are checked here too, so they
/// share the workers' bound. Anything malformed, or costing more than
/// `schemes::argon2_within_bounds` allows, does not match.
fn verify(password: &Secret, hash: &str, memory: &mut Vec<Block>) -> bool {
    if super::schemes::scheme(hash) != Some(super::schemes::Scheme::Argon2) {
        return super::schemes::verify_other(password, hash);
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if let Err(e) = super::schemes::argon2_within_bounds(&params) {
        tracing::warn!(error = %e, "a stored password hash asks for too much");
        return false;
    }
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut out,
            &mut memory[..],
        )
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|o| o == expected)
}
