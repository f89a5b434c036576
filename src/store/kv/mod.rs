//! Short-lived state (sessions, codes, counters) in Redis or in process, with identical semantics.
//!
//! Every value carries its expiry, judged by the injected clock, so a fake clock expires entries
//! the same way on both stores; the store's own TTL only collects garbage.

mod memory;
mod redis_kv;

use std::sync::Arc;
use std::time::Duration;

pub use memory::{MemoryKv, Usage};
pub use redis_kv::RedisKv;

use super::StoreError;
use crate::clock::{Clock, Observer};
use crate::config::redact_url;

/// Writes gathered by several modules to go out together with [`Kv::write`], in order.
#[derive(Debug, Default)]
pub struct Writes(Vec<(String, Vec<u8>, Duration, bool)>);

impl Writes {
    /// Adds a write of `value` under `key` for `ttl` (as [`Kv::put`]).
    pub fn put(&mut self, key: String, value: Vec<u8>, ttl: Duration) {
        self.0.push((key, value, ttl, false));
    }

    /// Adds a write as [`Kv::put_evictable`].
    pub fn put_evictable(&mut self, key: String, value: Vec<u8>, ttl: Duration) {
        self.0.push((key, value, ttl, true));
    }
}

/// What [`Kv::take_and_mark`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// The live value, now gone; the mark is stored.
    Value(Vec<u8>),
    /// Nothing live was there; what the mark key holds, if anything.
    Gone(Option<Vec<u8>>),
}

/// The two implementations.
#[derive(Clone)]
enum Backend {
    Memory(MemoryKv),
    Redis(RedisKv),
}

/// The key-value store handle held in `AppState`. Keys are prefixed (per instance, per test).
#[derive(Clone)]
pub struct Kv {
    backend: Backend,
    prefix: Arc<str>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("Kv")
            .field("backend", &kind)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Encodes `value` with its absolute expiry (ms since epoch, 16 ASCII digits) in front.
fn seal(expires_ms: i64, value: &[u8]) -> Vec<u8> {
    let mut out = format!("{expires_ms:016}").into_bytes();
    out.extend_from_slice(value);
    out
}

/// The value if it has not expired at `now_ms`.
fn unseal(raw: Vec<u8>, now_ms: i64) -> Option<Vec<u8>> {
    let exp: i64 = std::str::from_utf8(raw.get(..16)?).ok()?.parse().ok()?;
    (exp > now_ms).then(|| raw[16..].to_vec())
}

fn ttl_ms(ttl: Duration) -> i64 {
    // At most ten years, so the sealed expiry always fits its 16 digits.
    const TEN_YEARS_MS: i64 = 10 * 365 * 86_400_000;
    i64::try_from(ttl.as_millis())
        .unwrap_or(TEN_YEARS_MS)
        .clamp(1, TEN_YEARS_MS)
}

impl Kv {
    /// Opens `memory://` or a Redis URL, checking Redis answers within `timeout`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        Self::connect_trusting(url, None, prefix, clock, timeout).await
    }

    /// As [`Kv::connect`]; a `rediss://` server's certificate may also chain to `ca_pem`.
    pub async fn connect_trusting(
        url: &str,
        ca_pem: Option<Vec<u8>>,
        prefix: &str,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let backend = if url == "memory://" {
            Backend::Memory(MemoryKv::default())
        } else {
            let kv = RedisKv::connect(url, ca_pem, timeout).await.map_err(|e| {
                StoreError::Kv(format!("cannot connect to {}: {e}", redact_url(url)))
            })?;
            Backend::Redis(kv)
        };
        Ok(Self {
            backend,
            prefix: prefix.into(),
            clock,
            observer: None,
        })
    }

    /// The same store for one server worker (its own Redis connection; see
    /// [`RedisKv::for_worker`]).
    pub fn for_worker(&self) -> Self {
        self.with_redis(RedisKv::for_worker)
    }

    /// The same store on the shared connection (work that outlives a request runs on another
    /// runtime than the worker's, where a worker's own connection lives).
    pub fn shared(&self) -> Self {
        self.with_redis(RedisKv::shared)
    }

    /// This store with its Redis handle replaced by `f`'s (the in-process one is shared as is).
    fn with_redis(&self, f: impl FnOnce(&RedisKv) -> RedisKv) -> Self {
        let backend = match &self.backend {
            Backend::Redis(r) => Backend::Redis(f(r)),
            memory => memory.clone(),
        };
        Self {
            backend,
            ..self.clone()
        }
    }

    /// The in-process store keeps its entries within about `bytes` (see [`Kv::put_evictable`]);
    /// Redis is bounded by its own `maxmemory`. For a store just connected: the in-process one
    /// starts again empty, apart from any clone made before.
    pub fn with_memory_limit(self, bytes: usize) -> Self {
        match self.backend {
            Backend::Memory(_) => Self {
                backend: Backend::Memory(MemoryKv::with_limit(bytes)),
                ..self
            },
            Backend::Redis(_) => self,
        }
    }

