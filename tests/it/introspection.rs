//! Introspection agrees with userinfo (a disabled user's or a deleted client's token is
//! inactive) and shows a client only its own tokens, unless it is a resource server; what
//! userinfo, introspection and the token endpoint remember follows every change.

use openidconnect::OAuth2TokenResponse;
use tessera::accounts::Writer;
use tessera::clients::ClientSpec;

use crate::support::TestApp;
use crate::support::rp::{OidcClient, PASSWORD, base64_part, basic, spec};

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

/// The token endpoint remembers whom it issues tokens about (the user, their groups and roles,
/// their linked identities); a membership, group or link change reaches the tokens at once on
/// the instance that made it and at the next refresh on the others, like a user change.
#[actix_web::test]
async fn remembered_subjects_follow_group_and_identity_changes() {
    use tessera::accounts::groups::{self, GroupSpec};
    let app = TestApp::new().await;
    let sub = app.user("carol", "carol@example.com").await.sub;
    let web = app.oidc_client(spec("web")).await;
    let (_, mut rt) = signs_in(&app, &web, "carol").await;
    let sibling = app.sibling().await;
    let auth = basic(&web);
    let pool = app.pool.id.clone();
    // A refresh on `st` (rotating `rt`): the new ID token's groups and identities.
    let mut refreshed = async |st: &tessera::state::AppState| {
        let tenant = st.pools.get(pool.as_str()).unwrap();
        let body = format!("grant_type=refresh_token&refresh_token={rt}");
        let params = tessera::oidc::params::Params::parse(body.as_bytes()).unwrap();
        let res =
            tessera::oidc::token::exchange(st, &tenant, Some(auth.as_bytes()), &params, app.now())
                .await
                .unwrap();
        rt = res.refresh_token.unwrap();
        let id = res.id_token.unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&base64_part(&id, 1)).unwrap();
        let groups = claims["cognito:groups"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (groups, claims["identities"].as_array().map_or(0, Vec::len))
    };
    assert_eq!(refreshed(&app.st).await, (vec![], 0));
    assert_eq!(refreshed(&sibling).await, (vec![], 0));

    // Added to a group here: in this instance's next token at once, the sibling's after its refresh.
    let spec = GroupSpec {
        description: String::new(),
        precedence: 1,
        role_arn: None,
    };
    groups::create(&app.st, &pool, "editors", spec, app.now())
        .await
        .unwrap();
    groups::set_member(&app.st, &pool, "editors", "carol", true)
        .await
        .unwrap();
    assert_eq!(refreshed(&app.st).await, (vec!["editors".into()], 0));
    assert_eq!(
        refreshed(&sibling).await,
        (vec![], 0),
        "remembered until the sibling's refresh"
    );
    sibling.pools.refresh(&sibling).await.unwrap();
    assert_eq!(refreshed(&sibling).await, (vec!["editors".into()], 0));

    // The group deleted on the sibling: gone there at once, here after the refresh.
    groups::delete(&sibling, &pool, "editors").await.unwrap();
    assert_eq!(refreshed(&sibling).await, (vec![], 0));
    app.st.pools.refresh(&app.st).await.unwrap();
    assert_eq!(refreshed(&app.st).await, (vec![], 0));

    // An upstream identity linked here: in the `identities` claim at once, and on the sibling
    // (which remembers the user unlinked) after its refresh.
    sibling.pools.refresh(&sibling).await.unwrap();
    assert_eq!(refreshed(&sibling).await, (vec![], 0));
    let linked = tessera::federation::identities::link;
    linked(
        &app.st,
        &pool,
        "Google",
        "g-1",
        sub.as_str(),
        None,
        app.now(),
    )
    .await
    .unwrap();
    assert_eq!(refreshed(&app.st).await, (vec![], 1));
    assert_eq!(refreshed(&sibling).await, (vec![], 0));
    sibling.pools.refresh(&sibling).await.unwrap();
    assert_eq!(refreshed(&sibling).await, (vec![], 1));
}
