//! Prometheus metrics: one registry per application (no globals, so tests each see their own),
//! typed handles for what the server counts, and the text exposition of `/metrics` (served on
//! its own listen address, `metrics_bind`, not the public one).

use std::time::Duration;

use crate::clock::Observer;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from a cache hit to a slow password hash.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What a sign-in attempt came to.
#[derive(Debug, Clone, Copy)]
pub enum SignIn {
    Success,
    WrongPassword,
    Locked,
    /// The password was right; a second factor is asked for.
    MfaRequired,
    MfaFailed,
    /// Refused unchecked (503) because every hashing worker was busy; the form comes back.
    Shed,
}

impl SignIn {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::WrongPassword => "wrong_password",
            Self::Locked => "locked",
            Self::MfaRequired => "mfa_required",
            Self::MfaFailed => "mfa_failed",
            Self::Shed => "shed",
        }
    }
}

/// The hashing workers as they are when metrics are rendered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Hashing {
    pub queued: usize,
    pub running: usize,
    pub memory_bytes: usize,
    /// Checks skipped because whoever asked had gone, since start.
    pub abandoned: u64,
}

/// What the pools remember (every pool together) when metrics are rendered: users, subjects
/// (users with their groups and identities) and checked access tokens.
#[derive(Debug, Default, Clone, Copy)]
pub struct Remembered {
    pub users: usize,
    pub subjects: usize,
    pub tokens: usize,
}

/// The in-process store (`redis_url = "memory://"`) as it is when metrics are rendered.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStore {
    pub bytes: usize,
    pub entries: usize,
    /// Entries dropped before their expiry to stay within `memory_store_max_mib`, since start.
    pub evicted: u64,
}

/// The hashing workers' series (set at render time from [`Hashing`]).
#[derive(Clone)]
struct HashingSeries {
    queue: IntGauge,
    running: IntGauge,
    memory: IntGauge,
    abandoned: IntCounter,
}

impl HashingSeries {
    fn new(r: &Registry) -> Self {
        Self {
            queue: gauge(
                r,
                "password_hash_queue",
                "Password checks waiting for a worker",
            ),
            running: gauge(r, "password_hash_running", "Password checks being computed"),
            memory: gauge(
                r,
                "password_hash_memory_bytes",
                "argon2 working memory the hashing workers hold (released when idle)",
            ),
            abandoned: plain_counter(
                r,
                "password_hash_abandoned_total",
                "Password checks skipped because their request was dropped (shutdown, a cancelled request) before a worker took them",
            ),
        }
    }
}

/// The in-process store's series (only ever set on `memory://`).
#[derive(Clone)]
struct MemoryStoreSeries {
    bytes: IntGauge,
    entries: IntGauge,
    evictions: IntCounter,
}

impl MemoryStoreSeries {
    fn new(r: &Registry) -> Self {
        Self {
            bytes: gauge(
                r,
                "memory_store_bytes",
                "Estimated bytes the in-process store holds (memory:// only)",
            ),
            entries: gauge(
                r,
                "memory_store_entries",
                "Entries the in-process store holds (memory:// only)",
            ),
            evictions: plain_counter(
                r,
                "memory_store_evictions_total",
                "Entries (sessions, sign-ins in progress, used-code marks, emailed codes) the in-process store dropped to stay within its budget",
            ),
        }
    }
}

/// The two well-known documents, whose series are resolved once (the hottest static paths).
#[derive(Debug, Clone, Copy)]
pub enum WellKnown {
    Discovery,
    Jwks,
}

impl WellKnown {
    const ALL: [Self; 2] = [Self::Discovery, Self::Jwks];

    /// The route label, as the route table names the resource.
    pub fn route(self) -> &'static str {
        match self {
            Self::Discovery => "/:pool_id/.well-known/openid-configuration",
            Self::Jwks => "/:pool_id/.well-known/jwks.json",
        }
    }
}

/// A well-known document's series: answered (200), not modified (304), latency.
#[derive(Clone)]
struct DocSeries {
    ok: IntCounter,
    not_modified: IntCounter,
    latency: Histogram,
}

/// The application's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_latency: HistogramVec,
    sign_ins: IntCounterVec,
    tokens: IntCounterVec,
    hashing: HashingSeries,
    hash_latency: HistogramVec,
    memory_store: MemoryStoreSeries,
    remembered: IntGaugeVec,
    store_latency: HistogramVec,
    store_errors: IntCounterVec,
    cache_refreshes: IntCounterVec,
    housekeeping_runs: IntCounter,
    housekeeping_removed: IntCounterVec,
    /// Indexed by `WellKnown as usize`.
    well_known: Vec<DocSeries>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(c.clone()));
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
    let h = HistogramVec::new(opts, labels).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(h.clone()));
    h
}

fn plain_counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(c.clone()));
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g =
        IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(g.clone()));
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(g.clone()));
    g
}

/// The names and labels below are constants that the crate accepts; this is never reached.
#[allow(clippy::panic)]
fn unreachable_metric() -> ! {
    panic!("a metric definition was refused")
}

