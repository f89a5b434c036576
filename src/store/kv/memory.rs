//! In-process key-value store: maps under one mutex, expiry judged by the injected clock, and a
//! memory budget kept as Redis's `maxmemory` would keep it, by dropping the oldest evictable
//! entries (SSO sessions, sign-in transactions) first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashlink::LinkedHashMap;

/// One entry: a sealed value, or a counter with its window's end.
#[derive(Debug, Clone)]
enum Entry {
    Value(Vec<u8>),
    Counter { n: i64, expires_ms: i64 },
}

/// What an entry costs beyond its key's and value's bytes: the two heap blocks' allocator
/// headers, the map's slot, the list's links and the `String`/`Vec` headers. An estimate, close
/// enough for a budget (measured against RSS in the README's benchmark).
const ENTRY_OVERHEAD: usize = 112;

/// The budget of a store made without one (`Config::memory_store_max_mib` sets the server's).
const DEFAULT_LIMIT_BYTES: usize = 4 << 20;

fn cost(key: &str, e: &Entry) -> usize {
    let value = match e {
        Entry::Value(v) => v.len(),
        Entry::Counter { .. } => 0,
    };
    key.len() + value + ENTRY_OVERHEAD
}

fn expiry_of(e: &Entry) -> i64 {
    match e {
        Entry::Value(v) => v
            .get(..16)
            .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok())
            .unwrap_or(0),
        Entry::Counter { expires_ms, .. } => *expires_ms,
    }
}

/// The entries, each key in exactly one map, and what they cost together.
#[derive(Debug, Default)]
struct Maps {
    /// Kept until they expire or are deleted (counters, revocations, codes, ...).
    kept: HashMap<String, Entry>,
    /// May go before they expire, oldest written first.
    evictable: LinkedHashMap<String, Entry>,
    bytes: usize,
    evicted: u64,
}

impl Maps {
    fn get(&self, k: &str) -> Option<&Entry> {
        self.kept.get(k).or_else(|| self.evictable.get(k))
    }

    fn remove(&mut self, k: &str) -> Option<Entry> {
        let e = self.kept.remove(k).or_else(|| self.evictable.remove(k))?;
        self.bytes = self.bytes.saturating_sub(cost(k, &e));
        Some(e)
    }

    fn insert(&mut self, k: String, e: Entry, evictable: bool) {
        self.remove(&k);
        self.bytes += cost(&k, &e);
        if evictable {
            // At the back: the newest, the last to go.
            self.evictable.insert(k, e);
        } else {
            self.kept.insert(k, e);
        }
    }

    /// Drops the oldest evictable entries, never `newest` (just written), until the entries
    /// fit in `limit` or none is left to drop.
    fn fit(&mut self, limit: usize, newest: &str) {
        while self.bytes > limit {
            match self.evictable.front() {
                Some((k, _)) if k != newest => {}
                _ => return,
            }
            if let Some((k, e)) = self.evictable.pop_front() {
                self.bytes = self.bytes.saturating_sub(cost(&k, &e));
                self.evicted += 1;
            }
        }
    }

    fn sweep(&mut self, now_ms: i64) {
        let mut freed = 0;
        let mut live = |k: &String, e: &mut Entry| {
            let keep = expiry_of(e) > now_ms;
            if !keep {
                freed += cost(k, e);
            }
            keep
        };
        self.kept.retain(|k, e| live(k, e));
        self.evictable.retain(|k, e| live(k, e));
        self.bytes = self.bytes.saturating_sub(freed);
    }
}

/// What the store holds, for the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Estimated bytes of every entry (see [`ENTRY_OVERHEAD`]).
    pub bytes: usize,
    pub entries: usize,
    /// Entries dropped before their expiry to stay within the budget, since start.
    pub evicted: u64,
}

#[derive(Debug, Clone)]
pub struct MemoryKv {
    maps: Arc<Mutex<Maps>>,
    writes: Arc<AtomicU64>,
    limit: usize,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::with_limit(DEFAULT_LIMIT_BYTES)
    }
}

impl MemoryKv {
    /// A store whose entries stay within about `limit_bytes` while evictable ones remain.
    pub fn with_limit(limit_bytes: usize) -> Self {
        Self {
            maps: Arc::default(),
            writes: Arc::default(),
            limit: limit_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // A poisoned lock only means another thread panicked mid-operation; each operation
        // leaves the maps consistent between its own steps.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn usage(&self) -> Usage {
        let maps = self.lock();
        Usage {
            bytes: maps.bytes,
            entries: maps.kept.len() + maps.evictable.len(),
            evicted: maps.evicted,
        }
    }

    /// Drops expired entries every 1024 writes, so what nobody reads again goes too.
    fn maybe_sweep(&self, maps: &mut Maps, now_ms: i64) {
        if self.writes.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            maps.sweep(now_ms);
        }
    }

