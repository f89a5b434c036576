//! Admin CLI commands for users and pool settings, run as the real binary: attributes, resets,
//! confirmation, MFA reset, and the same commands against a running test app's database.

use std::process::Command;

use serde_json::Value;

use crate::cli::Cli;
use crate::support::backends;

#[test]
fn user_confirm_reset_password_and_set_attribute() {
    let cli = Cli::new();
    cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    let updated = cli.ok(&[
        "pool",
        "update",
        "acme",
        "--custom-attribute",
        "team:string:1:8",
        "--custom-attribute",
        "level:number:0:9",
        "--required-attributes",
        "given_name,custom:team",
        "--sign-in-identifier",
        "username",
        "--mfa",
        "optional",
        "--json",
    ]);
    let s = &updated["settings"];
    assert_eq!(s["sign_in_identifier"], "username");
    assert_eq!(s["mfa"], "OPTIONAL");
    assert_eq!(s["custom_attributes"].as_array().unwrap().len(), 2);
    assert_eq!(s["required_attributes"][1], "custom:team");
    for (args, expected) in [
        (
            vec!["--custom-attribute", "x:date"],
            "not string, number or boolean",
        ),
        (
            vec!["--custom-attribute", "bad name:string"],
            "letters, digits",
        ),
        (
            vec!["--required-attributes", "custom:nope"],
            "not a standard attribute",
        ),
    ] {
        let mut full = vec!["pool", "update", "acme"];
        full.extend(args);
        let err = cli.fails(&full, &[]);
        assert!(err.contains(expected), "{err}");
    }

    let user = |extra: &[&str]| {
        let mut args = vec![
            "user",
            "create",
            "--pool",
            "acme",
            "--username",
            "carol",
            "--email",
            "carol@example.com",
            "--password",
            "long enough pw",
            "--json",
        ];
        args.extend(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let bad = user(&["--attribute", "custom:level=10"]);
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    assert!(cli.fails(&bad, &[]).contains("between 0 and 9"));
    let good = user(&["--attribute", "custom:level=3"]);
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    cli.ok(&good);

    let set = cli.ok(&[
        "user",
        "set-attribute",
        "--pool",
        "acme",
        "carol",
        "given_name=Carol",
        "custom:level=",
        "email=carol@new.example",
        "--json",
    ]);
    assert_eq!(set["attributes"]["given_name"], "Carol");
    assert!(set["attributes"].get("custom:level").is_none(), "removed");
    assert_eq!(set["email"], "carol@new.example");
    assert_eq!(set["email_verified"], true);
    assert!(
        cli.fails(
            &[
                "user",
                "set-attribute",
                "--pool",
                "acme",
                "carol",
                "website=ftp://x"
            ],
            &[]
        )
        .contains("http(s) URL")
    );

    // reset-password mails a code (to the data dir's outbox here) and requires a reset.
    let reset = cli.ok(&[
        "user",
        "reset-password",
        "--pool",
        "acme",
        "carol",
        "--json",
    ]);
    assert_eq!(reset["status"], "RESET_REQUIRED");
    let outbox = cli.db.dir.path().join("data").join("outbox");
    let mails: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(mails.len(), 1, "one message in {outbox:?}");
    let temp = cli.ok(&[
        "user",
        "reset-password",
        "--pool",
        "acme",
        "carol",
        "--temporary-password",
        "temporary pw 1",
        "--json",
    ]);
    assert_eq!(temp["status"], "FORCE_CHANGE_PASSWORD");
    assert!(
        cli.fails(&["user", "confirm", "--pool", "acme", "nobody"], &[])
            .contains("no user")
    );
    assert!(
        cli.fails(&["user", "confirm", "--pool", "acme", "carol"], &[])
            .contains("only UNCONFIRMED")
    );
    let events = cli.ok(&["events", "--pool", "acme", "--user", "carol", "--json"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"attributes_changed") && kinds.contains(&"email_changed"));
}

/// Runs the CLI on a [`TestApp`]'s database and master key; returns its JSON output.
pub fn on_app(app: &crate::support::TestApp, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .arg("--json")
        .env_remove("TESSERA_MASTER_KEY_FILE")
        .env("DATABASE_URL", &app.sql.url)
        .env("REDIS_URL", backends::redis_url())
        .env("TESSERA_DATA_DIR", app.sql.dir.path())
        .current_dir(app.sql.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn output_into_a_closed_pipe_is_not_a_crash() {
    let cli = Cli::new();
    cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    let mut child = cli
        .cmd()
        .args(["pool", "show", "acme", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command writes (as `| head -0` would).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}
