//! `tessera serve` as a process: what only the real server wiring shows (the connection bound,
//! requests dropped when their client goes away).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::cli::Cli;

/// A running server, stopped when dropped (a failing test leaves no process behind).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tessera serve` with `env`; the server and its address (`host:port`).
fn serve(cli: &Cli, env: &[(&str, &str)]) -> (Server, String) {
    let (server, addr, _) = serve_printing(cli, env);
    (server, addr)
}

/// [`serve`], with the lines it printed before it listened.
fn serve_printing(cli: &Cli, env: &[(&str, &str)]) -> (Server, String, Vec<String>) {
    let mut child = Server(
        cli.cmd()
            .args(["serve"])
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_METRICS_BIND", "off")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve printed nothing");
        if let Some(rest) = line.strip_prefix("listening on http://") {
            let addr = rest.split(' ').next().unwrap().to_string();
            return (child, addr, printed);
        }
        printed.push(line);
    }
}

/// Sends a kept-alive `GET /healthz` on `conn`.
fn ask(conn: &mut TcpStream) {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
}

#[test]
fn connections_past_max_connections_wait_until_one_closes() {
    let cli = Cli::new();
    // One per request worker (one worker per core the server may run on, as this test).
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let (_server, addr) = serve(&cli, &[("TESSERA_MAX_CONNECTIONS", "1")]);
    // The connections served: each has its answer and stays open (keep-alive).
    let mut buf = [0u8; 12];
    let mut served: Vec<TcpStream> = (0..workers)
        .map(|_| {
            let mut conn = TcpStream::connect(&addr).unwrap();
            ask(&mut conn);
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"HTTP/1.1 200");
            conn
        })
        .collect();
    // One more is accepted by the kernel but not served while those are open.
    let mut waiting = TcpStream::connect(&addr).unwrap();
    ask(&mut waiting);
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let held = waiting.read(&mut buf);
    assert!(
        held.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "answered past the bound: {held:?}"
    );
    // Once one closes, it is served.
    served.pop();
    waiting
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    waiting.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

/// One series of the server's metrics, summed over its labels (0 when absent).
fn metric(rt: &tokio::runtime::Runtime, url: &str, name: &str) -> f64 {
    let text = rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() });
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// A request whose client closed its connection is dropped, and the password check it queued
/// is skipped: a burst that gave up (or a flood that never reads its answers) costs no hashing.
#[test]
fn a_sign_in_whose_client_went_away_is_not_checked() {
    let cli = Cli::new();
    cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    let client = cli.ok(&[
        "client",
        "create",
        "--pool",
        "acme",
        "--name",
        "app",
        "--public",
        "--redirect-uri",
        "https://app.example/cb",
        "--auth-flow",
        "ALLOW_USER_PASSWORD_AUTH",
        "--json",
    ]);
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let wait = ("TESSERA_PASSWORD_HASH_MAX_WAIT_MS", "600000");
    let (_server, addr, printed) =
        serve_printing(&cli, &[("TESSERA_METRICS_BIND", "127.0.0.1:0"), wait]);
    let metrics = printed
        .iter()
        .find_map(|l| l.strip_prefix("metrics on "))
        .expect("the metrics address was printed")
        .trim()
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sample = |name: &str| metric(&rt, &metrics, name);
    let sign_in = |i: usize| {
        let body = serde_json::json!({
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": client_id,
            "AuthParameters": {"USERNAME": format!("nobody{i}"), "PASSWORD": "not it"},
        })
        .to_string();
        let mut conn = TcpStream::connect(&addr).unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(body.as_bytes()).unwrap();
        conn
    };
    const SENT: usize = 40;
    let conns: Vec<TcpStream> = (0..SENT).map(sign_in).collect();
    // Their checks are queued behind the workers; then every client goes away.
    while sample("tessera_password_hash_queue") < 4.0 {
        assert!(
            sample("tessera_password_hash_duration_seconds_count") < SENT as f64,
            "every check ran before any was queued: the test cannot tell"
        );
    }
    drop(conns);
    while sample("tessera_password_hash_queue") > 0.0
        || sample("tessera_password_hash_running") > 0.0
    {
        std::thread::yield_now();
    }
    let skipped = sample("tessera_password_hash_abandoned_total");
    let checked = sample("tessera_password_hash_duration_seconds_count");
    assert!(skipped >= 1.0, "none skipped ({checked} checked)");
    // One more hash than requests at most: the dummy hash unknown users are checked against
    // is made once, at the first check.
    assert!(
        checked + skipped <= SENT as f64 + 1.0,
        "{checked} + {skipped}"
    );
}

/// Under `thread_scheduling = "batch"` (the default), every thread the server starts runs
/// under `SCHED_BATCH` (its wake-ups wait for the running hash's slice) except the argon2
/// workers: also the threads started while the stores open (the main runtime's blocking
/// threads, which run background SQL, and the connection pool's helpers), which once kept
/// the OS default and cut into every other hash.
#[cfg(target_os = "linux")]
#[test]
fn only_the_hashing_workers_keep_the_default_scheduling_policy() {
    let cli = Cli::new();
    let (server, addr) = serve(&cli, &[]);
    // Answered: the request workers are running too.
    let mut conn = TcpStream::connect(&addr).unwrap();
    ask(&mut conn);
    let mut buf = [0u8; 12];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let pid = server.0.id();
    let mut seen = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap();
        let tid: libc::pid_t = task.file_name().to_str().unwrap().parse().unwrap();
        // A thread may exit meanwhile (an idle blocking thread): then it is not looked at.
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        // SAFETY: only reads the policy of a thread of our child (-1 once it has exited).
        let policy = unsafe { libc::sched_getscheduler(tid) };
        if policy >= 0 {
            seen.push((comm.trim().to_string(), policy));
        }
    }
    // Started before `serve` runs (the log writer, when logging starts): not the server's.
    seen.retain(|(comm, _)| !comm.starts_with("tracing-append"));
    let hashing: Vec<_> = seen
        .iter()
        .filter(|(c, _)| c.starts_with("argon2-"))
        .collect();
    assert!(!hashing.is_empty(), "no argon2 worker among {seen:?}");
    for (comm, policy) in &seen {
        let want = if comm.starts_with("argon2-") {
            libc::SCHED_OTHER
        } else {
            libc::SCHED_BATCH
        };
        assert_eq!(*policy, want, "{comm}: {seen:?}");
    }
    for started in ["r2d2", "actix-rt", "tokio-rt"] {
        assert!(
            seen.iter().any(|(c, _)| c.starts_with(started)),
            "no {started} thread among {seen:?}"
        );
    }
}
