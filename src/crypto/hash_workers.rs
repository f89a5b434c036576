//! The argon2 workers: a fixed set of threads, each reusing one memory buffer for every hash
//! it computes, fed by a bounded queue. Memory is at most `workers x m_cost` whatever the load
//! (a blocking-pool thread per waiting request, each allocating its own buffer, grew to
//! gigabytes), a full queue answers at once instead of growing, and a worker idle for
//! `release_after` gives its buffer back (the next job maps a new one, a few milliseconds).
//! With [`CoreSharing::WholeHashes`] a worker asks the kernel for a time slice of 1.5 hashes,
//! so that other threads' work runs batched between hashes rather than inside them (`sched`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

use super::hash_memory::HashMemory;
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

impl Job {
    /// Whoever asked has gone (its request was dropped: at shutdown, or a cancelled future):
    /// nobody would read the answer.
    fn abandoned(&self) -> bool {
        match self {
            Job::Hash { reply, .. } => reply.is_closed(),
            Job::Verify { reply, .. } => reply.is_closed(),
        }
    }
}

/// How the workers share their cores with the request threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreSharing {
    /// The OS default time slice (1-3 ms): other runnable threads cut a hash into pieces.
    Default,
    /// A time slice half again as long as a hash: the other threads' work waits and runs in
    /// one batch (fewer switches, each touching less of the cache) instead of cutting every
    /// hash into a dozen pieces (where it evicts the hash's blocks from the cache). Meant with
    /// request threads under `SCHED_BATCH` (`sched`), whose wake-ups then do not interrupt a
    /// hash either.
    WholeHashes,
}

/// The queue in front of the workers.
#[derive(Clone)]
pub struct HashWorkers {
    queue: Sender<Job>,
    /// Jobs admitted at most: one per worker plus the queue.
    capacity: usize,
    /// Jobs queued or running, and running (for metrics and tests).
    in_flight: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// Bytes of argon2 memory mapped by the workers now.
    mapped: Arc<AtomicUsize>,
    /// Jobs skipped because whoever asked had gone, since start.
    abandoned: Arc<AtomicU64>,
    workers: usize,
    /// A job's compute time, smoothed (nanoseconds; 0 until the first job).
    job_ns: Arc<AtomicU64>,
    /// A job that would wait longer than this for a worker is refused at once.
    max_wait: Duration,
}

