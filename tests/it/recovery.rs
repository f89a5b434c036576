//! Forgot password: the same answer for known and unknown accounts, an emailed single-use code,
//! the policy on the new password, and everything the old password started is ended.

use chrono::TimeDelta;
use openidconnect::OAuth2TokenResponse;

use crate::support::rp::{Landed, PASSWORD, basic, hidden, spec};
use crate::support::{TestApp, shed_form};

/// Opens the forgot-password page from a fresh authorize request and submits `who`.
async fn ask(app: &TestApp, browser: &reqwest::Client, url: &str, who: &str) -> (u16, String) {
    let res = browser.get(url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(browser, res).await else {
        panic!()
    };
    let link = body
        .split("id=\"forgot\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let page = browser
        .get(format!("{}{link}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("tx", hidden(&page, "tx")),
        ("csrf", hidden(&page, "csrf")),
        ("username", who.to_string()),
    ];
    let res = browser
        .post(format!("{}/{}/forgotPassword", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Submits the reset page (`page`, as `ask` left it) with `code` and a new password twice.
async fn confirm(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    code: String,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("tx", hidden(page, "tx")),
        ("csrf", hidden(page, "csrf")),
        ("code", code),
        ("password", password.into()),
        ("confirm", password.into()),
    ];
    browser
        .post(format!(
            "{}/{}/confirmForgotPassword",
            app.base, app.pool.id
        ))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn reset_with_an_emailed_code_ends_old_sessions_and_tokens() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    // Signed in elsewhere, with a refresh token.
    let other = app.browser();
    let s = c.start();
    let code = app.sign_in(&other, &s.url, "alice", PASSWORD).await.code();
    let refresh = c
        .exchange(&code, s.verifier)
        .await
        .unwrap()
        .refresh_token()
        .unwrap()
        .secret()
        .clone();
    // Sessions are ended by start time in whole seconds: the reset comes later.
    app.clock.advance(TimeDelta::seconds(5));

    let browser = app.browser();
    let (status_known, known) = ask(&app, &browser, &c.start().url, "alice").await;
    let (status_unknown, unknown) = ask(&app, &app.browser(), &c.start().url, "nobody").await;
    assert_eq!(status_known, status_unknown);
    let strip = |b: &str, who: &str| {
        b.replace(who, "X")
            .split("name=\"tx\"")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        strip(&known, "alice"),
        strip(&unknown, "nobody"),
        "same answer for unknown accounts"
    );
    assert_eq!(app.mails().await.len(), 1, "only the real account got mail");
    let mailed = app.last_code("alice@example.com").await.unwrap();

    let res = confirm(&app, &browser, &known, mailed.clone(), "short").await;
    assert!(res.text().await.unwrap().contains("at least 8 characters"));
    let wrong = if mailed == "000000" {
        "111111"
    } else {
        "000000"
    };
    let res = confirm(&app, &browser, &known, wrong.into(), "a fresh password").await;
    assert!(res.text().await.unwrap().contains("wrong or has expired"));
    let res = confirm(&app, &browser, &known, mailed.clone(), "a fresh password").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your password was changed")
    );
    let res = confirm(&app, &browser, &known, mailed, "another fresh one").await;
    assert_eq!(
        res.status(),
        400,
        "the code was single use (and the transaction moved on)"
    );

    // Old session and refresh token are gone; the new password works.
    let res = other
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.follow(&other, res).await.0.param("error").as_deref(),
        Some("login_required")
    );
    let (st, _, b) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&c)),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_eq!((st, b["error"].as_str()), (400, Some("invalid_grant")));
    assert!(
        app.sign_in(&app.browser(), &c.start().url, "alice", PASSWORD)
            .await
            .param("code")
            .is_none()
    );
    assert!(
        app.sign_in(&app.browser(), &c.start().url, "alice", "a fresh password")
            .await
            .param("code")
            .is_some()
    );
}

#[actix_web::test]
async fn reset_codes_expire_after_an_hour() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let (_, page) = ask(&app, &browser, &c.start().url, "alice@example.com").await;
    let code = app.last_code("alice@example.com").await.unwrap();
    app.clock.advance(TimeDelta::minutes(61));
    let res = confirm(&app, &browser, &page, code, "a fresh password").await;
    // The login transaction itself (15 min) is gone too; either way nothing changed.
    assert!(res.status().is_client_error());
    assert!(
        app.sign_in(&app.browser(), &c.start().url, "alice", PASSWORD)
            .await
            .param("code")
            .is_some()
    );
}

