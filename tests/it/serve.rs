//! `tessera serve` as a process: what only the real server wiring shows (the connection bound).

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
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve printed nothing");
        if let Some(rest) = line.strip_prefix("listening on http://") {
            let addr = rest.split(' ').next().unwrap().to_string();
            return (child, addr);
        }
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
