//! Self-service sign-up from a client's login link: the emailed code confirms the account and
//! the parked authorization request ends at the client with a code.

use crate::support::TestApp;
use crate::support::rp::{Landed, OidcClient, PASSWORD, hidden, spec};

async fn open_signup(app: &TestApp, browser: &reqwest::Client, url: &str) -> String {
    let res = browser.get(url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(browser, res).await else {
        panic!("login page")
    };
    let link = body
        .split("id=\"signup\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .expect("sign-up link")
        .replace("&amp;", "&");
    let res = browser
        .get(format!("{}{link}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[actix_web::test]
async fn sign_up_confirm_and_arrive_at_the_client() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let s = c.start();
    let page = open_signup(&app, &browser, &s.url).await;
    assert!(page.contains("Create an account") && page.contains("at least 8 characters"));
    let post = |form: Vec<(&'static str, String)>| {
        browser
            .post(format!("{}/{}/signup", app.base, app.pool.id))
            .form(&form)
            .send()
    };
    let base = |u: &str, e: &str, p: &str| {
        vec![
            ("tx", hidden(&page, "tx")),
            ("csrf", hidden(&page, "csrf")),
            ("username", u.to_string()),
            ("email", e.to_string()),
            ("password", p.to_string()),
        ]
    };
    // Each violation is explained on the page.
    for (form, expected) in [
        (
            base("carol", "carol@example.com", "short"),
            "at least 8 characters",
        ),
        (
            base("carol", "not-an-email", "long enough pw"),
            "valid email",
        ),
        (
            base("ca rol", "carol@example.com", "long enough pw"),
            "spaces",
        ),
        (
            base("carol", "", "long enough pw"),
            "email address is required",
        ),
    ] {
        let res = post(form).await.unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains(expected), "{expected}");
    }
    let res = post(base("carol", "Carol@Example.com", "long enough pw"))
        .await
        .unwrap();
    let confirm = res.text().await.unwrap();
    assert!(confirm.contains("Check your email"), "{confirm}");
    let user = tessera::accounts::find(&app.st, &app.pool.id, "carol")
        .await
        .unwrap();
    assert_eq!(user.status, tessera::model::UserStatus::Unconfirmed);
    assert!(!user.email_verified);
    let code = app
        .last_code("Carol@Example.com")
        .await
        .expect("a code was mailed");

    let confirm_post = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("tx", hidden(&confirm, "tx")),
            ("csrf", hidden(&confirm, "csrf")),
        ];
        form.extend(extra);
        browser
            .post(format!("{}/{}/confirm", app.base, app.pool.id))
            .form(&form)
            .send()
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let res = confirm_post(vec![("code", wrong.into())]).await.unwrap();
    assert!(res.text().await.unwrap().contains("wrong or has expired"));
    let res = confirm_post(vec![("resend", "1".into())]).await.unwrap();
    assert!(res.text().await.unwrap().contains("new code"));
    let fresh = app.last_code("Carol@Example.com").await.unwrap();
    assert_eq!(app.mails().await.len(), 2);
    let res = confirm_post(vec![("code", fresh)]).await.unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    let tokens = c.exchange(&landed.code(), s.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&c.rp.id_token_verifier(), &s.nonce)
        .unwrap();
    assert_eq!(claims.email_verified(), Some(true));
    let user = tessera::accounts::find(&app.st, &app.pool.id, "carol")
        .await
        .unwrap();
    assert_eq!(user.status, tessera::model::UserStatus::Confirmed);
}

#[actix_web::test]
async fn duplicate_accounts_and_closed_sign_up() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let page = open_signup(&app, &browser, &c.start().url).await;
    let form = [
        ("tx", hidden(&page, "tx")),
        ("csrf", hidden(&page, "csrf")),
        ("username", "ALICE".into()),
        ("email", "new@example.com".into()),
        ("password", "long enough pw".into()),
    ];
    let res = browser
        .post(format!("{}/{}/signup", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("already registered"));

    let closed = TestApp::new().await;
    let id = closed.pool.id.clone();
    let mut settings = closed.pool.settings.clone();
    settings.admin_only_signup = true;
    let now = closed.now();
    closed
        .st
        .sql
        .run(move |c| tessera::store::sql::pools::update_settings(c, &id, &settings, now))
        .await
        .unwrap();
    closed.st.pools.refresh(&closed.st).await.unwrap();
    let c = closed.oidc_client(spec("web")).await;
    let browser = closed.browser();
    let res = browser.get(&c.start().url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = closed.follow(&browser, res).await else {
        panic!()
    };
    assert!(
        !body.contains("Create an account"),
        "no sign-up link when closed"
    );
    let res = browser
        .get(format!(
            "{}/signup?tx={}",
            closed.issuer(),
            hidden(&body, "tx")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn an_unconfirmed_user_with_the_right_password_is_sent_to_confirm() {
    let app = TestApp::new().await;
    let spec_user = tessera::accounts::NewUserSpec {
        username: "dave".into(),
        email: Some("dave@example.com".into()),
        password: tessera::ids::Secret::new("long enough pw"),
        attributes: Default::default(),
        temporary_password: false,
        self_signup: true,
    };
    tessera::accounts::create(&app.st, &app.pool, spec_user, app.now())
        .await
        .unwrap();
    let c = app.oidc_client(spec("web")).await;
    // A wrong password reveals nothing.
    assert!(matches!(
        app.sign_in(&app.browser(), &c.start().url, "dave", "wrong one")
            .await,
        Landed::Page { status: 401, .. }
    ));
    assert!(app.last_code("dave@example.com").await.is_none());
    let browser = app.browser();
    let s = c.start();
    let res = browser.get(&s.url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "dave".into()),
        ("password", "long enough pw".into()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    assert!(page.contains("not confirmed yet"), "{page}");
    let code = app.last_code("dave@example.com").await.unwrap();
    let form = [
        ("tx", hidden(&page, "tx")),
        ("csrf", hidden(&page, "csrf")),
        ("code", code),
    ];
    let res = browser
        .post(format!("{}/{}/confirm", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    c.exchange(&landed.code(), s.verifier).await.unwrap();
}

async fn post_signup(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let mut form = vec![
        ("tx".to_string(), hidden(page, "tx")),
        ("csrf".to_string(), hidden(page, "csrf")),
    ];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = browser
        .post(format!("{}/{}/signup", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[actix_web::test]
async fn email_pools_sign_up_without_a_username_and_ask_for_required_attributes() {
    let mut app = TestApp::new().await;
    app.settings(|s| {
        s.sign_in_identifier = tessera::model::SignInIdentifier::Email;
        s.required_attributes = vec!["given_name".into(), "custom:team".into()];
        s.custom_attributes =
            vec![tessera::model::attributes::CustomAttribute::parse("team:string:2:8").unwrap()];
    })
    .await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let s = c.start();
    let page = open_signup(&app, &browser, &s.url).await;
    assert!(
        !page.contains("name=\"username\""),
        "no username in email pools"
    );
    assert!(page.contains("name=\"given_name\"") && page.contains("name=\"custom:team\""));
    let (status, body) = post_signup(
        &app,
        &browser,
        &page,
        &[
            ("email", "erin@example.com"),
            ("password", "long enough pw"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Given name is required"), "{body}");
    assert!(
        body.contains("value=\"erin@example.com\""),
        "the form keeps its values"
    );
    let (status, body) = post_signup(
        &app,
        &browser,
        &page,
        &[
            ("email", "erin@example.com"),
            ("password", "long enough pw"),
            ("given_name", "Erin"),
            ("custom:team", "x"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("2 to 8 characters"), "{body}");
    let (status, confirm) = post_signup(
        &app,
        &browser,
        &page,
        &[
            ("email", "erin@example.com"),
            ("password", "long enough pw"),
            ("given_name", "Erin"),
            ("custom:team", "ops"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{confirm}");
    let code = app.last_code("erin@example.com").await.unwrap();
    let res = browser
        .post(format!("{}/{}/confirm", app.base, app.pool.id))
        .form(&[
            ("tx", hidden(&confirm, "tx")),
            ("csrf", hidden(&confirm, "csrf")),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    let tokens = c.exchange(&landed.code(), s.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    let id_token = tokens.id_token().unwrap().to_string();
    let claims: serde_json::Value =
        serde_json::from_slice(&crate::support::rp::base64_part(&id_token, 1)).unwrap();
    assert_eq!(
        claims["cognito:username"], claims["sub"],
        "the username is the sub"
    );
    assert_eq!(claims["given_name"], "Erin");
    assert_eq!(claims["custom:team"], "ops");
    // The email signs in; so would nothing else.
    assert!(matches!(
        app.sign_in(
            &app.browser(),
            &c.start().url,
            "ERIN@example.com",
            "long enough pw"
        )
        .await,
        Landed::Client(_)
    ));
}

async fn signs_in(app: &TestApp, c: &OidcClient, who: &str) -> bool {
    matches!(
        app.sign_in(&app.browser(), &c.start().url, who, PASSWORD)
            .await,
        Landed::Client(_)
    )
}

#[actix_web::test]
async fn identifier_settings_decide_what_signs_in() {
    let mut app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    // The default: the username, or the verified email as an alias.
    assert!(signs_in(&app, &c, "alice").await && signs_in(&app, &c, "Alice@Example.com").await);
    app.settings(|s| s.sign_in_identifier = tessera::model::SignInIdentifier::Username)
        .await;
    assert!(signs_in(&app, &c, "alice").await);
    assert!(!signs_in(&app, &c, "alice@example.com").await);
    app.settings(|s| s.sign_in_identifier = tessera::model::SignInIdentifier::Email)
        .await;
    assert!(signs_in(&app, &c, "alice@example.com").await);
    assert!(!signs_in(&app, &c, "alice").await);
    // An unverified email is not an alias of a confirmed account.
    app.settings(|s| s.sign_in_identifier = tessera::model::SignInIdentifier::UsernameOrEmail)
        .await;
    let sub = app.user("bob", "bob@example.com").await.sub;
    tessera::accounts::set_email(
        &app.st,
        &app.pool.id,
        sub.as_str(),
        "bob@other.example",
        false,
        None,
        app.now(),
    )
    .await
    .unwrap();
    let ok = matches!(
        app.sign_in(
            &app.browser(),
            &c.start().url,
            "bob@other.example",
            PASSWORD
        )
        .await,
        Landed::Client(_)
    );
    assert!(!ok, "unverified email alias");
}

#[actix_web::test]
async fn an_admin_confirms_a_signed_up_user_from_the_cli() {
    let app = TestApp::new().await;
    let spec_user = tessera::accounts::NewUserSpec {
        username: "fay".into(),
        email: Some("fay@example.com".into()),
        password: tessera::ids::Secret::new("long enough pw"),
        attributes: Default::default(),
        temporary_password: false,
        self_signup: true,
    };
    tessera::accounts::create(&app.st, &app.pool, spec_user, app.now())
        .await
        .unwrap();
    let out = crate::cli_users::on_app(
        &app,
        &["user", "confirm", "--pool", app.pool.id.as_str(), "fay"],
    );
    assert_eq!(out["status"], "CONFIRMED");
    assert_eq!(out["email_verified"], true);
    let c = app.oidc_client(spec("web")).await;
    assert!(matches!(
        app.sign_in(&app.browser(), &c.start().url, "fay", "long enough pw")
            .await,
        Landed::Client(_)
    ));
}

#[actix_web::test]
async fn bad_sign_up_input_gets_a_message_on_the_page() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.required_attributes = vec!["given_name".into()])
        .await;
    app.user("bob", "bob@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let page = open_signup(&app, &browser, &c.start().url).await;
    let long_pw = "p".repeat(300);
    let long_name = "n".repeat(3000);
    for (fields, expected) in [
        // Fullwidth "ｂｏｂ" is "bob" under NFKC: the same username.
        (
            vec![
                ("username", "ｂｏｂ"),
                ("email", "b2@example.com"),
                ("given_name", "B"),
            ],
            "already registered",
        ),
        (
            vec![
                ("username", "eve"),
                ("email", "eve@example.com"),
                ("given_name", "E"),
                ("password", long_pw.as_str()),
            ],
            "at most 256 characters",
        ),
        (
            vec![
                ("username", "eve"),
                ("email", "eve@example.com"),
                ("given_name", long_name.as_str()),
            ],
            "at most 2048 characters",
        ),
        (
            vec![
                ("username", "e\u{7}ve"),
                ("email", "eve@example.com"),
                ("given_name", "E"),
            ],
            "control characters",
        ),
        (
            vec![
                ("username", "eve"),
                ("email", "eve@exa mple.com"),
                ("given_name", "E"),
            ],
            "valid email",
        ),
        (
            vec![
                ("username", "eve"),
                ("email", "eve@example.com"),
                ("given_name", "E\u{0}"),
            ],
            "control characters",
        ),
        (
            vec![("username", "eve"), ("email", "eve@example.com")],
            "Given name is required",
        ),
    ] {
        let mut fields = fields;
        if !fields.iter().any(|(k, _)| *k == "password") {
            fields.push(("password", "long enough pw"));
        }
        let (status, body) = post_signup(&app, &browser, &page, &fields).await;
        assert_eq!(status, 400, "{fields:?}: {body}");
        assert!(body.contains(expected), "{expected}: {body}");
    }
}

#[actix_web::test]
async fn a_client_write_list_must_cover_what_sign_up_requires() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.required_attributes = vec!["given_name".into()])
        .await;
    let narrow = tessera::clients::ClientSpec {
        write_attributes: Some(vec!["email".into()]),
        ..spec("narrow")
    };
    let refused = tessera::clients::create(&app.st, &app.pool.id, narrow, app.now()).await;
    let e = refused.unwrap_err().to_string();
    assert!(e.contains("given_name"), "{e}");
    let fitting = tessera::clients::ClientSpec {
        write_attributes: Some(vec!["email".into(), "given_name".into()]),
        ..spec("fitting")
    };
    let c = app.oidc_client(fitting).await;
    // The pool later requires more than the client may write: sign-up through it says so.
    app.settings(|s| s.required_attributes = vec!["given_name".into(), "family_name".into()])
        .await;
    let browser = app.browser();
    let page = open_signup(&app, &browser, &c.start().url).await;
    let res = browser
        .post(format!("{}/signup", app.issuer()))
        .form(&[
            ("tx", hidden(&page, "tx")),
            ("csrf", hidden(&page, "csrf")),
            ("username", "erin".to_string()),
            ("email", "erin@example.com".to_string()),
            ("given_name", "Erin".to_string()),
            ("family_name", "Doe".to_string()),
            ("password", "long enough pw".to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("may not set") && body.contains("Family name"),
        "{body}"
    );
    assert!(
        tessera::accounts::find(&app.st, &app.pool.id, "erin")
            .await
            .is_err()
    );
}
