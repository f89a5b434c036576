//! Consents a user gave: seen and taken back on the account page and by `tessera user
//! consents`; taking one back revokes the application's refresh tokens and asks again.

use openidconnect::OAuth2TokenResponse;
use serde_json::Value;

use crate::support::TestApp;
use crate::support::rp::{Landed, OidcClient, PASSWORD, basic, hidden, spec};

async fn account_page(app: &TestApp, browser: &reqwest::Client) -> String {
    let res = browser
        .get(format!("{}/account", app.issuer()))
        .send()
        .await
        .unwrap();
    let (Landed::Page { status: 200, body }, _) = app.follow(browser, res).await else {
        panic!("the account page")
    };
    body
}

async fn refresh_status(app: &TestApp, c: &OidcClient, token: &str) -> u16 {
    let body = format!("grant_type=refresh_token&refresh_token={token}");
    app.post_form("/oauth2/token", Some(&basic(c)), &body)
        .await
        .0
}

#[actix_web::test]
async fn a_user_sees_and_takes_back_what_they_allowed() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let third = app
        .oidc_client(tessera::clients::ClientSpec {
            first_party: false,
            ..spec("Photo Printer")
        })
        .await;
    let browser = app.browser();
    let s = third.start();
    let code = app
        .sign_in(&browser, &s.url, "alice", PASSWORD)
        .await
        .code();
    let refresh = third
        .exchange(&code, s.verifier)
        .await
        .unwrap()
        .refresh_token()
        .unwrap()
        .secret()
        .clone();

    let page = account_page(&app, &browser).await;
    assert!(page.contains("Applications you allowed"), "{page}");
    assert!(page.contains("Photo Printer"), "{page}");
    let button = format!("id=\"revoke-{}\"", third.id.as_str());
    assert!(page.contains(&button), "{page}");

    let form = [
        ("csrf", hidden(&page, "csrf")),
        ("action", "revoke_consent".into()),
        ("client_id", third.id.to_string()),
    ];
    let res = browser
        .post(format!("{}/account", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(body.contains("access was removed"), "{body}");
    assert!(!body.contains(&button), "{body}");
    assert_eq!(refresh_status(&app, &third, &refresh).await, 400);
    // The application asks again.
    let res = browser
        .get(format!("{}&prompt=none", third.start().url))
        .send()
        .await
        .unwrap();
    let error = app.follow(&browser, res).await.0.param("error");
    assert_eq!(error.as_deref(), Some("consent_required"));

    let events = tessera::audit::list(&app.st, &app.pool.id, None, 5)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "consent_revoked"
                && e.client_id.as_deref() == Some(third.id.as_str()))
    );
}

#[actix_web::test]
async fn operators_list_and_revoke_consents() {
    let app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    let third = app
        .oidc_client(tessera::clients::ClientSpec {
            first_party: false,
            ..spec("Photo Printer")
        })
        .await;
    let s = third.start();
    app.sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let sub = alice.sub.as_str();
    let listed = tessera::accounts::consents::list(&app.st, &app.pool.id, sub)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_name.as_deref(), Some("Photo Printer"));
    let as_json: Value = serde_json::to_value(&listed).unwrap();
    assert!(
        as_json[0]["scopes"]
            .as_array()
            .unwrap()
            .contains(&"openid".into())
    );
    let now = app.now();
    let revoke = |client: String| {
        let (st, pool) = (app.st.clone(), app.pool.id.clone());
        async move {
            tessera::accounts::consents::revoke(&st, &pool, sub, &client, None, now)
                .await
                .unwrap()
        }
    };
    assert!(revoke(third.id.to_string()).await);
    assert!(
        !revoke(third.id.to_string()).await,
        "nothing left to take back"
    );
    assert!(
        tessera::accounts::consents::list(&app.st, &app.pool.id, sub)
            .await
            .unwrap()
            .is_empty()
    );
}
