//! User pool administration seen through tokens: groups in `cognito:groups`, disabling revokes,
//! and the audit trail.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;
use tessera::accounts::groups;

use crate::support::TestApp;
use crate::support::rp::{PASSWORD, base64_part, basic, spec};

fn group(precedence: i64) -> groups::GroupSpec {
    groups::GroupSpec {
        precedence,
        ..Default::default()
    }
}

#[actix_web::test]
async fn groups_appear_in_tokens_ordered_by_precedence() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let now = app.now();
    for (name, precedence) in [("users", 5), ("admins", 1), ("beta", 3), ("unused", 0)] {
        groups::create(&app.st, &app.pool.id, name, group(precedence), now)
            .await
            .unwrap();
    }
    for g in ["users", "admins", "beta"] {
        groups::set_member(&app.st, &app.pool.id, g, "alice", true)
            .await
            .unwrap();
    }
    groups::set_member(&app.st, &app.pool.id, "users", "alice", true)
        .await
        .unwrap();
    assert!(
        groups::set_member(&app.st, &app.pool.id, "nope", "alice", true)
            .await
            .is_err()
    );
    assert!(
        groups::create(&app.st, &app.pool.id, "users", group(1), now)
            .await
            .is_err(),
        "duplicate"
    );
    assert!(
        groups::create(&app.st, &app.pool.id, "has space", group(1), now)
            .await
            .is_err()
    );

    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let t = c.exchange(&code, s.verifier).await.unwrap();
    let expected = serde_json::json!(["admins", "beta", "users"]);
    let id: Value =
        serde_json::from_slice(&base64_part(&t.id_token().unwrap().to_string(), 1)).unwrap();
    assert_eq!(id["cognito:groups"], expected);
    let at: Value = serde_json::from_slice(&base64_part(t.access_token().secret(), 1)).unwrap();
    assert_eq!(at["cognito:groups"], expected);

    groups::set_member(&app.st, &app.pool.id, "beta", "alice", false)
        .await
        .unwrap();
    groups::delete(&app.st, &app.pool.id, "users")
        .await
        .unwrap();
    let r =
        c.rp.exchange_refresh_token(t.refresh_token().unwrap())
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap();
    let at: Value = serde_json::from_slice(&base64_part(r.access_token().secret(), 1)).unwrap();
    assert_eq!(
        at["cognito:groups"],
        serde_json::json!(["admins"]),
        "refreshed tokens see membership changes"
    );
}

#[actix_web::test]
async fn disabling_a_user_revokes_refresh_tokens_for_good() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let s = c.start();
    let code = app
        .sign_in(&browser, &s.url, "alice", PASSWORD)
        .await
        .code();
    let t = c.exchange(&code, s.verifier).await.unwrap();
    let refresh = t.refresh_token().unwrap().secret().clone();
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", false, app.now())
        .await
        .unwrap();
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", true, app.now())
        .await
        .unwrap();
    let (status, _, b) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&c)),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_eq!(
        (status, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "re-enabling does not revive old tokens"
    );
    // The SSO session from before the disable still works for a re-enabled user, but a disabled
    // user's session is ended at its next use.
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", false, app.now())
        .await
        .unwrap();
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.follow(&browser, res).await.0.param("error").as_deref(),
        Some("login_required")
    );
}

#[actix_web::test]
async fn the_audit_trail_records_sign_ins_failures_and_changes() {
    let app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    app.sign_in(&app.browser(), &c.start().url, "alice", "wrong")
        .await;
    app.sign_in(&app.browser(), &c.start().url, "alice", PASSWORD)
        .await
        .code();
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", false, app.now())
        .await
        .unwrap();
    let events = tessera::audit::list(&app.st, &app.pool.id, Some(alice.sub.to_string()), 10)
        .await
        .unwrap();
    let mut kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["disabled", "sign_in", "sign_in_failed", "user_created"]
    );
    assert!(
        events
            .iter()
            .filter(|e| e.kind.starts_with("sign_in"))
            .all(|e| e.ip.as_deref() == Some("127.0.0.1"))
    );
}

