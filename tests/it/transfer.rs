//! `user import` / `user export`: every accepted hash scheme signs in and is upgraded to
//! argon2id, bad lines are named and nothing is half-imported, a second run adds nothing,
//! export then import keeps users (and, extended, their subs and passwords), and `user list`
//! pages by cursor.

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use tessera::accounts;
use tessera::accounts::transfer::{self, TransferError};
use tessera::ids::Secret;
use tessera::model::UserStatus;

use crate::cli::Cli;
use crate::support::TestApp;
use crate::support::rp::spec;

const HEADER: &str = "cognito:username,email,email_verified,given_name,cognito:mfa_enabled,\
phone_number,phone_number_verified,tessera:password_hash";

/// Hashes of `password` in each scheme the import accepts, as other systems write them.
fn foreign_hashes(password: &str) -> Vec<(&'static str, String)> {
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let pw = password.as_bytes();
    let argon2id = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(2048, 1, 1, None).unwrap(),
    )
    .hash_password(pw, &salt)
    .unwrap()
    .to_string();
    let bcrypt = bcrypt::hash(password, 4).unwrap();
    let pbkdf2 = pbkdf2::Pbkdf2
        .hash_password_customized(
            pw,
            None,
            None,
            pbkdf2::Params {
                rounds: 1000,
                output_length: 32,
            },
            &salt,
        )
        .unwrap()
        .to_string();
    let mut dk = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, b"djangosalt", 1000, &mut dk);
    let django = format!(
        "pbkdf2_sha256$1000$djangosalt${}",
        base64::engine::general_purpose::STANDARD.encode(dk)
    );
    let scrypt = scrypt::Scrypt
        .hash_password_customized(
            pw,
            None,
            None,
            scrypt::Params::new(10, 8, 1, 32).unwrap(),
            &salt,
        )
        .unwrap()
        .to_string();
    vec![
        ("argon2id", argon2id),
        ("bcrypt", bcrypt),
        ("pbkdf2", pbkdf2),
        ("django", django),
        ("scrypt", scrypt),
    ]
}

async fn run_import(app: &TestApp, csv: &str) -> Result<transfer::Imported, TransferError> {
    let now = app.now();
    let plan = transfer::check(&app.st, &app.pool, csv.as_bytes(), &mut |_| {}, now).await?;
    transfer::import(&app.st, &app.pool, &plan, csv.as_bytes(), &mut |_| {}, now).await
}

#[actix_web::test]
async fn every_hash_scheme_signs_in_and_is_upgraded_to_argon2id() {
    let app = TestApp::new().await;
    let password = "imported password 1";
    let mut csv = format!("{HEADER}\n");
    for (name, hash) in foreign_hashes(password) {
        csv.push_str(&format!(
            "{name},{name}@example.com,TRUE,{name},FALSE,,,\"{hash}\"\n"
        ));
    }
    csv.push_str("nohash,nohash@example.com,TRUE,,FALSE,+14325551212,TRUE,\n");
    let done = run_import(&app, &csv).await.unwrap();
    assert_eq!((done.added, done.skipped), (6, 0));

    let client = app.oidc_client(spec("web")).await;
    for (name, _) in foreign_hashes(password) {
        let before = accounts::find(&app.st, &app.pool.id, name).await.unwrap();
        assert_eq!(before.status, UserStatus::Confirmed, "{name}");
        assert!(
            app.st
                .hasher
                .needs_rehash(before.password_hash.as_deref().unwrap())
        );
        let wrong = app
            .sign_in(&app.browser(), &client.start().url, name, "not it at all")
            .await;
        assert!(wrong.param("code").is_none(), "{name}: {wrong:?}");
        let s = client.start();
        let code = app
            .sign_in(&app.browser(), &s.url, name, password)
            .await
            .code();
        client.exchange(&code, s.verifier).await.unwrap();
        let after = accounts::find(&app.st, &app.pool.id, name).await.unwrap();
        let upgraded = after.password_hash.unwrap();
        assert!(upgraded.starts_with("$argon2id$"), "{name}: {upgraded}");
        assert!(!app.st.hasher.needs_rehash(&upgraded), "{name}");
        // And the upgraded hash still signs in.
        let s = client.start();
        app.sign_in(&app.browser(), &s.url, name, password)
            .await
            .code();
    }
    // Without a hash: RESET_REQUIRED, as Cognito imports everyone; no password signs in.
    let nohash = accounts::find(&app.st, &app.pool.id, "nohash")
        .await
        .unwrap();
    assert_eq!(nohash.status, UserStatus::ResetRequired);
    assert!(nohash.password_hash.is_none());
    assert_eq!(nohash.phone_number.as_deref(), Some("+14325551212"));
    assert!(nohash.phone_number_verified);
    let landed = app
        .sign_in(&app.browser(), &client.start().url, "nohash", "")
        .await;
    assert!(landed.param("code").is_none());

    // A second run adds nothing and changes nobody.
    let again = run_import(&app, &csv).await.unwrap();
    assert_eq!((again.added, again.skipped), (0, 6));
    let still = accounts::find(&app.st, &app.pool.id, "bcrypt")
        .await
        .unwrap();
    assert!(still.password_hash.unwrap().starts_with("$argon2id$"));
}

