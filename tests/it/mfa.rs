//! MFA in the sign-in flow and on the account page: TOTP enrollment and challenge with codes
//! computed from the fake clock, skew and replay, recovery codes, REQUIRED mode's forced
//! enrollment, `acr_values`, lockout, `amr`/`acr` in the ID token, and operator reset.

use chrono::TimeDelta;
use openidconnect::TokenResponse;
use tessera::model::MfaMode;

use crate::support::TestApp;
use crate::support::rp::{Landed, OidcClient, PASSWORD, base64_part, hidden, spec};

const ACR_MFA: &str = "urn:tessera:acr:mfa";

fn code(app: &TestApp, secret: &str, offset_secs: i64) -> String {
    tessera::mfa::code_at(secret, app.now() + TimeDelta::seconds(offset_secs)).unwrap()
}

/// The text between `<code id="secret">` and `</code>`.
fn secret_of(page: &str) -> String {
    page.split("<code id=\"secret\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap_or_else(|| panic!("no secret in {page}"))
        .to_string()
}

fn recovery_codes(page: &str) -> Vec<String> {
    page.split("id=\"recovery-codes\">")
        .nth(1)
        .unwrap()
        .split("</ul>")
        .next()
        .unwrap()
        .split("<code>")
        .skip(1)
        .map(|c| c.split("</code>").next().unwrap().to_string())
        .collect()
}

async fn post_form(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> (Landed, u16) {
    let mut form = vec![
        ("tx".to_string(), hidden(page, "tx")),
        ("csrf".to_string(), hidden(page, "csrf")),
    ];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = browser
        .post(format!("{}/{path}", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (app.follow(browser, res).await.0, status)
}

/// Signs in with the password and returns the MFA page it stops at.
async fn to_mfa_page(app: &TestApp, browser: &reqwest::Client, url: &str, user: &str) -> String {
    match app.sign_in(browser, url, user, PASSWORD).await {
        Landed::Page { status: 200, body } if body.contains("action=\"/") => body,
        other => panic!("expected the MFA page, got {other:?}"),
    }
}

/// Enrolls `user` during sign-in (REQUIRED pool or acr_values) and returns the secret.
async fn enroll_in_flow(app: &TestApp, c: &OidcClient, user: &str) -> (String, Landed) {
    let browser = app.browser();
    let s = c.start();
    let page = to_mfa_page(app, &browser, &s.url, user).await;
    assert!(page.contains("Set up two-step verification"), "{page}");
    assert!(page.contains("<svg"), "an inline QR code");
    let secret = secret_of(&page);
    let wrong = post_form(
        app,
        &browser,
        "mfaSetup",
        &page,
        &[("step", "verify"), ("code", "12ab56")],
    )
    .await;
    let Landed::Page { status: 400, body } = wrong.0 else {
        panic!("{wrong:?}")
    };
    assert!(body.contains("6-digit"), "{body}");
    let (landed, _) = post_form(
        app,
        &browser,
        "mfaSetup",
        &page,
        &[("step", "verify"), ("code", &code(app, &secret, 0))],
    )
    .await;
    let Landed::Page { status: 200, body } = landed else {
        panic!("{landed:?}")
    };
    let codes = recovery_codes(&body);
    assert_eq!(codes.len(), 10);
    let (landed, _) = post_form(app, &browser, "mfaSetup", &body, &[("step", "continue")]).await;
    let claims = id_claims(app, c, &landed, s).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(claims["acr"], ACR_MFA);
    (secret, landed)
}

async fn id_claims(
    _app: &TestApp,
    c: &OidcClient,
    landed: &Landed,
    s: crate::support::rp::Started,
) -> serde_json::Value {
    let tokens = c.exchange(&landed.code(), s.verifier).await.unwrap();
    let id_token = tokens.id_token().unwrap().to_string();
    serde_json::from_slice(&base64_part(&id_token, 1)).unwrap()
}

#[actix_web::test]
async fn required_mode_enrolls_inside_the_authorize_flow_then_challenges() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Required).await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let (secret, _) = enroll_in_flow(&app, &c, "alice").await;

    // The next sign-in asks for a code; the one used to enroll cannot be replayed.
    let browser = app.browser();
    let s = c.start();
    let page = to_mfa_page(&app, &browser, &s.url, "alice").await;
    assert!(page.contains("Two-step verification"));
    let (landed, status) = post_form(
        &app,
        &browser,
        "mfa",
        &page,
        &[("code", &code(&app, &secret, 0))],
    )
    .await;
    assert_eq!(status, 400, "replayed step: {landed:?}");
    // Bad input gets a message, never a 5xx.
    for bad in [
        "",
        "abcdef",
        "12345",
        "1234567",
        &"9".repeat(5000),
        "12\u{0}456",
    ] {
        let (landed, status) = post_form(&app, &browser, "mfa", &page, &[("code", bad)]).await;
        assert!(status == 400 || status == 413, "{bad:?}: {status}");
        if let Landed::Page { body, .. } = landed {
            assert!(!body.contains("trouble"), "{bad:?}");
        }
    }
    app.clock.advance(TimeDelta::seconds(30));
    // The next step's code is newer than the last one used, so it is accepted.
    let (landed, _) = post_form(
        &app,
        &browser,
        "mfa",
        &page,
        &[("code", &code(&app, &secret, 0))],
    )
    .await;
    let claims = id_claims(&app, &c, &landed, s).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
}

#[actix_web::test]
async fn skew_edges_and_recovery_codes() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Required).await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let (secret, _) = enroll_in_flow(&app, &c, "alice").await;
    app.clock.advance(TimeDelta::minutes(5));
    let attempt = |code: String| {
        let (app, c) = (&app, &c);
        async move {
            let browser = app.browser();
            let page = to_mfa_page(app, &browser, &c.start().url, "alice").await;
            let (landed, _) = post_form(app, &browser, "mfa", &page, &[("code", &code)]).await;
            matches!(landed, Landed::Client(_))
        }
    };
    assert!(!attempt(code(&app, &secret, -60)).await, "two steps back");
    assert!(!attempt(code(&app, &secret, 60)).await, "two steps ahead");
    assert!(attempt(code(&app, &secret, -30)).await, "one step back");
    assert!(attempt(code(&app, &secret, 30)).await, "one step ahead");
    assert!(
        !attempt(code(&app, &secret, 0)).await,
        "older than the last step used"
    );

    // Recovery codes: the account page shows how many are left; each works once.
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert_eq!(
        tessera::mfa::remaining_recovery_codes(&app.st, &app.pool.id, u.sub.as_str())
            .await
            .unwrap(),
        10
    );
}

