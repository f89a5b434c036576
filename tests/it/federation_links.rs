//! Linking upstream identities to local accounts: only after the owner signs in (password and
//! second factor), automatically only under the pool setting with two verified emails, from
//! the account page, and through the CLI (`idp`, `client --identity-provider`, `user link`).

use tessera::model::ProviderKind;

use crate::federation::{client, federate, id_claims, provider, user_count};
use crate::support::TestApp;
use crate::support::fake_idp::{FakeIdp, FakeUser};
use crate::support::rp::{Landed, PASSWORD, hidden};

#[actix_web::test]
async fn an_existing_account_is_linked_only_after_its_owner_signs_in() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Google, None).await;
    let alice = app.user("alice", "pat@example.com").await;
    let c = client(&app, &["Google"]).await;
    let browser = app.browser();
    let started = c.start();
    let landed = federate(&app, &fake, &browser, &started.url, "Google").await;
    let Landed::Page { status: 200, body } = &landed else {
        panic!("{landed:?}")
    };
    assert!(body.contains("already exists"), "{body}");
    assert_eq!(user_count(&app).await, 1, "no second account");
    let form = [
        ("tx", hidden(body, "tx")),
        ("csrf", hidden(body, "csrf")),
        ("username", "alice".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let landed = app.follow(&browser, res).await.0;
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(claims["sub"], alice.sub.as_str());
    assert_eq!(claims["cognito:username"], "alice");
    assert_eq!(claims["identities"][0]["providerName"], "Google");
    let events = tessera::audit::list(&app.st, &app.pool.id, Some(alice.sub.to_string()), 50)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "identity_linked" && e.detail == "provider Google")
    );
    // From now on Google signs alice in directly.
    let again = c.start();
    let landed = federate(&app, &fake, &app.browser(), &again.url, "Google").await;
    assert_eq!(
        id_claims(&c, again, &landed).await["sub"],
        alice.sub.as_str()
    );
    assert_eq!(user_count(&app).await, 1);
}

#[actix_web::test]
async fn auto_link_needs_the_pool_setting_and_two_verified_emails() {
    let (mut app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Google, None).await;
    let alice = app.user("alice", "pat@example.com").await;
    app.settings(|s| s.auto_link_verified_email = true).await;
    let c = client(&app, &["Google"]).await;
    fake.set_user(FakeUser {
        email_verified: false,
        ..fake.user()
    });
    let landed = federate(&app, &fake, &app.browser(), &c.start().url, "Google").await;
    assert!(matches!(&landed, Landed::Page { body, .. } if body.contains("already exists")));
    fake.set_user(FakeUser {
        email_verified: true,
        ..fake.user()
    });
    let started = c.start();
    let landed = federate(&app, &fake, &app.browser(), &started.url, "Google").await;
    assert_eq!(
        id_claims(&c, started, &landed).await["sub"],
        alice.sub.as_str()
    );
}

