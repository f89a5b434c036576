//! `TestApp`: an isolated app (own database or schema, own KV prefix, fake clock) served on an
//! ephemeral loopback port; and the backend selection from TEST_DATABASE_URL / TEST_REDIS_URL.

pub mod backends;
pub mod fake_idp;
pub mod fake_sts;
pub mod rp;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use chrono::{DateTime, Utc};
use tessera::clock::{Clock, FakeClock, SeededRandom, SystemClock};
use tessera::config::Config;
use tessera::store::sql::pools::Pool;
use tessera::{AppState, Deps};

pub use backends::{SqlBackend, unique_name};

/// A hosted form answered as shed (every hashing worker busy): 503 with `Retry-After`, and the
/// page says why. Its body, to send the form again from.
pub async fn shed_form(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Many people are signing in right now"),
        "{body}"
    );
    body
}

/// An app under test with its own stores, clock and HTTP address.
/// How long test clients keep an idle connection: well under the test server's keep-alive.
pub const CLIENT_IDLE: Duration = Duration::from_secs(30);

pub struct TestApp {
    pub st: AppState,
    pub clock: Arc<FakeClock>,
    pub base: String,
    pub pool: Pool,
    pub http: reqwest::Client,
    pub kv_prefix: String,
    /// Mail the app sent (an in-memory outbox).
    pub outbox: tessera::mail::Outbox,
    server: actix_web::dev::ServerHandle,
    pub sql: SqlBackend,
}