    /// What the in-process store holds; `None` on Redis.
    pub fn memory_usage(&self) -> Option<Usage> {
        match &self.backend {
            Backend::Memory(m) => Some(m.usage()),
            Backend::Redis(_) => None,
        }
    }

    /// Reports each Redis operation's latency and failure to `observer` (the metrics).
    pub fn with_observer(self, observer: Arc<dyn Observer>) -> Self {
        Self {
            observer: Some(observer),
            ..self
        }
    }

    /// A Redis call, timed. Boxed: its future (~1.2 KiB) would otherwise be part of the future
    /// of every `Kv` call and of every caller up the chain, on either backend, held whole by
    /// each request for as long as it waits (for its password check, say).
    fn timed<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> impl std::future::Future<Output = Result<T, StoreError>> {
        let op = Box::pin(op);
        async move {
            let Some(o) = &self.observer else {
                return op.await;
            };
            let started = std::time::Instant::now();
            let result = op.await;
            o.observe("kv", started.elapsed(), result.is_err());
            result
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.store(key, value, ttl, false).await
    }

    /// As [`Kv::put`], for state whose loss costs a sign-in or a resent code and never a
    /// security property (SSO sessions, sign-in transactions, emailed codes): the in-process
    /// store drops such entries, oldest written first, to stay within its memory budget. On
    /// Redis the same as `put`.
    pub async fn put_evictable(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.store(key, value, ttl, true).await
    }

    async fn store(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        evictable: bool,
    ) -> Result<(), StoreError> {
        let (k, ttl, now) = (self.key(key), ttl_ms(ttl), self.now_ms());
        let v = seal(now + ttl, value);
        match &self.backend {
            Backend::Memory(m) => {
                m.put(k, v, now, evictable);
                Ok(())
            }
            Backend::Redis(r) => self.timed(r.put(&k, v, ttl)).await,
        }
    }

    /// Stores `value` only if `key` holds nothing live; returns whether it was stored.
    pub async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (k, ttl, now) = (self.key(key), ttl_ms(ttl), self.now_ms());
        let v = seal(now + ttl, value);
        match &self.backend {
            Backend::Memory(m) => Ok(m.put_if_absent(k, v, now)),
            Backend::Redis(r) => self.timed(r.put_if_absent(&k, v, ttl, now)).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.key(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.get(&k),
            Backend::Redis(r) => self.timed(r.get(&k)).await?,
        };
        Ok(raw.and_then(|raw| unseal(raw, self.now_ms())))
    }

    /// Reads several keys in one round trip; one answer per key, in order.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let ks: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let raw = match &self.backend {
            Backend::Memory(m) => ks.iter().map(|k| m.get(k)).collect(),
            Backend::Redis(r) => self.timed(r.get_many(&ks)).await?,
        };
        let now = self.now_ms();
        Ok(raw
            .into_iter()
            .map(|v: Option<Vec<u8>>| v.and_then(|raw| unseal(raw, now)))
            .collect())
    }

    /// Atomically reads and deletes `key`: of concurrent takers exactly one gets the value.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.key(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.take(&k),
            Backend::Redis(r) => self.timed(r.take(&k)).await?,
        };
        Ok(raw.and_then(|raw| unseal(raw, self.now_ms())))
    }

    /// Increments the counter at `key` and returns the new value. A counter starts at 1 with a
    /// window of `ttl`; increments inside the window do not extend it.
    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let (k, ttl, now) = (self.key(key), ttl_ms(ttl), self.now_ms());
        match &self.backend {
            Backend::Memory(m) => Ok(m.incr(k, now, ttl)),
            Backend::Redis(r) => self.timed(r.incr(&k, now, ttl)).await,
        }
    }

    /// Gives back one count reserved with [`Kv::incr`] (an attempt that turned out not to
    /// count); the count never goes below zero. A counter given back to zero is removed, window
    /// and all: a success leaves nothing behind, and the next count starts a new window (which
    /// ends later than the old one would have: never more lenient).
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        let (k, now) = (self.key(key), self.now_ms());
        match &self.backend {
            Backend::Memory(m) => {
                m.release(&k, now);
                Ok(())
            }
            Backend::Redis(r) => self.timed(r.release(&k, now)).await,
        }
    }

    /// Unless `guard` holds a live value, increments each counter of `counters` (each as
    /// [`Kv::incr`] with its window) and returns the new counts in order; `None`, counting
    /// nothing, when it does. Atomic and one round trip: a lockout check and its counts.
    pub async fn incr_unless(
        &self,
        guard: &str,
        counters: &[(&str, Duration)],
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let (g, now) = (self.key(guard), self.now_ms());
        let cs: Vec<(String, i64)> = counters
            .iter()
            .map(|(k, ttl)| (self.key(k), ttl_ms(*ttl)))
            .collect();
        match &self.backend {
            Backend::Memory(m) => Ok(m.incr_unless(&g, cs, now)),
            Backend::Redis(r) => self.timed(r.incr_unless(&g, &cs, now)).await,
        }
    }

    /// Gives back one count of each counter in `release` (as [`Kv::release`]) and deletes
    /// each key in `delete`, in one round trip.
    pub async fn release_and_delete(
        &self,
        release: &[&str],
        delete: &[&str],
    ) -> Result<(), StoreError> {
        let rs: Vec<String> = release.iter().map(|k| self.key(k)).collect();
        let ds: Vec<String> = delete.iter().map(|k| self.key(k)).collect();
        let now = self.now_ms();
        match &self.backend {
            Backend::Memory(m) => {
                m.release_and_delete(&rs, &ds, now);
                Ok(())
            }
            Backend::Redis(r) => self.timed(r.release_and_delete(&rs, &ds, now)).await,
        }
    }

    /// Stores every write gathered in `w` (as [`Kv::put`] or [`Kv::put_evictable`]), in
    /// their order, in one round trip.
    pub async fn write(&self, w: Writes) -> Result<(), StoreError> {
        if w.0.is_empty() {
            // Nothing to send (Redis refuses an empty pipeline).
            return Ok(());
        }
        let now = self.now_ms();
        let sealed = w.0.into_iter().map(|(k, v, ttl, evictable)| {
            let ttl = ttl_ms(ttl);
            (self.key(&k), seal(now + ttl, &v), ttl, evictable)
        });
        match &self.backend {
            Backend::Memory(m) => {
                for (k, v, _, evictable) in sealed {
                    m.put(k, v, now, evictable);
                }
                Ok(())
            }
            Backend::Redis(r) => {
                let sealed = sealed.map(|(k, v, ttl, _)| (k, v, ttl)).collect();
                self.timed(r.put_many(sealed)).await
            }
        }
    }

    /// Takes `take` (as [`Kv::take`]) and reads `get` (as [`Kv::get`]) in one round trip.
    pub async fn take_and_get(
        &self,
        take: &str,
        get: &str,
    ) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), StoreError> {
        let (t, g) = (self.key(take), self.key(get));
        let (taken, read) = match &self.backend {
            Backend::Memory(m) => (m.take(&t), m.get(&g)),
            Backend::Redis(r) => self.timed(r.take_and_get(&t, &g)).await?,
        };
        let now = self.now_ms();
        Ok((
            taken.and_then(|v| unseal(v, now)),
            read.and_then(|v| unseal(v, now)),
        ))
    }

    /// Takes `key` (as [`Kv::take`]) and, only if it held a live value, stores `mark` under
    /// `mark_key` for `ttl` in the same atomic step; otherwise returns what `mark_key` holds.
    /// A single-use value that leaves a trace of its use, in one round trip, with no window
    /// in which it is gone and its trace not yet there. The trace is evictable (as
    /// [`Kv::put_evictable`]): the value stays single-use whatever happens to it.
    pub async fn take_and_mark(
        &self,
        key: &str,
        mark_key: &str,
        mark: &[u8],
        ttl: Duration,
    ) -> Result<Taken, StoreError> {
        let (k, mk, now, ttl) = (
            self.key(key),
            self.key(mark_key),
            self.now_ms(),
            ttl_ms(ttl),
        );
        let sealed = seal(now + ttl, mark);
        let (taken, marked) = match &self.backend {
            Backend::Memory(m) => m.take_and_mark(&k, mk, sealed, now),
            Backend::Redis(r) => {
                self.timed(r.take_and_mark(&k, &mk, sealed, ttl, now))
                    .await?
            }
        };
        Ok(match taken.and_then(|v| unseal(v, now)) {
            Some(v) => Taken::Value(v),
            None => Taken::Gone(marked.and_then(|v| unseal(v, now))),
        })
    }

    /// The live value of a counter (0 when absent or expired).
    pub async fn count(&self, key: &str) -> Result<i64, StoreError> {
        let (k, now) = (self.key(key), self.now_ms());
        match &self.backend {
            Backend::Memory(m) => Ok(m.count(&k, now)),
            Backend::Redis(r) => self.timed(r.count(&k, now)).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let k = self.key(key);
        match &self.backend {
            Backend::Memory(m) => {
                m.delete(&k);
                Ok(())
            }
            Backend::Redis(r) => self.timed(r.delete(&k)).await,
        }
    }

    /// Is the store answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(r) => self.timed(r.ping()).await,
        }
    }

    pub fn is_memory(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrip_and_expiry() {
        let v = seal(1_000, b"abc");
        assert_eq!(unseal(v.clone(), 999), Some(b"abc".to_vec()));
        assert_eq!(unseal(v, 1_000), None);
        assert_eq!(unseal(b"garbage".to_vec(), 0), None);
    }
}