#[actix_web::test]
async fn account_page_enrollment_recovery_codes_and_turning_off() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    // OPTIONAL and not enrolled: a password is enough.
    let s = c.start();
    let landed = app.sign_in(&app.browser(), &s.url, "alice", PASSWORD).await;
    assert_eq!(
        id_claims(&app, &c, &landed, s).await["amr"],
        serde_json::json!(["pwd"])
    );

    let browser = app.browser();
    let res = browser
        .get(format!("{}/account", app.issuer()))
        .send()
        .await
        .unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "alice".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    let res = browser
        .post(format!("{}/login", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (Landed::Page { body: page, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    assert!(page.contains("id=\"mfa-begin\""), "{page}");
    let account = |fields: Vec<(&'static str, String)>, page: String| {
        let browser = &browser;
        let app = &app;
        async move {
            let mut form = vec![("csrf", hidden(&page, "csrf"))];
            form.extend(fields);
            let res = browser
                .post(format!("{}/account", app.issuer()))
                .form(&form)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (_, page) = account(vec![("action", "mfa_begin".into())], page).await;
    let secret = secret_of(&page);
    assert!(page.contains("<svg"));
    let (status, _) = account(
        vec![("action", "mfa_confirm".into()), ("code", "000".into())],
        page.clone(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, page) = account(
        vec![
            ("action", "mfa_confirm".into()),
            ("code", code(&app, &secret, 0)),
        ],
        page,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let codes = recovery_codes(&page);
    assert_eq!(codes.len(), 10);
    assert!(page.contains("10 recovery codes left"));

    // Signing in now needs the second step; a recovery code works exactly once.
    for (i, expect_ok) in [(0, true), (0, false), (1, true)] {
        let b = app.browser();
        let s = c.start();
        let mfa_page = to_mfa_page(&app, &b, &s.url, "alice").await;
        let (landed, _) = post_form(&app, &b, "mfa", &mfa_page, &[("code", &codes[i])]).await;
        assert_eq!(
            matches!(landed, Landed::Client(_)),
            expect_ok,
            "recovery code {i}"
        );
        if expect_ok {
            assert_eq!(
                id_claims(&app, &c, &landed, s).await["amr"],
                serde_json::json!(["pwd", "otp"])
            );
        }
    }
    // Turning it off needs a valid code.
    app.clock.advance(TimeDelta::seconds(30));
    let (status, page) = account(
        vec![("action", "mfa_disable".into()), ("code", "123456".into())],
        page,
    )
    .await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = account(
        vec![
            ("action", "mfa_disable".into()),
            ("code", code(&app, &secret, 0)),
        ],
        page,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Two-step verification is off"));
    let s = c.start();
    let landed = app.sign_in(&app.browser(), &s.url, "alice", PASSWORD).await;
    assert!(matches!(landed, Landed::Client(_)));
}

#[actix_web::test]
async fn acr_values_demand_mfa_or_get_an_error() {
    let mut app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let with_acr = |url: String| format!("{url}&acr_values=urn%3Atessera%3Aacr%3Amfa");
    // MFA off in the pool: the client is told its requirement cannot be met.
    let landed = app
        .sign_in(&app.browser(), &with_acr(c.start().url), "alice", PASSWORD)
        .await;
    assert_eq!(
        landed.param("error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    // OPTIONAL: the demand makes an unenrolled user enroll, and the token says so.
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    let browser = app.browser();
    let s = c.start();
    let page = to_mfa_page(&app, &browser, &with_acr(s.url.clone()), "alice").await;
    let secret = secret_of(&page);
    let (landed, _) = post_form(
        &app,
        &browser,
        "mfaSetup",
        &page,
        &[("step", "verify"), ("code", &code(&app, &secret, 0))],
    )
    .await;
    let Landed::Page { body, .. } = landed else {
        panic!()
    };
    let (landed, _) = post_form(&app, &browser, "mfaSetup", &body, &[("step", "continue")]).await;
    let claims = id_claims(&app, &c, &landed, s).await;
    assert_eq!(claims["acr"], ACR_MFA);
    // A password-only session does not satisfy a later demand: the user signs in again.
    let plain = app.browser();
    app.user("bob", "bob@example.com").await;
    app.settings(|s| s.mfa = MfaMode::Off).await;
    assert!(matches!(
        app.sign_in(&plain, &c.start().url, "bob", PASSWORD).await,
        Landed::Client(_)
    ));
    let res = plain.get(with_acr(c.start().url)).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&plain, res).await else {
        panic!()
    };
    assert!(body.contains("name=\"password\""), "step-up asks again");
    // A client registered with require_mfa demands it without acr_values.
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    let strict = app
        .oidc_client(tessera::clients::ClientSpec {
            require_mfa: true,
            ..spec("strict")
        })
        .await;
    let page = to_mfa_page(&app, &app.browser(), &strict.start().url, "bob").await;
    assert!(page.contains("Set up two-step verification"), "{page}");
}

#[actix_web::test]
async fn mfa_failures_count_toward_the_lockout_and_operators_can_reset() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Required).await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let (secret, _) = enroll_in_flow(&app, &c, "alice").await;
    app.clock.advance(TimeDelta::minutes(1));
    let browser = app.browser();
    let page = to_mfa_page(&app, &browser, &c.start().url, "alice").await;
    let good = code(&app, &secret, 0);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let (_, status) = post_form(&app, &browser, "mfa", &page, &[("code", wrong)]).await;
        assert_eq!(status, 400);
    }
    let (landed, _) = post_form(&app, &browser, "mfa", &page, &[("code", &good)]).await;
    let Landed::Page { body, .. } = landed else {
        panic!("locked")
    };
    assert!(body.contains("Too many failed attempts"));
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "mfa_failed"));

    // The operator clears the factor; the next sign-in enrolls again.
    let out = crate::cli_users::on_app(
        &app,
        &["user", "mfa-reset", "--pool", app.pool.id.as_str(), "alice"],
    );
    assert_eq!(out["removed"], true);
    app.clock.advance(TimeDelta::minutes(20));
    let page = to_mfa_page(&app, &app.browser(), &c.start().url, "alice").await;
    assert!(page.contains("Set up two-step verification"));
}