/// Posts one of the account page's forms.
async fn account_action(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    fields: &[(&str, &str)],
) -> Landed {
    let mut form = vec![("csrf".to_string(), hidden(page, "csrf"))];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = browser
        .post(format!("{}/account", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    app.follow(browser, res).await.0
}

#[actix_web::test]
async fn linking_asks_for_mfa_and_the_account_page_connects_and_disconnects() {
    let (mut app, fake) = (TestApp::new().await, FakeIdp::start().await);
    app.settings(|s| s.mfa = tessera::model::MfaMode::Optional)
        .await;
    provider(&app, &fake, ProviderKind::Google, None).await;
    let alice = app.user("alice", "pat@example.com").await;
    let pool = app.pool.id.clone();
    let enrollment =
        tessera::mfa::begin_enrollment(&app.st, &pool, "p", alice.sub.as_str(), "alice", app.now())
            .await
            .unwrap();
    let code = |offset: i64| {
        tessera::mfa::code_at(
            &enrollment.secret_base32,
            app.now() + chrono::TimeDelta::seconds(offset),
        )
        .unwrap()
    };
    tessera::mfa::confirm_enrollment(&app.st, &pool, alice.sub.as_str(), &code(0), app.now())
        .await
        .unwrap();
    let c = client(&app, &["Google"]).await;
    let browser = app.browser();
    let started = c.start();
    let Landed::Page { body, .. } = federate(&app, &fake, &browser, &started.url, "Google").await
    else {
        panic!()
    };
    let post = async |path: &str, body: &str, fields: &[(&str, &str)]| {
        let mut form = vec![
            ("tx".to_string(), hidden(body, "tx")),
            ("csrf".to_string(), hidden(body, "csrf")),
        ];
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let res = browser
            .post(format!("{}/{path}", app.issuer()))
            .form(&form)
            .send()
            .await
            .unwrap();
        app.follow(&browser, res).await.0
    };
    let Landed::Page { body, .. } = post(
        "login",
        &body,
        &[("username", "alice"), ("password", PASSWORD)],
    )
    .await
    else {
        panic!()
    };
    assert!(
        body.contains("name=\"code\""),
        "the second factor is asked: {body}"
    );
    let landed = post("mfa", &body, &[("code", &code(30))]).await;
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(claims["identities"][0]["providerName"], "Google");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));

    // The account page lists Google; disconnect it, then connect it again through Google.
    let res = browser
        .get(format!("{}/account", app.issuer()))
        .send()
        .await
        .unwrap();
    let Landed::Page { body: page, .. } = app.follow(&browser, res).await.0 else {
        panic!()
    };
    assert!(page.contains("id=\"disconnect-Google\""), "{page}");
    let Landed::Page { body: page, .. } = account_action(
        &app,
        &browser,
        &page,
        &[("action", "disconnect"), ("provider", "Google")],
    )
    .await
    else {
        panic!()
    };
    assert!(
        page.contains("Google was disconnected") && page.contains("id=\"connect-Google\""),
        "{page}"
    );
    let Landed::Client(at_fake) = account_action(
        &app,
        &browser,
        &page,
        &[("action", "connect"), ("provider", "Google")],
    )
    .await
    else {
        panic!()
    };
    let res = browser.get(at_fake.as_str()).send().await.unwrap();
    let Landed::Page { body: page, .. } = app.follow(&browser, res).await.0 else {
        panic!()
    };
    assert!(page.contains("id=\"disconnect-Google\""), "{page}");
    let (p, s) = (pool.clone(), alice.sub.to_string());
    let linked = app
        .st
        .sql
        .run(move |c| tessera::store::sql::federation::of_user(c, &p, &s))
        .await
        .unwrap();
    assert_eq!(linked.len(), 1);

    // A federated-only user cannot disconnect their only way to sign in.
    fake.set_user(FakeUser {
        subject: "3000003".into(),
        email: Some("kim@example.com".into()),
        ..fake.user()
    });
    let kim_browser = app.browser();
    let started = c.start();
    let landed = federate(&app, &fake, &kim_browser, &started.url, "Google").await;
    let kim = id_claims(&c, started, &landed).await["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let refused =
        tessera::federation::identities::unlink(&app.st, &pool, "Google", &kim, None, app.now())
            .await;
    assert!(refused.is_err());
}

#[test]
fn the_cli_manages_providers_client_choices_and_links() {
    let cli = crate::cli::Cli::new();
    cli.ok(&["pool", "create", "--name", "acme", "--json"]);
    fn idp<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "idp",
            "create",
            "--pool",
            "acme",
            "--client-id",
            "cid",
            "--client-secret",
            "very-secret",
        ];
        args.extend_from_slice(extra);
        args
    }
    let created = cli.ok(&idp(&["--type", "google", "--json"]));
    assert_eq!(created["name"], "Google");
    assert!(
        created["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/oauth2/idpresponse")
    );
    let shown = cli.ok(&["idp", "show", "--pool", "acme", "Google", "--json"]);
    assert!(!shown.to_string().contains("very-secret"), "{shown}");
    assert!(
        cli.fails(&idp(&["--type", "google"]), &[])
            .contains("already exists")
    );
    assert!(cli.fails(&idp(&["--type", "oidc"]), &[]).contains("--name"));
    let plain_http = idp(&[
        "--type",
        "oidc",
        "--name",
        "Corp",
        "--issuer",
        "http://corp.example",
    ]);
    assert!(cli.fails(&plain_http, &[]).contains("https"));
    assert!(
        cli.fails(
            &idp(&[
                "--type",
                "oidc",
                "--name",
                "COGNITO",
                "--issuer",
                "https://c.example"
            ]),
            &[]
        )
        .contains("COGNITO")
    );
    let updated = cli.ok(&[
        "idp",
        "update",
        "--pool",
        "acme",
        "Google",
        "--identifier",
        "Example.org",
        "--json",
    ]);
    assert_eq!(
        updated["settings"]["identifiers"],
        serde_json::json!(["example.org"])
    );

    let client = cli.ok(&[
        "client",
        "create",
        "--pool",
        "acme",
        "--name",
        "web",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--identity-provider",
        "COGNITO",
        "--identity-provider",
        "Google",
        "--json",
    ]);
    assert_eq!(
        client["settings"]["identity_providers"],
        serde_json::json!(["COGNITO", "Google"])
    );
    let bad = [
        "client",
        "create",
        "--pool",
        "acme",
        "--name",
        "x",
        "--redirect-uri",
        "https://a.example/cb",
        "--identity-provider",
        "Nope",
    ];
    assert!(cli.fails(&bad, &[]).contains("Nope"));
    let id = client["client_id"].as_str().unwrap();
    let changed = cli.ok(&[
        "client",
        "update",
        "--pool",
        "acme",
        id,
        "--identity-provider",
        "Google",
        "--name",
        "web2",
        "--json",
    ]);
    assert_eq!(changed["name"], "web2");
    assert_eq!(
        changed["settings"]["identity_providers"],
        serde_json::json!(["Google"])
    );
    assert_eq!(
        changed["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb"])
    );

    cli.ok(&[
        "user",
        "create",
        "--pool",
        "acme",
        "--username",
        "alice",
        "--email",
        "a@example.com",
        "--password",
        PASSWORD,
        "--json",
    ]);
    cli.ok(&[
        "user",
        "create",
        "--pool",
        "acme",
        "--username",
        "bob",
        "--email",
        "b@example.com",
        "--password",
        PASSWORD,
        "--json",
    ]);
    cli.ok(&[
        "user",
        "link",
        "--pool",
        "acme",
        "alice",
        "--provider",
        "Google",
        "--subject",
        "123",
        "--json",
    ]);
    let alice = cli.ok(&["user", "show", "--pool", "acme", "alice", "--json"]);
    assert_eq!(alice["identities"][0]["provider"], "Google");
    assert_eq!(alice["identities"][0]["subject"], "123");
    let taken = [
        "user",
        "link",
        "--pool",
        "acme",
        "bob",
        "--provider",
        "Google",
        "--subject",
        "123",
    ];
    assert!(cli.fails(&taken, &[]).contains("already linked"));
    assert!(
        cli.fails(
            &[
                "user",
                "link",
                "--pool",
                "acme",
                "bob",
                "--provider",
                "Nope",
                "--subject",
                "1"
            ],
            &[]
        )
        .contains("Nope")
    );
    cli.ok(&[
        "user",
        "unlink",
        "--pool",
        "acme",
        "alice",
        "--provider",
        "Google",
        "--json",
    ]);
    assert_eq!(
        cli.ok(&["user", "show", "--pool", "acme", "alice", "--json"])["identities"],
        serde_json::json!([])
    );
    assert_eq!(
        cli.ok(&["idp", "list", "--pool", "acme", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    cli.ok(&["idp", "delete", "--pool", "acme", "Google", "--json"]);
    assert!(
        cli.fails(&["idp", "show", "--pool", "acme", "Google"], &[])
            .contains("Google")
    );
}