impl Observer for Metrics {
    fn observe(&self, what: &'static str, took: Duration, failed: bool) {
        match what {
            "hash" | "verify" => self
                .hash_latency
                .with_label_values(&[what])
                .observe(took.as_secs_f64()),
            store => self.store(store, took, failed),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new_custom(Some("tessera".into()), None).unwrap_or_default();
        #[cfg(target_os = "linux")]
        {
            let _ = r.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        let http_requests = counter(
            &r,
            "http_requests_total",
            "HTTP requests by route, method and status",
            &["route", "method", "status"],
        );
        let http_latency = histogram(
            &r,
            "http_request_duration_seconds",
            "HTTP request latency by route",
            &["route"],
        );
        let well_known = WellKnown::ALL
            .iter()
            .map(|doc| DocSeries {
                ok: http_requests.with_label_values(&[doc.route(), "GET", "200"]),
                not_modified: http_requests.with_label_values(&[doc.route(), "GET", "304"]),
                latency: http_latency.with_label_values(&[doc.route()]),
            })
            .collect();
        Self {
            http_requests,
            http_latency,
            well_known,
            sign_ins: counter(
                &r,
                "sign_ins_total",
                "Password sign-in attempts by outcome",
                &["outcome"],
            ),
            tokens: counter(
                &r,
                "tokens_issued_total",
                "Token responses by grant type",
                &["grant"],
            ),
            hashing: HashingSeries::new(&r),
            memory_store: MemoryStoreSeries::new(&r),
            remembered: gauge_vec(
                &r,
                "pool_cache_entries",
                "Entries the pools remember, every pool together (users, subjects, tokens; each kind bounded)",
                &["kind"],
            ),
            hash_latency: histogram(
                &r,
                "password_hash_duration_seconds",
                "Password hash or check time, queue wait included",
                &["op"],
            ),
            store_latency: histogram(
                &r,
                "store_operation_duration_seconds",
                "KV and SQL operation latency",
                &["store"],
            ),
            store_errors: counter(
                &r,
                "store_errors_total",
                "KV and SQL operation errors",
                &["store"],
            ),
            cache_refreshes: counter(
                &r,
                "pool_cache_refreshes_total",
                "Pool cache refreshes by result",
                &["result"],
            ),
            housekeeping_runs: plain_counter(
                &r,
                "housekeeping_runs_total",
                "Housekeeping runs done",
            ),
            housekeeping_removed: counter(
                &r,
                "housekeeping_removed_total",
                "Rows removed by housekeeping, by kind",
                &["what"],
            ),
            registry: r,
        }
    }

    /// One HTTP request: `route` is the matched pattern (bounded), never the raw path.
    pub fn http(&self, route: &str, method: &str, status: u16, took: Duration) {
        let mut digits = [0u8; 3];
        let status = status_label(status, &mut digits);
        self.http_requests
            .with_label_values(&[route, method, status])
            .inc();
        self.http_latency
            .with_label_values(&[route])
            .observe(took.as_secs_f64());
    }

    /// A well-known document answered by the edge (200 or 304), on series resolved at start.
    pub fn static_doc(&self, doc: WellKnown, status: u16, took: Duration) {
        let Some(series) = self.well_known.get(doc as usize) else {
            return;
        };
        match status {
            304 => series.not_modified.inc(),
            200 => series.ok.inc(),
            other => {
                return self.http(doc.route(), "GET", other, took);
            }
        }
        series.latency.observe(took.as_secs_f64());
    }

    pub fn sign_in(&self, outcome: SignIn) {
        self.sign_ins.with_label_values(&[outcome.as_str()]).inc();
    }

    pub fn token(&self, grant: &str) {
        self.tokens.with_label_values(&[grant]).inc();
    }

    /// A KV (`kv`) or SQL (`sql`) operation and whether it failed.
    fn store(&self, store: &str, took: Duration, failed: bool) {
        self.store_latency
            .with_label_values(&[store])
            .observe(took.as_secs_f64());
        if failed {
            self.store_errors.with_label_values(&[store]).inc();
        }
    }

    /// One housekeeping run and what it removed, by kind.
    pub fn housekeeping(&self, removed: &[(&str, usize)]) {
        self.housekeeping_runs.inc();
        for (what, n) in removed {
            self.housekeeping_removed
                .with_label_values(&[what])
                .inc_by(u64::try_from(*n).unwrap_or(u64::MAX));
        }
    }

    pub fn cache_refresh(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.cache_refreshes.with_label_values(&[result]).inc();
    }

    /// The text exposition, with the hashing gauges, the in-process store and what the pools
    /// remember read now.
    pub fn render(
        &self,
        hashing: Hashing,
        store: Option<MemoryStore>,
        remembered: Remembered,
    ) -> String {
        let set = |g: &IntGauge, v: usize| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        for (kind, n) in [
            ("users", remembered.users),
            ("subjects", remembered.subjects),
            ("tokens", remembered.tokens),
        ] {
            set(&self.remembered.with_label_values(&[kind]), n);
        }
        let h = &self.hashing;
        set(&h.queue, hashing.queued);
        set(&h.running, hashing.running);
        set(&h.memory, hashing.memory_bytes);
        h.abandoned
            .inc_by(hashing.abandoned.saturating_sub(h.abandoned.get()));
        if let Some(s) = store {
            let m = &self.memory_store;
            set(&m.bytes, s.bytes);
            set(&m.entries, s.entries);
            m.evictions
                .inc_by(s.evicted.saturating_sub(m.evictions.get()));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The status code as a label without allocating (HTTP codes have three digits).
fn status_label(status: u16, buf: &mut [u8; 3]) -> &str {
    if (100..1000).contains(&status) {
        buf[0] = b'0' + (status / 100) as u8;
        buf[1] = b'0' + (status / 10 % 10) as u8;
        buf[2] = b'0' + (status % 10) as u8;
        std::str::from_utf8(buf).unwrap_or("other")
    } else {
        "other"
    }
}