#[actix_web::test]
async fn bad_lines_are_named_and_nothing_is_written() {
    let app = TestApp::new().await;
    app.user("taken", "taken@example.com").await;
    let csv = [
        HEADER,
        "good,good@example.com,TRUE,Good,FALSE,,,",
        "bad email,x@example.com,TRUE,,FALSE,,,",
        "mail,not-an-email,TRUE,,FALSE,,,",
        "flag,flag@example.com,maybe,,FALSE,,,",
        "phone,phone@example.com,TRUE,,FALSE,12345,FALSE,",
        "good,again@example.com,TRUE,,FALSE,,,",
        "thief,TAKEN@example.com,TRUE,,FALSE,,,",
        "noreset,,FALSE,,FALSE,,,",
        "hash,hash@example.com,TRUE,,FALSE,,,$md5$abc",
        "short,short@example.com,TRUE",
        "\"quoted,fine\",q@example.com,TRUE,,FALSE,,,",
    ]
    .join("\n");
    let err = run_import(&app, &csv).await.unwrap_err();
    let TransferError::Lines { errors, more } = &err else {
        panic!("{err}");
    };
    assert_eq!(*more, 0);
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10, 11], "{err}");
    let text = err.to_string();
    for expected in [
        "line 3: invalid username",
        "line 4: invalid email",
        "line 5: email_verified must be TRUE or FALSE",
        "line 6: phone_number must be in E.164",
        "line 7: same username as line 2",
        "line 8: the email is another user's verified email",
        "line 9: without tessera:password_hash",
        "line 10: unsupported password hash",
        "line 11: 3 fields, the header has 8",
        "nothing was imported",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(!text.contains("$md5$abc"), "hashes are not echoed: {text}");
    let page = accounts::page(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap();
    assert_eq!(page.users.len(), 1, "only the user made before");

    for (csv, expected) in [
        ("", "the file is empty"),
        ("email,email_verified\n", "cognito:username is required"),
        (
            "cognito:username,shoe_size\n",
            "unknown column \"shoe_size\"",
        ),
        ("cognito:username,email,email\n", "\"email\" appears twice"),
    ] {
        let err = run_import(&app, csv).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{expected:?} in {err}");
    }
}

#[actix_web::test]
async fn user_list_pages_by_cursor() {
    let app = TestApp::new().await;
    for n in ["dora", "alice", "carol", "bob", "erin"] {
        app.user(n, &format!("{n}@example.com")).await;
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = accounts::page(&app.st, &app.pool.id, after, 2)
            .await
            .unwrap();
        seen.extend(page.users.iter().map(|u| u.username.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["alice", "bob", "carol", "dora", "erin"]);
}

/// The real binary, on the pool's database: the header round-trips, and an extended export
/// moves users (sub, attributes, password) into another pool.
#[test]
fn export_then_import_round_trips_through_the_cli() {
    let cli = Cli::new();
    cli.ok(&["pool", "create", "--name", "old", "--json"]);
    cli.ok(&["pool", "create", "--name", "new", "--json"]);
    for p in ["old", "new"] {
        cli.ok(&[
            "pool",
            "update",
            p,
            "--custom-attribute",
            "team:string:1:16",
            "--json",
        ]);
    }
    let alice = cli.ok(&[
        "user",
        "create",
        "--pool",
        "old",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--password",
        "alice's long password",
        "--attribute",
        "given_name=Alice, \"Al\"",
        "--attribute",
        "custom:team=red",
        "--json",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.csv");
    let file = file.to_str().unwrap();
    let written = cli.ok(&[
        "user",
        "export",
        "--pool",
        "old",
        "--output",
        file,
        "--with-password-hashes",
        "--json",
    ]);
    assert_eq!(written["written"], 1);
    let text = std::fs::read_to_string(file).unwrap();
    let header = cli.ok(&[
        "user",
        "csv-header",
        "--pool",
        "old",
        "--extended",
        "--json",
    ]);
    let header: Vec<String> = serde_json::from_value(header).unwrap();
    assert_eq!(text.lines().next().unwrap(), header.join(","));
    assert!(header[..21].ends_with(&["cognito:mfa_enabled".into(), "cognito:username".into()]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a file of password hashes is private");
    }

    let dry = cli.ok(&[
        "user",
        "import",
        "--pool",
        "new",
        file,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry["checked"]["new"], 1);
    assert!(dry["imported"].is_null());
    let done = cli.ok(&["user", "import", "--pool", "new", file, "--json"]);
    assert_eq!(done["imported"]["added"], 1);
    let again = cli.ok(&["user", "import", "--pool", "new", file, "--json"]);
    assert_eq!(again["imported"]["added"], 0);
    assert_eq!(again["checked"]["present"], 1);

    let moved = cli.ok(&["user", "show", "--pool", "new", "alice", "--json"]);
    assert_eq!(moved["sub"], alice["sub"]);
    assert_eq!(moved["status"], "CONFIRMED");
    assert_eq!(moved["attributes"]["given_name"], "Alice, \"Al\"");
    assert_eq!(moved["attributes"]["custom:team"], "red");
    assert_eq!(moved["email_verified"], true);

    // The plain (Cognito) export has no hashes: imported users must reset, as in Cognito.
    let plain = cli
        .cmd()
        .args(["user", "export", "--pool", "old"])
        .output()
        .unwrap();
    assert!(plain.status.success());
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(!plain.contains("$argon2id$"));
    assert!(plain.starts_with("name,given_name,"), "{plain}");
    let cognito = dir.path().join("cognito.csv");
    std::fs::write(&cognito, &plain).unwrap();
    cli.ok(&["pool", "create", "--name", "third", "--json"]);
    cli.ok(&[
        "pool",
        "update",
        "third",
        "--custom-attribute",
        "team:string:1:16",
        "--json",
    ]);
    cli.ok(&[
        "user",
        "import",
        "--pool",
        "third",
        cognito.to_str().unwrap(),
        "--json",
    ]);
    let reset = cli.ok(&["user", "show", "--pool", "third", "alice", "--json"]);
    assert_eq!(reset["status"], "RESET_REQUIRED");
    assert_ne!(reset["sub"], alice["sub"]);

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "cognito:username,email\nbob,bob@example.com\n").unwrap();
    let err = cli.fails(
        &["user", "import", "--pool", "new", bad.to_str().unwrap()],
        &[],
    );
    assert!(
        err.contains("line 2: without tessera:password_hash"),
        "{err}"
    );
}

#[actix_web::test]
async fn an_imported_user_keeps_working_after_an_admin_change() {
    // The imported hash is a stored hash like any other: an admin password set replaces it.
    let app = TestApp::new().await;
    let (_, bcrypt) = foreign_hashes("old password!").remove(1);
    let csv = format!("{HEADER}\nmoved,moved@example.com,TRUE,,FALSE,,,{bcrypt}\n");
    run_import(&app, &csv).await.unwrap();
    accounts::set_password(
        &app.st,
        &app.pool,
        "moved",
        &Secret::new("a brand new password"),
        false,
        app.now(),
    )
    .await
    .unwrap();
    let client = app.oidc_client(spec("web")).await;
    let s = client.start();
    app.sign_in(&app.browser(), &s.url, "moved", "a brand new password")
        .await
        .code();
}

#[actix_web::test]
async fn a_user_created_between_check_and_import_is_skipped_not_duplicated() {
    let app = TestApp::new().await;
    let csv = format!(
        "{HEADER}\nann,ann@example.com,TRUE,,FALSE,,,\nben,ben@example.com,TRUE,,FALSE,,,\n"
    );
    let now = app.now();
    let plan = transfer::check(&app.st, &app.pool, csv.as_bytes(), &mut |_| {}, now)
        .await
        .unwrap();
    assert_eq!(plan.checked.new, 2);
    app.user("ben", "ben.elsewhere@example.com").await;
    let done = transfer::import(&app.st, &app.pool, &plan, csv.as_bytes(), &mut |_| {}, now)
        .await
        .unwrap();
    assert_eq!((done.added, done.skipped), (1, 1));
    let ben = accounts::find(&app.st, &app.pool.id, "ben").await.unwrap();
    assert_eq!(ben.email.as_deref(), Some("ben.elsewhere@example.com"));
    let page = accounts::page(&app.st, &app.pool.id, None, 10)
        .await
        .unwrap();
    assert_eq!(page.users.len(), 2);
}
