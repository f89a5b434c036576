//! Sign-in with upstream identity providers, against in-process fakes that behave as Google,
//! a generic OpenID provider, Facebook and Login with Amazon document: new and returning
//! users, mapped attributes, the `identities` claim, going straight to a provider, home-realm
//! discovery, and every bad upstream answer giving a page and creating nothing. Linking is in
//! `federation_links`.

use serde_json::Value;
use tessera::clients::ClientSpec;
use tessera::federation::providers::{self, ProviderSpec};
use tessera::ids::Secret;
use tessera::model::{ProviderKind, ProviderSettings, UserStatus};

use crate::support::TestApp;
use crate::support::fake_idp::{CLIENT_ID, CLIENT_SECRET, FakeIdp, FakeUser, Fault};
use crate::support::rp::{Landed, OidcClient, REDIRECT, base64_part, hidden, spec};

/// Registers a provider of `kind` at the fake (its endpoints replace the real ones).
pub(crate) async fn provider(
    app: &TestApp,
    fake: &FakeIdp,
    kind: ProviderKind,
    name: Option<&str>,
) -> String {
    let mut settings = ProviderSettings::default();
    match kind {
        ProviderKind::Google | ProviderKind::Oidc => settings.issuer = Some(fake.issuer()),
        ProviderKind::Facebook => {
            settings.authorize_url = Some(format!("{}/fb/dialog/oauth", fake.base));
            settings.token_url = Some(format!("{}/fb/oauth/access_token", fake.base));
            settings.userinfo_url = Some(format!("{}/fb/me", fake.base));
        }
        ProviderKind::Amazon => {
            settings.authorize_url = Some(format!("{}/amzn/ap/oa", fake.base));
            settings.token_url = Some(format!("{}/amzn/auth/o2/token", fake.base));
            settings.userinfo_url = Some(format!("{}/amzn/user/profile", fake.base));
        }
    }
    if name == Some("Corp") {
        settings.identifiers = vec!["corp.example".into()];
    }
    let spec = ProviderSpec {
        name: name.map(str::to_string),
        kind: Some(kind),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        settings,
    };
    providers::create(&app.st, &app.pool.id, spec, app.now())
        .await
        .unwrap()
        .name
}

/// A client whose users may sign in with the password form and `providers`.
pub(crate) async fn client(app: &TestApp, providers: &[&str]) -> OidcClient {
    let mut names = vec!["COGNITO".to_string()];
    names.extend(providers.iter().map(|p| p.to_string()));
    app.oidc_client(ClientSpec {
        identity_providers: names,
        ..spec("fed")
    })
    .await
}

/// From the client's authorization URL: clicks "Continue with `provider`" on the sign-in page
/// (when the request did not go straight to a provider), lets the fake approve, and follows
/// the browser back until it lands at the client or on a page.
pub(crate) async fn federate(
    app: &TestApp,
    fake: &FakeIdp,
    browser: &reqwest::Client,
    url: &str,
    provider: &str,
) -> Landed {
    let res = browser.get(url).send().await.unwrap();
    let upstream = match app.follow(browser, res).await.0 {
        Landed::Client(u) if u.as_str().starts_with(&fake.base) => u,
        Landed::Page { status: 200, body } if body.contains("Continue with") => {
            let form = [
                ("tx", hidden(&body, "tx")),
                ("csrf", hidden(&body, "csrf")),
                ("provider", provider.to_string()),
            ];
            let res = browser
                .post(format!("{}/{}/federate", app.base, app.pool.id))
                .form(&form)
                .send()
                .await
                .unwrap();
            match app.follow(browser, res).await.0 {
                Landed::Client(u) if u.as_str().starts_with(&fake.base) => u,
                other => return other,
            }
        }
        other => return other,
    };
    let res = browser.get(upstream.as_str()).send().await.unwrap();
    app.follow(browser, res).await.0
}

/// The claims of the ID token the client gets for `landed`'s code.
pub(crate) async fn id_claims(
    c: &OidcClient,
    started: crate::support::rp::Started,
    landed: &Landed,
) -> Value {
    let tokens = c.exchange(&landed.code(), started.verifier).await.unwrap();
    let id = openidconnect::TokenResponse::id_token(&tokens)
        .unwrap()
        .to_string();
    serde_json::from_slice(&base64_part(&id, 1)).unwrap()
}

pub(crate) async fn user_count(app: &TestApp) -> usize {
    tessera::accounts::page(&app.st, &app.pool.id, None, 1000)
        .await
        .unwrap()
        .users
        .len()
}