impl HashWorkers {
    /// Starts `workers` threads for `params`, with room for `queue` jobs waiting; a worker
    /// that had no job for `release_after` unmaps its memory.
    /// They share their cores with other threads as `sharing` says.
    pub fn start(
        workers: usize,
        queue: usize,
        params: Params,
        release_after: Duration,
        sharing: CoreSharing,
    ) -> Self {
        let workers = workers.max(1);
        let capacity = workers.saturating_add(queue);
        // Admission is decided by `in_flight` (below), so the channel never fills.
        let (tx, rx) = crossbeam_channel::bounded::<Job>(capacity);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let mapped = Arc::new(AtomicUsize::new(0));
        let job_ns = Arc::new(AtomicU64::new(0));
        let abandoned = Arc::new(AtomicU64::new(0));
        for n in 0..workers {
            let (rx, params) = (rx.clone(), params.clone());
            let counters = Counters {
                in_flight: in_flight.clone(),
                running: running.clone(),
                mapped: mapped.clone(),
                job_ns: job_ns.clone(),
                abandoned: abandoned.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                // argon2 keeps its state in the heap buffer; a small stack is plenty.
                .stack_size(256 * 1024)
                .spawn(move || {
                    if sharing == CoreSharing::WholeHashes {
                        // Started by a thread under SCHED_BATCH (the request threads'
                        // policy), which this one would inherit: the hash runs under the
                        // OS default, its long slice its only privilege.
                        if let Err(e) = crate::sched::undo_batch_on_this_thread() {
                            tracing::debug!(error = %e, "hashing worker keeps its policy");
                        }
                    }
                    let slice = Slice::new(sharing);
                    work(&rx, &params, &counters, release_after, slice);
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            queue: tx,
            capacity,
            in_flight,
            running,
            mapped,
            abandoned,
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

    /// Bytes of argon2 memory the workers hold now.
    pub fn memory_bytes(&self) -> usize {
        self.mapped.load(Ordering::Relaxed)
    }

    /// Jobs skipped because whoever asked had gone before a worker took them, since start.
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::Relaxed)
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
    mapped: Arc<AtomicUsize>,
    job_ns: Arc<AtomicU64>,
    abandoned: Arc<AtomicU64>,
}

/// A worker: takes jobs until the queue closes, all in the same memory, mapped at the first
/// job and unmapped after `release_after` without one.
fn work(
    rx: &Receiver<Job>,
    params: &Params,
    counters: &Counters,
    release_after: Duration,
    mut slice: Slice,
) {
    let Counters {
        in_flight,
        running,
        mapped,
        job_ns,
        abandoned,
    } = counters;
    let bytes = params.block_count().saturating_mul(Block::SIZE);
    let mut memory: Option<HashMemory> = None;
    loop {
        let job = if memory.is_some() {
            match rx.recv_timeout(release_after) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    memory = None;
                    mapped.fetch_sub(bytes, Ordering::Relaxed);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A request dropped while its job waited (its client went away: see server.rs) costs
        // nothing more: its slot is free at once.
        if job.abandoned() {
            abandoned.fetch_add(1, Ordering::Relaxed);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        running.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        if memory.is_none() {
            memory = HashMemory::new(params.block_count());
            if memory.is_some() {
                mapped.fetch_add(bytes, Ordering::Relaxed);
            }
        }
        let cpu_started = crate::sched::thread_cpu_time();
        let answer = match (job, memory.as_mut()) {
            (
                Job::Hash {
                    password,
                    salt,
                    reply,
                },
                Some(memory),
            ) => Answer::Hash(reply, hash(&password, &salt, params, memory.as_mut())),
            (
                Job::Verify {
                    password,
                    hash,
                    reply,
                },
                Some(memory),
            ) => Answer::Verify(reply, verify(&password, &hash, memory)),
            (Job::Hash { reply, .. }, None) => Answer::Hash(reply, Err(no_memory())),
            (Job::Verify { reply, .. }, None) => Answer::Verify(reply, Err(no_memory())),
        };
        // Smoothed over about eight jobs (a lost update between workers is harmless).
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let prev = job_ns.load(Ordering::Relaxed);
        let next = if prev == 0 {
            took
        } else {
            prev - prev / 8 + took / 8
        };
        job_ns.store(next, Ordering::Relaxed);
        let cpu = crate::sched::thread_cpu_time().saturating_sub(cpu_started);
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
        slice.after_job(cpu);
    }
}

/// A worker's time slice under [`CoreSharing::WholeHashes`]: kept at 3/2 of a job's CPU time
/// (within `MIN..=MAX`), asked again only when that moves by a fifth.
///
/// Measured (benchmark sign-in flow, 8 and 64 browsers, 4-6 alternating pairs): with a slice
/// of 1.5 hashes the work besides hashing fell from 1.5 to 1.1 ms a sign-in and the rate rose
/// from 0.85-0.86x to 0.90-0.91x argon2 alone. Yielding the core after every hash (slices
/// aligned with hashes, smaller batches) kept more of the switches and gained only half that.
struct Slice {
    enabled: bool,
    asked: Duration,
}

impl Slice {
    /// Below this a slice request gains nothing over the OS default.
    const MIN: Duration = Duration::from_millis(2);
    /// A costly hash (a pool with heavy parameters) is cut after this much: a request thread
    /// waits at most this long (plus a scheduler tick) behind a hash.
    const MAX: Duration = Duration::from_millis(50);

    fn new(sharing: CoreSharing) -> Self {
        Self {
            enabled: sharing == CoreSharing::WholeHashes,
            asked: Duration::ZERO,
        }
    }

    /// After a job that took `cpu`: the slice follows the job's cost.
    fn after_job(&mut self, cpu: Duration) {
        if !self.enabled {
            return;
        }
        let want = (cpu.saturating_mul(3) / 2).clamp(Self::MIN, Self::MAX);
        if self.asked.is_zero() || want.abs_diff(self.asked) > self.asked / 5 {
            match crate::sched::set_time_slice(want) {
                Ok(()) => self.asked = want,
                Err(e) => {
                    tracing::debug!(error = %e, "hashing worker keeps the default time slice");
                    self.enabled = false;
                }
            }
        }
    }
}

fn no_memory() -> PasswordError {
    PasswordError::Hash("no memory for argon2".into())
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

/// Does `password` match the stored `hash`? argon2 runs in the worker's memory (a stored
/// hash asking for more gets a mapping of its own for this check only); imported bcrypt,
/// PBKDF2 and scrypt hashes (see [`super::schemes`]) are checked here too, so they share the
/// workers' bound. Anything malformed, or costing more than `schemes::argon2_within_bounds`
/// allows, does not match.
fn verify(password: &Secret, hash: &str, memory: &mut HashMemory) -> Result<bool, PasswordError> {
    if super::schemes::scheme(hash) != Some(super::schemes::Scheme::Argon2) {
        return Ok(super::schemes::verify_other(password, hash));
    }
    let Some(check) = Argon2Check::parse(hash) else {
        return Ok(false);
    };
    let needed = check.params.block_count();
    let mut larger = None;
    let blocks = if memory.len() >= needed {
        memory.as_mut()
    } else {
        larger
            .insert(HashMemory::new(needed).ok_or_else(no_memory)?)
            .as_mut()
    };
    Ok(check.matches(password, blocks))
}

/// A stored argon2 hash, parsed and within bounds.
struct Argon2Check {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: [u8; 64],
    salt_len: usize,
    expected: Output,
}

impl Argon2Check {
    fn parse(hash: &str) -> Option<Self> {
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        let version = parsed
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or_default();
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt_len = parsed.salt?.decode_b64(&mut salt).ok()?.len();
        if let Err(e) = super::schemes::argon2_within_bounds(&params) {
            tracing::warn!(error = %e, "a stored password hash asks for too much");
            return None;
        }
        Some(Self {
            algorithm,
            version,
            params,
            salt,
            salt_len,
            expected,
        })
    }

    /// Computes the hash of `password` in `memory` (at least `params.block_count()` blocks)
    /// and compares it with the stored one.
    fn matches(self, password: &Secret, memory: &mut [Block]) -> bool {
        let mut out = vec![0u8; self.expected.len()];
        let salt = self.salt.get(..self.salt_len).unwrap_or_default();
        let argon = Argon2::new(self.algorithm, self.version, self.params);
        if argon
            .hash_password_into_with_memory(password.expose().as_bytes(), salt, &mut out, memory)
            .is_err()
        {
            return false;
        }
        // `Output`'s equality is constant-time.
        Output::new(&out).is_ok_and(|o| o == self.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    fn one_mib() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    /// Waits (at most 10 s) for the worker thread to reach a state the test cannot await.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::yield_now();
        }
    }

    #[tokio::test]
    async fn memory_is_mapped_by_the_first_job_and_kept_while_jobs_come() {
        let w = HashWorkers::start(
            1,
            4,
            one_mib(),
            Duration::from_secs(3600),
            CoreSharing::Default,
        );
        assert_eq!(w.memory_bytes(), 0, "nothing is mapped before a job");
        let h = w.hash(Secret::new("pw"), [7; 16]).await.unwrap();
        assert_eq!(w.memory_bytes(), MIB);
        assert!(w.verify(Secret::new("pw"), h.clone()).await.unwrap());
        assert!(!w.verify(Secret::new("pv"), h).await.unwrap());
        assert_eq!(w.memory_bytes(), MIB, "one buffer, reused");
    }

    #[tokio::test]
    async fn a_job_whose_requester_has_gone_is_skipped() {
        // One worker, kept busy by a slow job (~20 passes over 8 MiB) while a second job is
        // submitted and its request dropped. Each future is polled once by hand: that submits
        // its job (the worker is a thread of its own, so it runs meanwhile).
        let w = HashWorkers::start(
            1,
            4,
            Params::new(8192, 20, 1, None).unwrap(),
            Duration::ZERO,
            CoreSharing::WholeHashes,
        );
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut busy = Box::pin(w.hash(Secret::new("pw"), [1; 16]));
        assert!(busy.as_mut().poll(&mut cx).is_pending());
        eventually("the slow job runs", || w.running() == 1);
        let mut dropped = Box::pin(w.hash(Secret::new("gone"), [2; 16]));
        assert!(
            dropped.as_mut().poll(&mut cx).is_pending(),
            "submitted, waiting"
        );
        assert_eq!(w.in_flight(), 2);
        drop(dropped);
        assert!(busy.await.is_ok());
        eventually("the dropped job leaves the queue", || w.in_flight() == 0);
        assert_eq!(w.abandoned(), 1, "skipped, not computed");
        // The worker goes on with the next one.
        assert!(w.hash(Secret::new("pw"), [3; 16]).await.is_ok());
        assert_eq!(w.abandoned(), 1);
    }

    #[tokio::test]
    async fn an_idle_worker_unmaps_its_memory_and_maps_it_again_for_the_next_job() {
        let w = HashWorkers::start(2, 4, one_mib(), Duration::ZERO, CoreSharing::Default);
        let h = w.hash(Secret::new("pw"), [7; 16]).await.unwrap();
        eventually("the memory is released", || w.memory_bytes() == 0);
        assert!(w.verify(Secret::new("pw"), h.clone()).await.unwrap());
        let (a, b) = tokio::join!(
            w.verify(Secret::new("pw"), h.clone()),
            w.verify(Secret::new("pw"), h)
        );
        assert!(a.unwrap() && b.unwrap());
        eventually("both workers' memory is released", || w.memory_bytes() == 0);
    }

    #[test]
    fn a_worker_asks_for_a_slice_a_little_longer_than_its_hash() {
        let seen = std::thread::spawn(|| {
            let default = crate::sched::time_slice().unwrap();
            let mut off = Slice::new(CoreSharing::Default);
            off.after_job(Duration::from_millis(16));
            let untouched = crate::sched::time_slice().unwrap();
            let mut slice = Slice::new(CoreSharing::WholeHashes);
            let mut seen = vec![];
            for ms in [16, 18, 20, 400, 0] {
                slice.after_job(Duration::from_millis(ms));
                seen.push(crate::sched::time_slice().unwrap());
            }
            (default, untouched, seen)
        })
        .join()
        .unwrap();
        let (default, untouched, seen) = seen;
        assert_eq!(untouched, default, "the default sharing asks for nothing");
        if seen[0] == default {
            println!("skipped: this kernel has no per-thread time slice (Linux 6.12+)");
            return;
        }
        let ms = Duration::from_millis;
        // 3/2 of 16 ms; 27 ms is within a fifth of 24 (kept), 30 is not; a costly hash is
        // cut at 50 ms; a trivial one gets the floor.
        assert_eq!(seen, [ms(24), ms(24), ms(30), ms(50), ms(2)]);
    }

    /// The worker loop itself hands each job's CPU time to its slice: after one job on a
    /// `WholeHashes` worker the thread's slice is no longer the default, on a `Default` one
    /// it is.
    #[test]
    fn the_worker_loop_sets_its_threads_slice_after_a_job() {
        let after_one_job = |sharing| {
            std::thread::spawn(move || {
                let default = crate::sched::time_slice().unwrap();
                let (tx, rx) = crossbeam_channel::bounded(1);
                let (reply, answer) = oneshot::channel();
                tx.send(Job::Hash {
                    password: Secret::new("pw"),
                    salt: [7; 16],
                    reply,
                })
                .unwrap();
                drop(tx);
                let counters = Counters {
                    in_flight: Arc::new(AtomicUsize::new(1)),
                    running: Arc::default(),
                    mapped: Arc::default(),
                    job_ns: Arc::default(),
                    abandoned: Arc::default(),
                };
                // Returns once the job is done and the queue is closed.
                work(
                    &rx,
                    &one_mib(),
                    &counters,
                    Duration::ZERO,
                    Slice::new(sharing),
                );
                assert!(
                    answer.blocking_recv().unwrap().is_ok(),
                    "the job was computed"
                );
                (default, crate::sched::time_slice().unwrap())
            })
            .join()
            .unwrap()
        };
        let (default, untouched) = after_one_job(CoreSharing::Default);
        assert_eq!(untouched, default);
        let (default, sliced) = after_one_job(CoreSharing::WholeHashes);
        if default.is_zero() {
            println!("skipped: this kernel has no per-thread time slice (Linux 6.12+)");
            return;
        }
        assert!(
            (Slice::MIN..=Slice::MAX).contains(&sliced) && sliced != default,
            "{sliced:?} (default {default:?})"
        );
    }
}
