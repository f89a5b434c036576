//! The account page: sign-in from it and back, attributes (standard and typed custom ones),
//! email change through a code to the new address, password change with the current password.

use crate::support::TestApp;
use crate::support::rp::{Landed, PASSWORD, basic, hidden, spec};
use tessera::model::attributes::CustomAttribute;

/// Signs in from `/account` and returns the account page.
async fn open_account(app: &TestApp, browser: &reqwest::Client, user: &str, pw: &str) -> String {
    let res = browser
        .get(format!("{}/account", app.issuer()))
        .send()
        .await
        .unwrap();
    let (Landed::Page { status, body }, _) = app.follow(browser, res).await else {
        panic!("a page")
    };
    if body.contains("id=\"change-password\"") {
        return body;
    }
    assert_eq!(status, 200, "{body}");
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", user.to_string()),
        ("password", pw.to_string()),
    ];
    let res = browser
        .post(format!("{}/login", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        format!("/{}/account", app.pool.id).as_str()
    );
    let (Landed::Page { status, body }, _) = app.follow(browser, res).await else {
        panic!("the account page")
    };
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"change-password\""), "{body}");
    body
}

async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let mut form = vec![("csrf".to_string(), hidden(page, "csrf"))];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = browser
        .post(format!("{}/account", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[actix_web::test]
async fn profile_attributes_are_edited_and_checked() {
    let mut app = TestApp::new().await;
    app.settings(|s| {
        s.custom_attributes = vec![
            CustomAttribute::parse("team:string:2:8:writable").unwrap(),
            CustomAttribute::parse("level:number:0:9:writable").unwrap(),
        ];
        s.required_attributes = vec!["given_name".into()];
    })
    .await;
    app.user("alice", "alice@example.com").await;
    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    assert!(page.contains("alice@example.com") && page.contains("value=\"Al\""));
    assert!(page.contains("name=\"custom:team\""));
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[
            ("action", "profile"),
            ("given_name", "Alice"),
            ("family_name", "Liddell"),
            ("birthdate", "1990-05-04"),
            ("custom:team", "ops"),
            ("custom:level", "3"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("profile was saved"));
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert_eq!(u.attributes["given_name"], "Alice");
    assert_eq!(u.attributes["custom:team"], "ops");
    // Out-of-bounds, malformed and control-character values get a message, not a 5xx.
    for (field, value, expected) in [
        ("custom:level", "10", "between 0 and 9"),
        ("custom:level", "x", "whole number"),
        ("custom:team", "waytoolongteam", "2 to 8 characters"),
        ("birthdate", "1990-13-01", "YYYY-MM-DD"),
        ("website", "javascript:alert(1)", "http(s) URL"),
        ("phone_number", "12345", "E.164"),
        ("name", "a\u{1}b", "control characters"),
    ] {
        let (status, body) = post(
            &app,
            &browser,
            &page,
            &[("action", "profile"), (field, value)],
        )
        .await;
        assert_eq!(status, 400, "{field}={value:?}");
        assert!(body.contains(expected), "{field}: {expected} in {body}");
    }
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[("action", "profile"), ("given_name", "")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("required in this pool"), "{body}");
    let huge = "x".repeat(3000);
    let (status, _) = post(
        &app,
        &browser,
        &page,
        &[("action", "profile"), ("name", &huge)],
    )
    .await;
    assert_eq!(status, 400);
    // An empty field removes the attribute.
    let (status, _) = post(
        &app,
        &browser,
        &page,
        &[("action", "profile"), ("family_name", "")],
    )
    .await;
    assert_eq!(status, 200);
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert!(!u.attributes.contains_key("family_name"));
    assert_eq!(
        u.attributes["custom:level"], "3",
        "untouched by the failures"
    );
    let events = tessera::audit::list(&app.st, &app.pool.id, Some(u.sub.to_string()), 50)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "attributes_changed"
        && e.detail.contains("custom:team")
        && !e.detail.contains("ops")));
}

#[actix_web::test]
async fn account_forms_need_the_page_token_and_a_session() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    // A cross-site form cannot know the token.
    let res = browser
        .post(format!("{}/account", app.issuer()))
        .form(&[
            ("action", "profile"),
            ("given_name", "Mallory"),
            ("csrf", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Another browser with the token but no session is sent to sign in.
    let other = app.browser();
    let res = other
        .post(format!("{}/account", app.issuer()))
        .form(&[
            ("action", "profile"),
            ("csrf", hidden(&page, "csrf").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the token is bound to the browser");
    // Signing out ends the session: the page asks for a sign-in again.
    let res = browser
        .post(format!("{}/logout", app.issuer()))
        .form(&[
            ("confirm", "yes"),
            (
                "csrf",
                hidden(page.split("/logout\"").nth(1).unwrap(), "csrf").as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = browser
        .get(format!("{}/account", app.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/login?tx=")
    );
}

#[actix_web::test]
async fn email_change_waits_for_the_code_sent_to_the_new_address() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    app.user("bob", "bob@example.com").await;
    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[("action", "email"), ("email", "nope")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("not a valid email"));
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[("action", "email"), ("email", "alice@new.example")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Code sent to alice@new.example"));
    let code = app
        .last_code("alice@new.example")
        .await
        .expect("code to the new address");
    assert!(app.last_code("alice@example.com").await.is_none());
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert_eq!(
        u.email.as_deref(),
        Some("alice@example.com"),
        "the old one stays"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[("action", "verify_email"), ("code", wrong)],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("wrong or has expired"));
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[("action", "verify_email"), ("code", &code)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("email address was changed"));
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice@new.example")
        .await
        .unwrap();
    assert!(u.email_verified);
    // Someone else's address is refused at confirmation.
    post(
        &app,
        &browser,
        &page,
        &[("action", "email"), ("email", "BOB@example.com")],
    )
    .await;
    let code = app.last_code("BOB@example.com").await.unwrap();
    let (status, body) = post(
        &app,
        &browser,
        &page,
        &[("action", "verify_email"), ("code", &code)],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("used by another account"));
}

#[actix_web::test]
async fn password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    // Another device: a session and a refresh token.
    let other = app.browser();
    let s = c.start();
    let landed = app.sign_in(&other, &s.url, "alice", PASSWORD).await;
    let tokens = c.exchange(&landed.code(), s.verifier).await.unwrap();
    use openidconnect::OAuth2TokenResponse;
    let refresh = tokens.refresh_token().unwrap().secret().clone();

    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let (app, browser, page) = (&app, &browser, page.clone());
        async move {
            post(
                app,
                browser,
                &page,
                &[
                    ("action", "password"),
                    ("current", current),
                    ("password", new),
                    ("confirm", again),
                ],
            )
            .await
        }
    };
    let (status, body) = change("wrong", "brand new secret", "brand new secret").await;
    assert_eq!(status, 400);
    assert!(body.contains("current password is wrong"));
    let (status, body) = change(PASSWORD, "brand new secret", "different").await;
    assert_eq!(status, 400);
    assert!(body.contains("differ"));
    let (status, body) = change(PASSWORD, "short", "short").await;
    assert_eq!(status, 400);
    assert!(body.contains("at least 8"));
    // In the same second as the other device's sign-in: ending sessions is exact, not by time.
    let (status, body) = change(PASSWORD, "brand new secret", "brand new secret").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("password was changed"));
    // This browser stays signed in; the other device is signed out and its refresh token dead.
    let res = browser
        .get(format!("{}/account", app.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = other.get(&c.start().url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&other, res).await else {
        panic!("sign-in page")
    };
    assert!(body.contains("name=\"password\""), "signed out");
    let (status, _, _) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&c)),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_eq!(status, 400, "the refresh token was revoked");
    assert!(matches!(
        app.sign_in(&app.browser(), &c.start().url, "alice", "brand new secret")
            .await,
        Landed::Client(_)
    ));
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 50)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "password_changed"));
}

#[actix_web::test]
async fn a_shed_password_change_shows_the_page_again_and_changes_nothing() {
    let app = TestApp::builder().one_slow_hashing_slot().build().await;
    app.user("alice", "alice@example.com").await;
    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    let fields = [
        ("action", "password"),
        ("current", PASSWORD),
        ("password", "brand new secret"),
        ("confirm", "brand new secret"),
    ];
    let (status, again) = app
        .while_hashing(post(&app, &browser, &page, &fields))
        .await;
    assert_eq!(status, 503);
    assert!(
        again.contains("Many people are signing in right now"),
        "{again}"
    );
    assert!(again.contains("id=\"change-password\""));
    // Nothing changed: the old password still holds, and the same form sent again changes it.
    let c = app.oidc_client(spec("web")).await;
    assert!(matches!(
        app.sign_in(&app.browser(), &c.start().url, "alice", PASSWORD)
            .await,
        Landed::Client(_)
    ));
    let (status, body) = post(&app, &browser, &again, &fields).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("password was changed"));
}

#[actix_web::test]
async fn an_email_change_code_confirms_only_the_address_it_was_sent_to() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    post(
        &app,
        &browser,
        &page,
        &[("action", "email"), ("email", "first@new.example")],
    )
    .await;
    let first = app.last_code("first@new.example").await.unwrap();
    post(
        &app,
        &browser,
        &page,
        &[("action", "email"), ("email", "second@new.example")],
    )
    .await;
    let second = app.last_code("second@new.example").await.unwrap();
    if first != second {
        let (status, body) = post(
            &app,
            &browser,
            &page,
            &[("action", "verify_email"), ("code", &first)],
        )
        .await;
        assert_eq!(
            status, 400,
            "the first address's code does not confirm the second"
        );
        assert!(body.contains("wrong or has expired"));
    }
    let (status, _) = post(
        &app,
        &browser,
        &page,
        &[("action", "verify_email"), ("code", &second)],
    )
    .await;
    assert_eq!(status, 200);
    let u = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert_eq!(u.email.as_deref(), Some("second@new.example"));
}

#[actix_web::test]
async fn users_write_only_what_the_pool_allows_and_clients_read_only_their_list() {
    let mut app = TestApp::new().await;
    app.settings(|s| {
        s.custom_attributes = vec![
            CustomAttribute::parse("team:string:writable").unwrap(),
            CustomAttribute::parse("role:string").unwrap(),
            CustomAttribute::parse("tier:string:immutable").unwrap(),
        ];
    })
    .await;
    let alice = app.user("alice", "alice@example.com").await;
    let admin = tessera::accounts::Writer::Admin;
    let set = |k: &str, v: &str| [(k.to_string(), Some(v.to_string()))].into();
    for (k, v) in [
        ("custom:role", "viewer"),
        ("custom:team", "ops"),
        ("custom:tier", "gold"),
    ] {
        tessera::accounts::update_attributes(
            &app.st,
            &app.pool,
            "alice",
            set(k, v),
            admin,
            app.now(),
        )
        .await
        .unwrap();
    }
    // Immutable once set, even for an administrator.
    let again = tessera::accounts::update_attributes(
        &app.st,
        &app.pool,
        "alice",
        set("custom:tier", "silver"),
        admin,
        app.now(),
    )
    .await;
    assert!(again.unwrap_err().to_string().contains("cannot be changed"));
    // The user may not give themselves a role, on the page or otherwise.
    let user = tessera::accounts::Writer::User { ip: None };
    let own = tessera::accounts::update_attributes(
        &app.st,
        &app.pool,
        "alice",
        set("custom:role", "admin"),
        user,
        app.now(),
    )
    .await;
    assert!(own.unwrap_err().to_string().contains("administrator"));
    let browser = app.browser();
    let page = open_account(&app, &browser, "alice", PASSWORD).await;
    assert!(page.contains("name=\"custom:team\""));
    assert!(!page.contains("name=\"custom:role\"") && !page.contains("name=\"custom:tier\""));
    let (status, _) = post(
        &app,
        &browser,
        &page,
        &[
            ("action", "profile"),
            ("custom:role", "admin"),
            ("custom:team", "dev"),
        ],
    )
    .await;
    assert!(status < 500);
    let now = tessera::accounts::find(&app.st, &app.pool.id, alice.sub.as_str())
        .await
        .unwrap();
    assert_eq!(
        now.attributes.get("custom:role").map(String::as_str),
        Some("viewer")
    );
    assert_eq!(
        now.attributes.get("custom:team").map(String::as_str),
        Some("dev")
    );

    // A client with a read list gets only those attributes, in its ID token and at userinfo.
    let narrow = tessera::clients::ClientSpec {
        read_attributes: Some(vec!["email".into(), "custom:team".into()]),
        ..spec("narrow")
    };
    let c = app.oidc_client(narrow).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let tokens = c.exchange(&code, s.verifier).await.unwrap();
    use openidconnect::{OAuth2TokenResponse, TokenResponse};
    let id_token = tokens.id_token().unwrap().to_string();
    let claims: serde_json::Value =
        serde_json::from_slice(&crate::support::rp::base64_part(&id_token, 1)).unwrap();
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["custom:team"], "dev");
    for hidden_claim in ["custom:role", "custom:tier", "given_name"] {
        assert!(
            claims.get(hidden_claim).is_none(),
            "{hidden_claim} in {claims}"
        );
    }
    let info: serde_json::Value = app
        .http
        .get(format!("{}/oauth2/userInfo", app.issuer()))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["custom:team"], "dev");
    assert!(
        info.get("custom:role").is_none() && info.get("given_name").is_none(),
        "{info}"
    );
    // Without a list, everything the scopes grant.
    let wide = app.oidc_client(spec("wide")).await;
    let s = wide.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let tokens = wide.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.id_token().unwrap().to_string();
    let claims: serde_json::Value =
        serde_json::from_slice(&crate::support::rp::base64_part(&id_token, 1)).unwrap();
    assert_eq!(claims["custom:role"], "viewer");
    assert_eq!(claims["given_name"], "Al");
}