#[actix_web::test]
async fn google_sign_in_creates_then_recognises_the_user() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Google, None).await;
    let c = client(&app, &["Google"]).await;
    let browser = app.browser();
    let started = c.start();
    let landed = federate(&app, &fake, &browser, &started.url, "Google").await;
    assert_eq!(fake.last("code_challenge_method").as_deref(), Some("S256"));
    assert!(fake.last("nonce").is_some_and(|n| n.len() >= 32));
    assert_eq!(
        fake.last("redirect_uri"),
        Some(format!("{}/oauth2/idpresponse", app.issuer()))
    );
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(claims["cognito:username"], "Google_1000001");
    assert_eq!(claims["email"], "pat@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["given_name"], "Pat");
    assert_eq!(claims["amr"], serde_json::json!(["fed"]));
    assert_eq!(claims["acr"], "urn:tessera:acr:federated");
    let identity = &claims["identities"][0];
    assert_eq!(identity["userId"], "1000001");
    assert_eq!(identity["providerName"], "Google");
    assert_eq!(identity["providerType"], "Google");
    assert_eq!(identity["primary"], "true");
    let user = tessera::accounts::find(&app.st, &app.pool.id, "Google_1000001")
        .await
        .unwrap();
    assert_eq!(user.status, UserStatus::ExternalProvider);
    assert!(user.password_hash.is_none());
    let (pool, sub) = (app.pool.id.clone(), user.sub.to_string());
    let groups = app
        .st
        .sql
        .run(move |c| tessera::store::sql::groups::of_user(c, &pool, &sub))
        .await
        .unwrap();
    assert_eq!(groups, vec![format!("{}_Google", app.pool.id)]);
    let events = tessera::audit::list(&app.st, &app.pool.id, Some(user.sub.to_string()), 50)
        .await
        .unwrap();
    for kind in ["federated_user_created", "federated_sign_in"] {
        assert!(events.iter().any(|e| e.kind == kind), "{kind}: {events:?}");
    }

    // The SSO session answers prompt=none; a returning identity is the same user, remapped.
    let silent = c.start();
    let res = browser
        .get(format!("{}&prompt=none", silent.url))
        .send()
        .await
        .unwrap();
    let quiet = app.follow(&browser, res).await.0;
    assert!(quiet.param("code").is_some(), "{quiet:?}");
    fake.set_user(FakeUser {
        given_name: "Patricia".into(),
        ..fake.user()
    });
    // Google rotates its key: the cached key set is fetched again, once.
    fake.rotate_key();
    let again = c.start();
    let landed = federate(&app, &fake, &app.browser(), &again.url, "Google").await;
    let claims = id_claims(&c, again, &landed).await;
    assert_eq!(claims["sub"], user.sub.as_str());
    assert_eq!(claims["given_name"], "Patricia");
    assert_eq!(user_count(&app).await, 1);
}

#[actix_web::test]
async fn facebook_and_amazon_sign_in_with_their_profiles() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Facebook, None).await;
    provider(&app, &fake, ProviderKind::Amazon, None).await;
    let c = client(&app, &["Facebook", "LoginWithAmazon"]).await;
    let started = c.start();
    let landed = federate(&app, &fake, &app.browser(), &started.url, "Facebook").await;
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(claims["cognito:username"], "Facebook_1000001");
    assert_eq!(claims["given_name"], "Pat");
    assert_eq!(claims["family_name"], "Doe");
    // Facebook does not say the email is verified, so it is not.
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["identities"][0]["providerType"], "Facebook");

    fake.set_user(FakeUser {
        subject: "2000002".into(),
        email: Some("sam@example.com".into()),
        ..fake.user()
    });
    let started = c.start();
    let landed = federate(&app, &fake, &app.browser(), &started.url, "LoginWithAmazon").await;
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(
        claims["cognito:username"],
        "LoginWithAmazon_amzn1.account.2000002"
    );
    assert_eq!(claims["name"], "Pat Doe");
    assert_eq!(claims["identities"][0]["providerName"], "LoginWithAmazon");
}

#[actix_web::test]
async fn requests_go_straight_to_a_named_or_discovered_provider() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Oidc, Some("Corp")).await;
    let c = client(&app, &["Corp"]).await;
    let landed_at = async |url: String| {
        let browser = app.browser();
        let res = browser.get(url).send().await.unwrap();
        app.follow(&browser, res).await.0
    };
    for extra in [
        "&identity_provider=Corp",
        "&idp_identifier=bob%40corp.example",
    ] {
        let landed = landed_at(format!("{}{extra}", c.start().url)).await;
        assert!(
            matches!(&landed, Landed::Client(u) if u.as_str().starts_with(&fake.base)),
            "{extra}: {landed:?}"
        );
    }
    // A whole sign-in at the generic provider, straight from the request.
    let started = c.start();
    let url = format!("{}&identity_provider=Corp", started.url);
    let landed = federate(&app, &fake, &app.browser(), &url, "Corp").await;
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(claims["cognito:username"], "Corp_1000001");
    assert_eq!(claims["identities"][0]["providerType"], "OIDC");
    assert_eq!(claims["identities"][0]["issuer"], fake.issuer());
    let landed = landed_at(format!("{}&identity_provider=Nope", c.start().url)).await;
    assert_eq!(landed.param("error").as_deref(), Some("invalid_request"));
    let landed = landed_at(format!("{}&identity_provider=COGNITO", c.start().url)).await;
    assert!(
        matches!(&landed, Landed::Page { status: 200, body } if body.contains("name=\"password\""))
    );
    // A client that does not list the provider cannot use it.
    let other = app.oidc_client(spec("plain")).await;
    let landed = landed_at(format!("{}&identity_provider=Corp", other.start().url)).await;
    assert_eq!(landed.param("error").as_deref(), Some("invalid_request"));

    // Home-realm discovery: an email of the provider's domain typed on the sign-in page.
    let browser = app.browser();
    let res = browser.get(c.start().url).send().await.unwrap();
    let Landed::Page { body, .. } = app.follow(&browser, res).await.0 else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "Bob@Corp.Example".to_string()),
        ("password", String::new()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let landed = app.follow(&browser, res).await.0;
    assert!(
        matches!(&landed, Landed::Client(u) if u.as_str().starts_with(&fake.base)),
        "{landed:?}"
    );
}