/// Rows recorded together are written together (one SQL operation for the burst, not one a
/// row), and reading the trail sees every row recorded before it.
#[actix_web::test]
async fn audit_rows_recorded_in_a_burst_share_one_write() {
    let app = TestApp::new().await;
    let sql_ops = |app: &TestApp| {
        let text = tessera::http::metrics::exposition(&app.st);
        text.lines()
            .find_map(|l| {
                l.strip_prefix("tessera_store_operation_duration_seconds_count{store=\"sql\"} ")
            })
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    tessera::audit::list(&app.st, &app.pool.id, None, 1)
        .await
        .unwrap();
    let before = sql_ops(&app);
    // A row the database refuses (a pool that is gone) in the middle of the burst.
    let gone = tessera::ids::PoolId::new("us-east-1_gone");
    for n in 0..50 {
        if n == 25 {
            let ctx = tessera::audit::Context {
                detail: "burst gone",
                ..Default::default()
            };
            tessera::audit::record(&app.st, &gone, tessera::audit::Kind::SignIn, ctx, app.now())
                .await;
        }
        let detail = format!("burst {n}");
        let ctx = tessera::audit::Context {
            detail: &detail,
            ..Default::default()
        };
        tessera::audit::record(
            &app.st,
            &app.pool.id,
            tessera::audit::Kind::SignInFailed,
            ctx,
            app.now(),
        )
        .await;
    }
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap();
    let burst = events
        .iter()
        .filter(|e| e.detail.starts_with("burst "))
        .count();
    assert_eq!(burst, 50, "every row is read back, the refused one apart");
    // The burst's write(s) and the list itself: a handful, not 50 (the refused row makes the
    // batch go row by row inside one operation).
    let ops = sql_ops(&app) - before;
    assert!(ops <= 5.0, "{ops} SQL operations for 50 rows");
    let refused = tessera::audit::list(&app.st, &gone, None, 10)
        .await
        .unwrap();
    assert!(refused.is_empty(), "{refused:?}");
}

#[actix_web::test]
async fn a_temporary_password_must_be_changed_at_first_sign_in() {
    use crate::support::rp::{Landed, hidden};
    let app = TestApp::builder().one_slow_hashing_slot().build().await;
    let spec_user = tessera::accounts::NewUserSpec {
        username: "temp".into(),
        email: None,
        password: tessera::ids::Secret::new("temporary pass 1"),
        attributes: Default::default(),
        temporary_password: true,
        self_signup: false,
    };
    let u = tessera::accounts::create(&app.st, &app.pool, spec_user, app.now())
        .await
        .unwrap();
    assert_eq!(u.status, tessera::model::UserStatus::ForceChangePassword);
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let s = c.start();
    let res = browser.get(&s.url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "temp".into()),
        ("password", "temporary pass 1".into()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Choose a new password"), "{body}");
    let post = |pw: &'static str, again: &'static str| {
        let form = [
            ("tx", hidden(&body, "tx")),
            ("csrf", hidden(&body, "csrf")),
            ("password", pw.into()),
            ("confirm", again.into()),
        ];
        browser
            .post(format!("{}/{}/newPassword", app.base, app.pool.id))
            .form(&form)
            .send()
    };
    let res = post("a brand new one", "a different one").await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("differ"));
    let res = post("short", "short").await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("at least 8 characters"));
    // Shed (the one hashing worker busy): the same form again, 503 with Retry-After.
    let res = app
        .while_hashing(post("a brand new one", "a brand new one"))
        .await
        .unwrap();
    let again = crate::support::shed_form(res).await;
    assert!(again.contains("Choose a new password"), "{again}");
    assert_eq!(hidden(&again, "tx"), hidden(&body, "tx"));
    let res = post("a brand new one", "a brand new one").await.unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    c.exchange(&landed.code(), s.verifier).await.unwrap();
    assert_eq!(
        app.sign_in(&app.browser(), &c.start().url, "temp", "a brand new one")
            .await
            .param("code")
            .map(|_| ()),
        Some(())
    );
    let u = tessera::accounts::find(&app.st, &app.pool.id, "temp")
        .await
        .unwrap();
    assert_eq!(u.status, tessera::model::UserStatus::Confirmed);
}