    /// Stores a value; an `evictable` one may be dropped before it expires, oldest first,
    /// when the store is over its budget.
    pub fn put(&self, k: String, v: Vec<u8>, now_ms: i64, evictable: bool) {
        let mut maps = self.lock();
        self.maybe_sweep(&mut maps, now_ms);
        self.store(&mut maps, k, Entry::Value(v), evictable);
    }

    fn store(&self, maps: &mut Maps, k: String, e: Entry, evictable: bool) {
        let newest = if evictable { k.clone() } else { String::new() };
        maps.insert(k, e, evictable);
        maps.fit(self.limit, &newest);
    }

    pub fn put_if_absent(&self, k: String, v: Vec<u8>, now_ms: i64) -> bool {
        let mut maps = self.lock();
        self.maybe_sweep(&mut maps, now_ms);
        if maps.get(&k).is_some_and(|e| expiry_of(e) > now_ms) {
            return false;
        }
        self.store(&mut maps, k, Entry::Value(v), false);
        true
    }

    pub fn get(&self, k: &str) -> Option<Vec<u8>> {
        match self.lock().get(k) {
            Some(Entry::Value(v)) => Some(v.clone()),
            _ => None,
        }
    }

    pub fn take(&self, k: &str) -> Option<Vec<u8>> {
        let mut maps = self.lock();
        match maps.get(k) {
            Some(Entry::Value(_)) => match maps.remove(k) {
                Some(Entry::Value(v)) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn incr(&self, k: String, now_ms: i64, ttl_ms: i64) -> i64 {
        let mut maps = self.lock();
        self.maybe_sweep(&mut maps, now_ms);
        self.incr_in(&mut maps, k, now_ms, ttl_ms)
    }

    fn incr_in(&self, maps: &mut Maps, k: String, now_ms: i64, ttl_ms: i64) -> i64 {
        if let Some(Entry::Counter { n, expires_ms }) = maps.kept.get_mut(&k)
            && *expires_ms > now_ms
        {
            *n += 1;
            return *n;
        }
        let fresh = Entry::Counter {
            n: 1,
            expires_ms: now_ms + ttl_ms,
        };
        self.store(maps, k, fresh, false);
        1
    }

    pub fn release(&self, k: &str, now_ms: i64) {
        release_in(&mut self.lock(), k, now_ms);
    }

    /// Unless `guard` holds a live value, increments each counter (as [`MemoryKv::incr`]),
    /// all under one lock.
    pub fn incr_unless(
        &self,
        guard: &str,
        counters: Vec<(String, i64)>,
        now_ms: i64,
    ) -> Option<Vec<i64>> {
        let mut maps = self.lock();
        if maps
            .get(guard)
            .is_some_and(|e| matches!(e, Entry::Value(_)) && expiry_of(e) > now_ms)
        {
            return None;
        }
        self.maybe_sweep(&mut maps, now_ms);
        Some(
            counters
                .into_iter()
                .map(|(k, ttl)| self.incr_in(&mut maps, k, now_ms, ttl))
                .collect(),
        )
    }

    pub fn release_and_delete(&self, release: &[String], delete: &[String], now_ms: i64) {
        let mut maps = self.lock();
        for k in release {
            release_in(&mut maps, k, now_ms);
        }
        for k in delete {
            maps.remove(k);
        }
    }

    /// Takes `k` if it holds a live value and then stores `mark` under `mark_key` (evictable);
    /// otherwise reads `mark_key`. One lock: atomic, as the Redis script.
    pub fn take_and_mark(
        &self,
        k: &str,
        mark_key: String,
        mark: Vec<u8>,
        now_ms: i64,
    ) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let mut maps = self.lock();
        let live = matches!(maps.get(k), Some(e @ Entry::Value(_)) if expiry_of(e) > now_ms);
        if live && let Some(Entry::Value(v)) = maps.remove(k) {
            self.maybe_sweep(&mut maps, now_ms);
            self.store(&mut maps, mark_key, Entry::Value(mark), true);
            return (Some(v), None);
        }
        match maps.get(&mark_key) {
            Some(Entry::Value(v)) => (None, Some(v.clone())),
            _ => (None, None),
        }
    }

    pub fn count(&self, k: &str, now_ms: i64) -> i64 {
        match self.lock().get(k) {
            Some(Entry::Counter { n, expires_ms }) if *expires_ms > now_ms => *n,
            _ => 0,
        }
    }

    pub fn delete(&self, k: &str) {
        self.lock().remove(k);
    }
}

fn release_in(maps: &mut Maps, k: &str, now_ms: i64) {
    if let Some(Entry::Counter { n, expires_ms }) = maps.kept.get_mut(k)
        && *expires_ms > now_ms
        && *n > 0
    {
        *n -= 1;
        if *n == 0 {
            maps.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(expires_ms: i64, body: &str) -> Vec<u8> {
        format!("{expires_ms:016}{body}").into_bytes()
    }

    #[test]
    fn over_budget_the_oldest_evictable_entries_go_and_kept_ones_stay() {
        let entry = cost("s0", &Entry::Value(sealed(9, "x")));
        let kv = MemoryKv::with_limit(entry * 3 + entry / 2);
        kv.incr("counter".into(), 0, 1_000);
        for i in 0..4 {
            kv.put(format!("s{i}"), sealed(1_000, "x"), 0, true);
        }
        // Room for three: the counter and the two newest sessions.
        assert_eq!(kv.count("counter", 1), 1);
        assert_eq!(kv.get("s0"), None);
        assert_eq!(kv.get("s1"), None);
        assert!(kv.get("s2").is_some() && kv.get("s3").is_some());
        let usage = kv.usage();
        assert_eq!((usage.entries, usage.evicted), (3, 2));
        assert!(usage.bytes <= entry * 3 + entry / 2, "{usage:?}");
        // A kept write makes room by evicting too; a re-written entry counts once.
        kv.put("s3".into(), sealed(1_000, "y"), 0, true);
        kv.put("code".into(), sealed(1_000, "c"), 0, false);
        assert_eq!(kv.get("s2"), None);
        assert_eq!(kv.get("s3"), Some(sealed(1_000, "y")));
        assert!(kv.get("code").is_some());
    }

    #[test]
    fn the_entry_just_written_is_never_the_one_evicted() {
        let kv = MemoryKv::with_limit(1);
        kv.put("kept".into(), sealed(1_000, "k"), 0, false);
        kv.put("a".into(), sealed(1_000, "a"), 0, true);
        assert!(kv.get("a").is_some(), "a sign-in must get its session");
        kv.put("b".into(), sealed(1_000, "b"), 0, true);
        assert_eq!(kv.get("a"), None);
        assert!(kv.get("b").is_some() && kv.get("kept").is_some());
    }

    #[test]
    fn a_value_taken_stays_taken_when_its_mark_is_evicted() {
        let kv = MemoryKv::with_limit(1);
        kv.put("code".into(), sealed(1_000, "c"), 0, false);
        let mark = || sealed(1_000, "m");
        assert_eq!(
            kv.take_and_mark("code", "used".into(), mark(), 0),
            (Some(sealed(1_000, "c")), None)
        );
        assert_eq!(kv.get("used"), Some(mark()));
        kv.put("session".into(), sealed(1_000, "s"), 0, true);
        assert_eq!(kv.get("used"), None, "the mark went first");
        assert_eq!(
            kv.take_and_mark("code", "used".into(), mark(), 0),
            (None, None)
        );
    }

    #[test]
    fn accounting_follows_deletes_takes_and_sweeps() {
        let kv = MemoryKv::with_limit(usize::MAX);
        kv.put("a".into(), sealed(10, "aaaa"), 0, true);
        kv.put("b".into(), sealed(10, "bb"), 0, false);
        kv.incr("c".into(), 0, 10);
        assert_eq!(kv.take("a"), Some(sealed(10, "aaaa")));
        kv.delete("b");
        // A counter is not a value: take leaves it.
        assert_eq!(kv.take("c"), None);
        assert_eq!(kv.usage().entries, 1);
        // Writes so far: three. The 1024th sweeps what expired before it is stored.
        for i in 0..1020 {
            kv.put(format!("late{i}"), sealed(5, ""), 0, true);
        }
        assert_eq!(kv.usage().entries, 1021);
        kv.put("last".into(), sealed(1_000, ""), 20, true);
        let usage = kv.usage();
        assert_eq!(usage.entries, 1, "{usage:?}");
        assert_eq!(usage.bytes, cost("last", &Entry::Value(sealed(1_000, ""))));
    }
}