#[actix_web::test]
async fn bad_upstream_answers_show_a_page_and_create_nothing() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Google, None).await;
    let c = client(&app, &["Google"]).await;
    for fault in [
        Fault::Deny,
        Fault::WrongNonce,
        Fault::WrongAudience,
        Fault::Expired,
        Fault::BadSignature,
        Fault::AlgNone,
        Fault::UnknownKid,
        Fault::TokenError,
        Fault::Oversized,
        Fault::NoEmail,
    ] {
        fake.set_fault(fault);
        let landed = federate(&app, &fake, &app.browser(), &c.start().url, "Google").await;
        let Landed::Page { status, body } = &landed else {
            panic!("{fault:?}: {landed:?}")
        };
        assert_eq!(*status, 401, "{fault:?}");
        assert!(
            body.contains("could not sign you in with Google"),
            "{fault:?}: {body}"
        );
        assert_eq!(user_count(&app).await, 0, "{fault:?}");
    }
    // A state is accepted once, and only a known one.
    fake.set_fault(Fault::None);
    let browser = app.browser();
    let res = browser
        .get(format!("{}&identity_provider=Google", c.start().url))
        .send()
        .await
        .unwrap();
    let Landed::Client(at_fake) = app.follow(&browser, res).await.0 else {
        panic!()
    };
    let back = browser.get(at_fake.as_str()).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_string();
    let first = browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 302);
    let replay = app.browser().get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    // An answer naming another issuer (RFC 9207 mix-up defence) is refused.
    let browser = app.browser();
    let res = browser
        .get(format!("{}&identity_provider=Google", c.start().url))
        .send()
        .await
        .unwrap();
    let Landed::Client(at_fake) = app.follow(&browser, res).await.0 else {
        panic!()
    };
    let back = browser.get(at_fake.as_str()).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_string();
    let mixed = browser
        .get(format!("{callback}&iss=https%3A%2F%2Fevil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), 401);
    assert_eq!(user_count(&app).await, 1, "only the one signed in above");
    let forged = browser
        .get(format!(
            "{}/oauth2/idpresponse?code=x&state=forged",
            app.issuer()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("expired"));
}

#[actix_web::test]
async fn clients_that_name_the_provider_hear_its_no_and_mfa_is_never_skipped() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    provider(&app, &fake, ProviderKind::Google, None).await;
    let c = client(&app, &["Google"]).await;
    fake.set_fault(Fault::Deny);
    let started = c.start();
    let url = format!("{}&identity_provider=Google", started.url);
    let landed = federate(&app, &fake, &app.browser(), &url, "Google").await;
    assert_eq!(landed.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        landed.param("state").as_deref(),
        Some(started.state.secret().as_str())
    );

    fake.set_fault(Fault::None);
    let strict = app
        .oidc_client(ClientSpec {
            identity_providers: vec!["Google".into()],
            require_mfa: true,
            ..spec("strict")
        })
        .await;
    let landed = federate(&app, &fake, &app.browser(), &strict.start().url, "Google").await;
    assert_eq!(
        landed.param("error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{landed:?}"
    );
    // A client without COGNITO shows the provider buttons only.
    let browser = app.browser();
    let res = browser.get(strict.start().url).send().await.unwrap();
    let Landed::Page { body, .. } = app.follow(&browser, res).await.0 else {
        panic!()
    };
    assert!(body.contains("Continue with Google") && !body.contains("name=\"password\""));
    let _ = REDIRECT;
}

#[actix_web::test]
async fn a_provider_that_does_not_answer_in_time_costs_one_sign_in_a_page() {
    let app = TestApp::builder()
        .config(|c| c.upstream_timeout_secs = 1)
        .build()
        .await;
    let fake = FakeIdp::start().await;
    provider(&app, &fake, ProviderKind::Google, None).await;
    let c = client(&app, &["Google"]).await;
    fake.set_fault(Fault::Slow);
    let landed = federate(&app, &fake, &app.browser(), &c.start().url, "Google").await;
    let Landed::Page { status, body } = &landed else {
        panic!("{landed:?}")
    };
    assert_eq!(*status, 401);
    assert!(body.contains("could not sign you in with Google"), "{body}");
    assert_eq!(user_count(&app).await, 0);
}
