//! Introspection agrees with userinfo (a disabled user's or a deleted client's token is
//! inactive) and shows a client only its own tokens, unless it is a resource server.

use openidconnect::OAuth2TokenResponse;
use tessera::accounts::Writer;
use tessera::clients::ClientSpec;

use crate::support::TestApp;
use crate::support::rp::{OidcClient, PASSWORD, basic, spec};

async fn active(app: &TestApp, auth: &str, token: &str) -> bool {
    let (status, _, b) = app
        .post_form("/oauth2/introspect", Some(auth), &format!("token={token}"))
        .await;
    assert_eq!(status, 200, "{b}");
    b["active"].as_bool().unwrap()
}

/// `username` signs in through `web`: its access and refresh tokens.
async fn signs_in(app: &TestApp, web: &OidcClient, username: &str) -> (String, String) {
    let s = web.start();
    let code = app
        .sign_in(&app.browser(), &s.url, username, PASSWORD)
        .await
        .code();
    let t = web.exchange(&code, s.verifier).await.unwrap();
    let at = t.access_token().secret().clone();
    (at, t.refresh_token().unwrap().secret().clone())
}

#[actix_web::test]
async fn introspection_shows_own_tokens_of_live_users_and_clients_only() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let web = app.oidc_client(spec("web")).await;
    let other = app.oidc_client(spec("other")).await;
    let rs = app
        .oidc_client(ClientSpec {
            introspect_any: true,
            ..spec("api")
        })
        .await;
    let (at, rt) = signs_in(&app, &web, "alice").await;
    let (web_auth, other_auth, rs_auth) = (basic(&web), basic(&other), basic(&rs));

    assert!(active(&app, &web_auth, &at).await);
    assert!(active(&app, &web_auth, &rt).await);
    assert!(
        !active(&app, &other_auth, &at).await,
        "another client's access token"
    );
    assert!(
        !active(&app, &other_auth, &rt).await,
        "another client's refresh token"
    );
    assert!(
        active(&app, &rs_auth, &at).await,
        "a resource server sees access tokens"
    );
    assert!(
        !active(&app, &rs_auth, &rt).await,
        "but never another's refresh token"
    );

    // Disabled: inactive, as userinfo refuses it.
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", false, app.now())
        .await
        .unwrap();
    assert!(!active(&app, &web_auth, &at).await);
    assert!(!active(&app, &rs_auth, &at).await);
    let userinfo = app
        .http
        .get(format!("{}/oauth2/userInfo", app.issuer()))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    // Enabled again: what disabling revoked stays revoked (Cognito's AdminDisableUser
    // "revokes all access tokens"); a new sign-in's token is active.
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", true, app.now())
        .await
        .unwrap();
    assert!(!active(&app, &rs_auth, &at).await);
    app.clock.advance(chrono::TimeDelta::seconds(1));
    let (at, _) = signs_in(&app, &web, "alice").await;
    assert!(active(&app, &rs_auth, &at).await);

    // The token's client deleted: inactive for the resource server too.
    tessera::clients::delete(&app.st, &app.pool.id, &web.id, app.now())
        .await
        .unwrap();
    assert!(!active(&app, &rs_auth, &at).await);
}

/// Userinfo and introspection remember the users they read; any change to a user reaches them
/// at once on the instance that made it and at the next refresh on the others.
#[actix_web::test]
async fn remembered_users_follow_every_change() {
    let app = TestApp::new().await;
    app.user("bob", "bob@example.com").await;
    let web = app.oidc_client(spec("web")).await;
    let (at, _) = signs_in(&app, &web, "bob").await;
    let sibling = app.sibling().await;
    let claims_at = |st: &tessera::state::AppState| {
        let (st, at, now) = (st.clone(), at.clone(), app.now());
        let id = app.pool.id.clone();
        async move {
            let tenant = st.pools.get(id.as_str()).unwrap();
            tessera::oidc::userinfo::userinfo(&st, &tenant, &at, now).await
        }
    };
    assert_eq!(claims_at(&app.st).await.unwrap()["given_name"], "Al");
    assert_eq!(claims_at(&sibling).await.unwrap()["given_name"], "Al");

    // A change on this instance: seen here at once, by the sibling after its refresh.
    let attrs = [("given_name".to_string(), Some("Robert".to_string()))].into();
    tessera::accounts::update_attributes(
        &app.st,
        &app.pool,
        "bob",
        attrs,
        Writer::Admin,
        app.now(),
    )
    .await
    .unwrap();
    assert_eq!(claims_at(&app.st).await.unwrap()["given_name"], "Robert");
    assert_eq!(
        claims_at(&sibling).await.unwrap()["given_name"],
        "Al",
        "remembered until the sibling's refresh"
    );
    let report = sibling.pools.refresh(&sibling).await.unwrap();
    assert_eq!(report.reloaded, 0, "a user change reloads no pool");
    assert_eq!(claims_at(&sibling).await.unwrap()["given_name"], "Robert");

    // Disabled on the sibling: refused there at once, here after the refresh.
    tessera::accounts::set_enabled(&sibling, &app.pool.id, "bob", false, app.now())
        .await
        .unwrap();
    assert!(claims_at(&sibling).await.is_err());
    app.st.pools.refresh(&app.st).await.unwrap();
    assert!(claims_at(&app.st).await.is_err());
}
