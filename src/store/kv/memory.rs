//! In-process key-value store: a mutex-guarded map with expiry judged by the injected clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One entry: a sealed value, or a counter with its window's end.
#[derive(Debug, Clone)]
enum Entry {
    Value(Vec<u8>),
    Counter { n: i64, expires_ms: i64 },
}

#[derive(Debug, Default, Clone)]
pub struct MemoryKv {
    map: Arc<Mutex<HashMap<String, Entry>>>,
    writes: Arc<AtomicU64>,
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

impl MemoryKv {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock only means another thread panicked mid-operation; each operation is a
        // single map call, so the map itself is consistent.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops expired entries every 1024 writes so the map cannot grow without bound.
    fn maybe_sweep(&self, map: &mut HashMap<String, Entry>, now_ms: i64) {
        if self.writes.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            map.retain(|_, e| expiry_of(e) > now_ms);
        }
    }

    pub fn put(&self, k: String, v: Vec<u8>, now_ms: i64) {
        let mut map = self.lock();
        self.maybe_sweep(&mut map, now_ms);
        map.insert(k, Entry::Value(v));
    }

    pub fn put_if_absent(&self, k: String, v: Vec<u8>, now_ms: i64) -> bool {
        let mut map = self.lock();
        self.maybe_sweep(&mut map, now_ms);
        if map.get(&k).is_some_and(|e| expiry_of(e) > now_ms) {
            return false;
        }
        map.insert(k, Entry::Value(v));
        true
    }

    pub fn get(&self, k: &str) -> Option<Vec<u8>> {
        match self.lock().get(k) {
            Some(Entry::Value(v)) => Some(v.clone()),
            _ => None,
        }
    }

    pub fn take(&self, k: &str) -> Option<Vec<u8>> {
        let mut map = self.lock();
        match map.remove(k) {
            Some(Entry::Value(v)) => Some(v),
            Some(other) => {
                map.insert(k.to_string(), other);
                None
            }
            None => None,
        }
    }

    pub fn incr(&self, k: String, now_ms: i64, ttl_ms: i64) -> i64 {
        let mut map = self.lock();
        self.maybe_sweep(&mut map, now_ms);
        incr_in(&mut map, k, now_ms, ttl_ms)
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
        let mut map = self.lock();
        if map
            .get(guard)
            .is_some_and(|e| matches!(e, Entry::Value(_)) && expiry_of(e) > now_ms)
        {
            return None;
        }
        self.maybe_sweep(&mut map, now_ms);
        Some(
            counters
                .into_iter()
                .map(|(k, ttl)| incr_in(&mut map, k, now_ms, ttl))
                .collect(),
        )
    }

    pub fn release_and_delete(&self, release: &[String], delete: &[String], now_ms: i64) {
        let mut map = self.lock();
        for k in release {
            release_in(&mut map, k, now_ms);
        }
        for k in delete {
            map.remove(k);
        }
    }

    /// Takes `k` if it holds a live value and then stores `mark` under `mark_key`; otherwise
    /// reads `mark_key`. One lock: atomic, as the Redis script.
    pub fn take_and_mark(
        &self,
        k: &str,
        mark_key: String,
        mark: Vec<u8>,
        now_ms: i64,
    ) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let mut map = self.lock();
        let live = matches!(map.get(k), Some(e @ Entry::Value(_)) if expiry_of(e) > now_ms);
        if live && let Some(Entry::Value(v)) = map.remove(k) {
            self.maybe_sweep(&mut map, now_ms);
            map.insert(mark_key, Entry::Value(mark));
            return (Some(v), None);
        }
        match map.get(&mark_key) {
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

fn incr_in(map: &mut HashMap<String, Entry>, k: String, now_ms: i64, ttl_ms: i64) -> i64 {
    let entry = map.entry(k).or_insert(Entry::Counter {
        n: 0,
        expires_ms: 0,
    });
    match entry {
        Entry::Counter { n, expires_ms } if *expires_ms > now_ms => {
            *n += 1;
            *n
        }
        _ => {
            *entry = Entry::Counter {
                n: 1,
                expires_ms: now_ms + ttl_ms,
            };
            1
        }
    }
}

fn release_in(map: &mut HashMap<String, Entry>, k: &str, now_ms: i64) {
    if let Some(Entry::Counter { n, expires_ms }) = map.get_mut(k)
        && *expires_ms > now_ms
        && *n > 0
    {
        *n -= 1;
    }
}
