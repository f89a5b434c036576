//! The admin CLI and `serve`, run as the real binary: `--json` output parsed as a script would,
//! bad input answered with a message and a non-zero exit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{SqlBackend, backends};

pub struct Cli {
    pub db: SqlBackend,
}

impl Cli {
    pub fn new() -> Self {
        Self {
            db: SqlBackend::new(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
        for var in [
            "TESSERA_BIND",
            "TESSERA_PUBLIC_URL",
            "TESSERA_MASTER_KEY_FILE",
            "TESSERA_LOG",
            "TESSERA_LOG_FORMAT",
        ] {
            c.env_remove(var);
        }
        c.current_dir(self.db.dir.path())
            .env("DATABASE_URL", &self.db.url)
            .env("REDIS_URL", backends::redis_url())
            .env("TESSERA_DATA_DIR", self.db.dir.path().join("data"));
        c
    }

    fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.cmd();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> Value {
        self.ok_stdin(args, "")
    }

    fn ok_stdin(&self, args: &[&str], stdin: &str) -> Value {
        let out = self.run_with(args, stdin, &[]);
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run_with(args, "", env);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        err
    }
}

#[test]
fn admin_commands_with_json_output() {
    let cli = Cli::new();
    let pool = cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    let id = pool["id"].as_str().unwrap().to_string();
    assert!(tessera::ids::PoolId::is_well_formed(&id), "{id}");
    assert!(id.starts_with("local_"));
    assert_eq!(
        cli.ok(&["pool", "show", "acme", "--json"])["id"],
        id.as_str()
    );
    assert!(
        cli.ok(&["pool", "show", &id, "--json"])["issuer"]
            .as_str()
            .unwrap()
            .ends_with(&id)
    );
    assert_eq!(
        cli.ok(&["pool", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let updated = cli.ok(&[
        "pool",
        "update",
        "acme",
        "--signup",
        "admin-only",
        "--password-min-length",
        "12",
        "--password-require-digit",
        "true",
        "--json",
    ]);
    assert_eq!(updated["settings"]["admin_only_signup"], true);
    assert_eq!(updated["settings"]["password_policy"]["min_length"], 12);
    assert!(
        cli.fails(
            &["pool", "update", "acme", "--password-min-length", "3"],
            &[]
        )
        .contains("between 6 and 256")
    );
    cli.ok(&[
        "pool",
        "update",
        "acme",
        "--password-min-length",
        "8",
        "--password-require-digit",
        "false",
        "--json",
    ]);

    let created = cli.ok(&[
        "client",
        "create",
        "--pool",
        "acme",
        "--name",
        "web",
        "--redirect-uri",
        "https://app.example/cb",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--logout-uri",
        "https://app.example/bye",
        "--scope",
        "openid",
        "--scope",
        "email",
        "--json",
    ]);
    let client_id = created["client_id"].as_str().unwrap().to_string();
    assert_eq!(client_id.len(), 26);
    assert!(created["client_secret"].as_str().unwrap().len() >= 43);
    let shown = cli.ok(&["client", "show", "--pool", &id, &client_id, "--json"]);
    assert!(
        shown.get("client_secret").is_none() && shown.get("secret_hash").is_none(),
        "secrets only at creation: {shown}"
    );
    assert_eq!(shown["redirect_uris"].as_array().unwrap().len(), 2);
    let public = cli.ok(&[
        "client",
        "create",
        "--pool",
        "acme",
        "--name",
        "spa",
        "--public",
        "--redirect-uri",
        "https://spa.example/cb",
        "--json",
    ]);
    assert!(public.get("client_secret").is_none());
    assert_eq!(
        cli.ok(&["client", "list", "--pool", "acme", "--json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    cli.ok(&["client", "delete", "--pool", "acme", &client_id, "--json"]);
    assert_eq!(
        cli.ok(&["client", "list", "--pool", "acme", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let user = cli.ok_stdin(
        &[
            "user",
            "create",
            "--pool",
            "acme",
            "--username",
            "alice",
            "--email",
            "Alice@Example.com",
            "--password-stdin",
            "--attribute",
            "given_name=Alice",
            "--json",
        ],
        "correct horse battery\n",
    );
    assert_eq!(user["status"], "CONFIRMED");
    assert!(user.get("password_hash").is_none());
    let by_email = cli.ok(&[
        "user",
        "show",
        "--pool",
        "acme",
        "alice@example.com",
        "--json",
    ]);
    assert_eq!(by_email["sub"], user["sub"]);
    assert_eq!(by_email["attributes"]["given_name"], "Alice");
    assert_eq!(
        cli.ok(&["user", "disable", "--pool", "acme", "ALICE", "--json"])["enabled"],
        false
    );
    assert_eq!(
        cli.ok(&["user", "enable", "--pool", "acme", "alice", "--json"])["enabled"],
        true
    );
    assert_eq!(
        cli.ok(&["user", "consents", "--pool", "acme", "alice", "--json"]),
        serde_json::json!([])
    );
    let e = cli.fails(
        &[
            "user", "consents", "--pool", "acme", "alice", "--revoke", "x",
        ],
        &[],
    );
    assert!(e.contains("has not allowed x"), "{e}");
    let temp = cli.ok(&[
        "user",
        "set-password",
        "--pool",
        "acme",
        "alice",
        "--password",
        "another long one",
        "--temporary",
        "--json",
    ]);
    assert_eq!(temp["status"], "FORCE_CHANGE_PASSWORD");
    assert_eq!(
        cli.ok(&["user", "list", "--pool", "acme", "--json"])["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let rotated = cli.ok(&["keys", "rotate", "--pool", "acme", "--json"]);
    assert_eq!(rotated["status"], "pending");
    let listed = cli.ok(&["keys", "list", "--pool", "acme", "--json"]);
    let statuses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "pending"]);
    let active = listed[0]["kid"].as_str().unwrap();
    let revoked = cli.ok(&["keys", "revoke", "--pool", "acme", active, "--json"]);
    assert_eq!(revoked["kid"], active);
    assert_eq!(revoked["replaced_by"]["status"], "active");
    let listed = cli.ok(&["keys", "list", "--pool", "acme", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != active)
    );

    cli.ok(&[
        "group",
        "create",
        "--pool",
        "acme",
        "--name",
        "admins",
        "--precedence",
        "1",
        "--role-arn",
        "arn:aws:iam::123456789012:role/admins",
        "--json",
    ]);
    cli.ok(&[
        "group", "add-user", "--pool", "acme", "admins", "alice", "--json",
    ]);
    let listed = cli.ok(&["group", "list", "--pool", "acme", "--json"]);
    assert_eq!(listed[0]["name"], "admins");
    assert_eq!(
        listed[0]["role_arn"],
        "arn:aws:iam::123456789012:role/admins"
    );
    cli.ok(&[
        "group",
        "remove-user",
        "--pool",
        "acme",
        "admins",
        "alice",
        "--json",
    ]);
    cli.ok(&["group", "delete", "--pool", "acme", "admins", "--json"]);
    let events = cli.ok(&["events", "--pool", "acme", "--user", "alice", "--json"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"user_created")
            && kinds.contains(&"disabled")
            && kinds.contains(&"password_set"),
        "{kinds:?}"
    );

    cli.ok(&["user", "delete", "--pool", "acme", "alice", "--json"]);
    assert!(
        cli.fails(&["user", "show", "--pool", "acme", "alice"], &[])
            .contains("no user")
    );
}

#[test]
fn bad_input_gets_a_message_and_non_zero_exit() {
    let cli = Cli::new();
    cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    let cases: &[(&[&str], &str)] = &[
        (&["pool", "show", "nope"], "no pool"),
        (&["pool", "create", "--name", "acme"], "already exists"),
        (
            &["pool", "create", "--name", "bad/name"],
            "invalid pool name",
        ),
        (
            &[
                "client",
                "create",
                "--pool",
                "nope",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
            ],
            "no pool",
        ),
        (
            &[
                "client",
                "create",
                "--pool",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "http://a.example/cb",
            ],
            "loopback",
        ),
        (
            &[
                "client",
                "create",
                "--pool",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "not a url",
            ],
            "not an absolute URL",
        ),
        (
            &[
                "client",
                "create",
                "--pool",
                "acme",
                "--name",
                "x",
                "--public",
                "--grant",
                "client_credentials",
            ],
            "public client",
        ),
        (
            &["client", "create", "--pool", "acme", "--name", "x"],
            "redirect-uri",
        ),
        (&["client", "show", "--pool", "acme", "nope"], "no client"),
        (
            &[
                "client",
                "create",
                "--pool",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
                "--access-token-ttl",
                "5",
            ],
            "between 300 and 86400",
        ),
        (
            &[
                "client",
                "create",
                "--pool",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
                "--public",
                "--pkce-optional",
            ],
            "must use PKCE",
        ),
        (
            &[
                "user",
                "create",
                "--pool",
                "acme",
                "--username",
                "bob",
                "--password",
                "short",
            ],
            "policy",
        ),
        (
            &[
                "user",
                "create",
                "--pool",
                "acme",
                "--username",
                "bob",
                "--email",
                "nope",
                "--password",
                "long enough pw",
            ],
            "email",
        ),
        (
            &[
                "user",
                "create",
                "--pool",
                "acme",
                "--username",
                "bob",
                "--password",
                "long enough pw",
                "--attribute",
                "x",
            ],
            "KEY=VALUE",
        ),
        (
            &[
                "user",
                "create",
                "--pool",
                "acme",
                "--username",
                "bob",
                "--password",
                "long enough pw",
                "--attribute",
                "isAdmin=1",
            ],
            "unknown attribute",
        ),
        (
            &[
                "user",
                "create",
                "--pool",
                "acme",
                "--username",
                "bob",
                "--password-stdin",
            ],
            "no password",
        ),
        (&["keys", "rotate", "--pool", "nope"], "no pool"),
        (&["keys", "revoke", "--pool", "acme", "nope"], "no key nope"),
    ];
    for (args, expected) in cases {
        let err = cli.fails(args, &[]);
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err:?}"
        );
    }
    cli.ok_stdin(
        &[
            "user",
            "create",
            "--pool",
            "acme",
            "--username",
            "bob",
            "--password-stdin",
            "--json",
        ],
        "long enough pw\n",
    );
    let dup = cli.fails(
        &[
            "user",
            "create",
            "--pool",
            "acme",
            "--username",
            "BOB",
            "--password",
            "long enough pw",
        ],
        &[],
    );
    assert!(dup.contains("already exists"), "{dup}");
    // clap rejects malformed invocations with its usage error (exit 2).
    let out = cli.run_with(&["user", "create", "--pool", "acme"], "", &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli.run_with(
        &[
            "client", "create", "--pool", "acme", "--name", "x", "--grant", "implicit",
        ],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_configuration_is_explained() {
    let cli = Cli::new();
    let e = cli.fails(&["pool", "list"], &[("TESSERA_BIND", "nonsense")]);
    assert!(e.contains("bind"), "{e}");
    let e = cli.fails(
        &["pool", "list"],
        &[("DATABASE_URL", "mysql://u:hunter2@h/db")],
    );
    assert!(e.contains("database_url") && !e.contains("hunter2"), "{e}");
    let e = cli.fails(
        &["pool", "list", "--config", "/nonexistent/tessera.toml"],
        &[],
    );
    assert!(e.contains("does not exist"), "{e}");
    std::fs::write(cli.db.dir.path().join("tessera.toml"), "bnid = \"x\"\n").unwrap();
    let e = cli.fails(&["pool", "list"], &[]);
    assert!(e.contains("bnid"), "{e}");
    std::fs::write(
        cli.db.dir.path().join("tessera.toml"),
        "region = \"eu-west-1\"\n",
    )
    .unwrap();
    let shown = cli.run_with(
        &["config"],
        "",
        &[("DATABASE_URL", "postgres://u:hunter2@h/db")],
    );
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("eu-west-1")
            && shown.contains("postgres://u:***@h/db")
            && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn unreachable_services_fail_fast_with_redacted_urls() {
    let cli = Cli::new();
    let e = cli.fails(
        &["pool", "list"],
        &[("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db")],
    );
    assert!(
        e.contains("postgres://u:***@127.0.0.1:1/db") && !e.contains("hunter2"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    let e = cli.fails(
        &["pool", "list"],
        &[("REDIS_URL", "redis://:hunter2@127.0.0.1:1")],
    );
    assert!(e.contains("127.0.0.1:1") && !e.contains("hunter2"), "{e}");
}

#[test]
fn master_key_problems_are_fatal_and_clear() {
    let cli = Cli::new();
    cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    let key = cli.db.dir.path().join("data/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let good = std::fs::read(&key).unwrap();
    std::fs::write(&key, "garbage").unwrap();
    assert!(cli.fails(&["pool", "list"], &[]).contains("corrupt"));
    std::fs::remove_file(&key).unwrap();
    assert!(cli.fails(&["pool", "list"], &[]).contains("missing"));
    std::fs::write(&key, base64_key()).unwrap();
    let e = cli.fails(&["keys", "list", "--pool", "acme"], &[]);
    assert!(e.contains("master key does not match"), "{e}");
    std::fs::write(&key, good).unwrap();
    cli.ok(&["keys", "list", "--pool", "acme", "--json"]);
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([9u8; 32])
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    use diesel::{Connection, RunQueryDsl};
    let cli = Cli::new();
    cli.ok(&["migrate", "--json"]);
    let sql = "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')";
    if cli.db.is_postgres() {
        let mut c = diesel::PgConnection::establish(&cli.db.url).unwrap();
        diesel::sql_query(sql).execute(&mut c).unwrap();
    } else {
        let mut c = diesel::SqliteConnection::establish(&cli.db.url).unwrap();
        diesel::sql_query(sql).execute(&mut c).unwrap();
    }
    let e = cli.fails(&["migrate"], &[]);
    assert!(e.contains("newer version"), "{e}");
}

#[test]
fn serve_starts_answers_and_shuts_down_on_sigint() {
    let cli = Cli::new();
    let mut child = cli
        .cmd()
        .args(["serve"])
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_METRICS_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut pool, mut base, mut metrics) = (None, None, None);
    while base.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve printed nothing");
        if let Some(rest) = line.strip_prefix("pool default (") {
            pool = rest.split(')').next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("metrics on ") {
            metrics = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            base = rest.split(' ').next().map(str::to_string);
        }
    }
    let (pool, base) = (pool.expect("default pool printed"), base.unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let doc: Value = rt.block_on(async {
        reqwest::get(format!("{base}/{pool}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(doc["issuer"], format!("{base}/{pool}"));
    let jwks: Value = rt.block_on(async {
        reqwest::get(format!("{base}/{pool}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    // Metrics on their own address, and not on the public one.
    let metrics = metrics.expect("the metrics address was printed");
    assert!(!metrics.starts_with(&base), "{metrics} vs {base}");
    let text = rt.block_on(async { reqwest::get(&metrics).await.unwrap().text().await.unwrap() });
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert!(scrape.samples.iter().any(|s| {
        s.metric == "tessera_http_requests_total"
            && s.labels.get("route") == Some("/:pool_id/.well-known/jwks.json")
    }));
    let public = rt.block_on(async { reqwest::get(format!("{base}/metrics")).await.unwrap() });
    assert_eq!(public.status(), 404);
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    assert!(cli.db.dir.path().join("data/master.key").exists());
}

#[test]
fn a_key_id_starting_with_a_hyphen_is_a_value_not_an_option() {
    use clap::Parser;
    let parsed =
        tessera::cli::Cli::try_parse_from(["tessera", "keys", "revoke", "--pool", "p", "-2xKIg"]);
    assert!(parsed.is_ok(), "{parsed:?}");
}