pub struct TestAppBuilder {
    config: Box<dyn FnOnce(&mut Config)>,
    /// Use the configured mailer (SMTP) instead of the in-memory outbox.
    configured_mailer: bool,
    /// Argon2 parameters (cheap by default).
    password_params: Option<argon2::Params>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            config: Box::new(|_| {}),
            configured_mailer: false,
            password_params: None,
        }
    }

    pub async fn new() -> Self {
        Self::builder().build().await
    }

    /// Runs `during` while a hash holds a hashing worker: with
    /// [`TestAppBuilder::one_slow_hashing_slot`], every password check or hash it asks for is
    /// shed (the hash is submitted before `during` starts, and lasts far longer than a request).
    pub async fn while_hashing<F: std::future::Future>(&self, during: F) -> F::Output {
        let secret = tessera::ids::Secret::new("holds the only slot");
        let hold = self.st.hasher.hash(&secret, self.st.random.as_ref());
        let (held, out) = futures_util::future::join(hold, during).await;
        held.unwrap();
        out
    }

    /// Mail sent so far, once the work queued after the answers is done.
    pub async fn mails(&self) -> Vec<tessera::mail::Sent> {
        self.st.background.idle().await;
        self.outbox.lock().unwrap().clone()
    }

    /// The last code mailed to `to` (6 digits), if any (after queued mail went out).
    pub async fn last_code(&self, to: &str) -> Option<String> {
        self.st.background.idle().await;
        let sent = self.outbox.lock().unwrap();
        let m = sent.iter().rev().find(|m| m.to == to)?;
        m.text
            .split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
    }

    /// Changes the test pool's settings and refreshes `self.pool` and the pool cache.
    pub async fn settings(&mut self, f: impl FnOnce(&mut tessera::model::PoolSettings)) {
        let mut s = self.pool.settings.clone();
        f(&mut s);
        self.pool = tessera::pools::update_settings(&self.st, &self.pool.id, s, self.now())
            .await
            .unwrap();
        self.st.pools.refresh(&self.st).await.unwrap();
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `{base}/{pool_id}`: the issuer of the test pool.
    pub fn issuer(&self) -> String {
        format!("{}/{}", self.base, self.pool.id)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The same stores behind a saturated hasher (one worker, no queue, busy with a slow hash
    /// until the returned task ends): every password check or hash it is given is shed.
    pub async fn saturated(
        &self,
    ) -> (
        AppState,
        actix_web::rt::task::JoinHandle<Result<String, tessera::crypto::password::PasswordError>>,
    ) {
        use tessera::crypto::password::PasswordHasherPool;
        let mut busy = self.st.clone();
        let slow = argon2::Params::new(16 * 1024, 2, 1, None).unwrap();
        busy.hasher = PasswordHasherPool::new(1, 0, slow);
        let hasher = busy.hasher.clone();
        let running = actix_web::rt::spawn(async move {
            let rng = SeededRandom::new(b"slow");
            hasher.hash(&tessera::ids::Secret::new("slow"), &rng).await
        });
        while busy.hasher.running() == 0 {
            actix_web::rt::task::yield_now().await;
        }
        (busy, running)
    }

    /// A second app on the same database and KV (another instance behind the load balancer).
    pub async fn sibling(&self) -> AppState {
        let (st, _) = AppState::open(
            (*self.st.config).clone(),
            deps(self.clock.clone(), &self.kv_prefix),
        )
        .await
        .unwrap();
        st
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.server.clone();
        // Stop the server without waiting for the runtime to go on running.
        drop(handle.stop(false));
    }
}

fn deps(clock: Arc<FakeClock>, prefix: &str) -> Deps {
    deps_with_mail(clock, prefix, None)
}

fn deps_with_mail(
    clock: Arc<FakeClock>,
    prefix: &str,
    mailer: Option<tessera::mail::Mailer>,
) -> Deps {
    Deps {
        mailer,
        clock,
        random: Arc::new(SeededRandom::new(unique_name("seed").as_bytes())),
        kv_prefix: prefix.to_string(),
        // Cheap argon2 for speed; production parameters are exercised by unit tests.
        password_params: argon2::Params::new(1024, 1, 1, None).unwrap(),
    }
}

impl TestAppBuilder {
    /// Adjusts the configuration before the app opens.
    pub fn config(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.config = Box::new(f);
        self
    }

    /// Hashes passwords with these argon2 parameters instead of the cheap test ones.
    pub fn password_params(mut self, params: argon2::Params) -> Self {
        self.password_params = Some(params);
        self
    }

    /// One hashing worker, no queue, and hashes slow enough (64 MiB, three passes) that a burst
    /// overlaps: whatever asks for a hash while one runs is shed. Set after `config`.
    pub fn one_slow_hashing_slot(mut self) -> Self {
        let before = self.config;
        self.config = Box::new(move |c| {
            before(c);
            c.password_hash_concurrency = 1;
            c.password_hash_queue = 0;
        });
        self.password_params(argon2::Params::new(64 * 1024, 3, 1, None).unwrap())
    }

    /// Sends mail as configured (e.g. `smtp_url`) rather than to the in-memory outbox.
    pub fn configured_mailer(mut self) -> Self {
        self.configured_mailer = true;
        self
    }

    pub async fn build(self) -> TestApp {
        let sql = SqlBackend::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = Config {
            bind: addr,
            public_url: Some(base.clone()),
            database_url: sql.url.clone(),
            redis_url: backends::redis_url(),
            data_dir: sql.dir.path().to_path_buf(),
            sql_pool_size: Some(4),
            ..Config::default()
        };
        (self.config)(&mut config);
        let clock = Arc::new(FakeClock::new(SystemClock.now()));
        let prefix = format!("{}:", unique_name("t"));
        let (mailer, outbox) =
            tessera::mail::Mailer::memory("Tessera <no-reply@tessera.test>").unwrap();
        let mailer = (!self.configured_mailer).then_some(mailer);
        let mut deps = deps_with_mail(clock.clone(), &prefix, mailer);
        if let Some(params) = self.password_params {
            deps.password_params = params;
        }
        let (st, _) = AppState::open(config, deps).await.unwrap();
        let pool = tessera::pools::create(&st, &unique_name("pool"), clock.now())
            .await
            .unwrap();
        let app_state = st.clone();
        // Test clients drop idle connections long before the server closes them (a request on
        // a connection the server is closing fails with IncompleteMessage under heavy load).
        let server = HttpServer::new(move || tessera::build_app(app_state.for_worker()))
            .keep_alive(Duration::from_secs(75))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(0)
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestApp {
            st,
            clock,
            base,
            pool,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(CLIENT_IDLE)
                .build()
                .unwrap(),
            kv_prefix: prefix,
            outbox,
            server: handle,
            sql,
        }
    }
}