#[actix_web::test]
async fn an_admin_reset_sends_the_user_through_a_code_at_next_sign_in() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let u = tessera::accounts::require_reset(&app.st, &app.pool.id, "alice", app.now())
        .await
        .unwrap();
    assert_eq!(u.status, tessera::model::UserStatus::ResetRequired);
    // A wrong password learns nothing.
    assert!(matches!(
        app.sign_in(&app.browser(), &c.start().url, "alice", "wrong pw")
            .await,
        Landed::Page { status: 401, .. }
    ));
    let browser = app.browser();
    let res = browser.get(c.start().url).send().await.unwrap();
    let (Landed::Page { body: login, .. }, _) = app.follow(&browser, res).await else {
        panic!("login page")
    };
    let res = browser
        .post(format!("{}/login", app.issuer()))
        .form(&[
            ("tx", hidden(&login, "tx")),
            ("csrf", hidden(&login, "csrf")),
            ("username", "alice".into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("reset by an administrator"), "{body}");
    let code = app
        .last_code("alice@example.com")
        .await
        .expect("a reset code");
    let res = browser
        .post(format!("{}/confirmForgotPassword", app.issuer()))
        .form(&[
            ("tx", hidden(&body, "tx")),
            ("csrf", hidden(&body, "csrf")),
            ("code", code.clone()),
            ("password", "a new password".into()),
            ("confirm", "a new password".into()),
        ])
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("Sign in with the new one"), "{text}");
    assert!(matches!(
        app.sign_in(&app.browser(), &c.start().url, "alice", "a new password")
            .await,
        Landed::Client(_)
    ));
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert_eq!(u.status, tessera::model::UserStatus::Confirmed);
}

#[actix_web::test]
async fn a_failing_smtp_server_looks_the_same_to_the_visitor_and_keeps_the_account() {
    // Nothing listens on this port: every delivery fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::builder()
        .config(move |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}")))
        .configured_mailer()
        .build()
        .await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let res = browser.get(c.start().url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!("login page")
    };
    let res = browser
        .post(format!("{}/signup", app.issuer()))
        .form(&[
            ("tx", hidden(&body, "tx")),
            ("csrf", hidden(&body, "csrf")),
            ("username", "gail".into()),
            ("email", "gail@example.com".into()),
            ("password", "long enough pw".into()),
        ])
        .send()
        .await
        .unwrap();
    // Mail goes out after the answer: the visitor sees the confirmation step, as when
    // delivery works, and learns nothing from the failure.
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Check your email"), "{page}");
    app.st.background.idle().await;
    let u = tessera::accounts::find(&app.st, &app.pool.id, "gail")
        .await
        .unwrap();
    assert_eq!(
        u.status,
        tessera::model::UserStatus::Unconfirmed,
        "the account is kept"
    );
    // Forgot-password answers with a "try again later" page, not a 5xx.
    app.user("hank", "hank@example.com").await;
    let res = browser.get(c.start().url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!("login page")
    };
    let res = browser
        .post(format!("{}/forgotPassword", app.issuer()))
        .form(&[
            ("tx", hidden(&body, "tx")),
            ("csrf", hidden(&body, "csrf")),
            ("username", "hank".into()),
        ])
        .send()
        .await
        .unwrap();
    // Forgot-password answers as it does for anyone: the reset step.
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("name=\"code\""), "{page}");
    app.st.background.idle().await;
}

/// A reset whose new password cannot be hashed now (the hashing is saturated: shed at once)
/// keeps its code, so the retry the page or an SDK makes goes through with the same code.
#[actix_web::test]
async fn a_reset_shed_under_load_keeps_its_code_for_the_retry() {
    use tessera::accounts::{self, AccountError};
    use tessera::crypto::password::PasswordError;
    use tessera::ids::Secret;

    let app = TestApp::new().await;
    let carol = app.user("carol", "carol@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let (_, page) = ask(&app, &browser, &c.start().url, "carol").await;
    let mailed = app.last_code("carol@example.com").await.unwrap();
    // The same stores behind a saturated hasher: the new password's hash is shed.
    let (busy, running) = app.saturated().await;
    let fresh = Secret::new("a fresh password");
    let ttl = std::time::Duration::from_secs(3600);
    let shed =
        accounts::reset_password(&busy, &app.pool, carol, &mailed, &fresh, ttl, app.now()).await;
    assert!(
        matches!(
            shed,
            Err(AccountError::Password(PasswordError::Busy { .. }))
        ),
        "{shed:?}"
    );
    assert!(running.await.unwrap().is_ok());
    let res = confirm(&app, &browser, &page, mailed, "a fresh password").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your password was changed")
    );
    let landed = app
        .sign_in(&app.browser(), &c.start().url, "carol", "a fresh password")
        .await;
    assert!(matches!(landed, Landed::Client(_)), "{landed:?}");
}

/// The same on the page: the reset form comes back (503, `Retry-After`) and, sent again with
/// the same code, changes the password.
#[actix_web::test]
async fn a_reset_page_shed_under_load_answers_its_form_again() {
    let app = TestApp::builder().one_slow_hashing_slot().build().await;
    app.user("carol", "carol@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let (_, page) = ask(&app, &browser, &c.start().url, "carol").await;
    let mailed = app.last_code("carol@example.com").await.unwrap();
    let sent = confirm(&app, &browser, &page, mailed.clone(), "a fresh password");
    let again = shed_form(app.while_hashing(sent).await).await;
    assert!(again.contains("name=\"code\""));
    assert!(!again.contains("a fresh password"));
    let res = confirm(&app, &browser, &again, mailed, "a fresh password").await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Your password was changed"), "{body}");
}
