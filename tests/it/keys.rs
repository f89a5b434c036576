//! Key rotation: publish first, sign after the delay, drop after every token has expired; and
//! the change reaches other instances.

use chrono::TimeDelta;
use serde_json::Value;
use tessera::keys::{self, KeyStatus};

use crate::support::TestApp;

async fn kids(app: &TestApp) -> Vec<String> {
    let doc: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn signer(app: &TestApp) -> String {
    app.st
        .pools
        .get(app.pool.id.as_str())
        .unwrap()
        .keys
        .signer(app.now())
        .unwrap()
        .kid
        .to_string()
}

#[actix_web::test]
async fn rotation_publishes_then_signs_then_retires() {
    let app = TestApp::builder()
        .config(|c| {
            c.key_activation_delay_secs = 600;
            c.max_token_lifetime_secs = 3600;
        })
        .build()
        .await;
    let old = signer(&app);
    let new = keys::rotate(&app.st, &app.pool.id, app.now(), false)
        .await
        .unwrap();
    assert_eq!(new.status, KeyStatus::Pending);
    assert_eq!(
        kids(&app).await,
        vec![old.clone(), new.kid.to_string()],
        "both keys published at once"
    );
    assert_eq!(
        signer(&app),
        old,
        "the old key signs until the delay passes"
    );

    app.clock.advance(TimeDelta::seconds(600));
    assert_eq!(signer(&app), new.kid.to_string());
    assert_eq!(
        kids(&app).await.len(),
        2,
        "the retired key stays while its tokens may live"
    );

    app.clock.advance(TimeDelta::seconds(3599));
    assert_eq!(kids(&app).await.len(), 2);
    app.clock.advance(TimeDelta::seconds(1));
    assert_eq!(
        kids(&app).await,
        vec![new.kid.to_string()],
        "then it drops out"
    );

    let listed = keys::list(&app.st, &app.pool.id, app.now()).await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.status).collect::<Vec<_>>(),
        [KeyStatus::Expired, KeyStatus::Active]
    );
}

#[actix_web::test]
async fn immediate_rotation_signs_at_once() {
    let app = TestApp::new().await;
    let new = keys::rotate(&app.st, &app.pool.id, app.now(), true)
        .await
        .unwrap();
    assert_eq!(new.status, KeyStatus::Active);
    assert_eq!(signer(&app), new.kid.to_string());
}

#[actix_web::test]
async fn other_instances_pick_up_rotation_on_refresh() {
    let app = TestApp::new().await;
    let sibling = app.sibling().await;
    let before = sibling.pools.get(app.pool.id.as_str()).unwrap();
    keys::rotate(&app.st, &app.pool.id, app.now(), false)
        .await
        .unwrap();
    assert_eq!(sibling.pools.refresh(&sibling).await.unwrap().reloaded, 1);
    let after = sibling.pools.get(app.pool.id.as_str()).unwrap();
    assert!(after.pool.version > before.pool.version);
    let jwks: Value = serde_json::from_slice(&after.jwks(app.now()).body).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(
        sibling.pools.refresh(&sibling).await.unwrap().reloaded,
        0,
        "nothing changed since"
    );
}

#[actix_web::test]
async fn private_keys_are_sealed_at_rest() {
    let app = TestApp::new().await;
    let id = app.pool.id.clone();
    let stored = app
        .st
        .sql
        .run(move |c| tessera::store::sql::keys::list(c, &id))
        .await
        .unwrap();
    assert!(stored[0].private_jwk_sealed.starts_with("v1."));
    assert!(!stored[0].private_jwk_sealed.contains("\"d\""));
    assert!(!stored[0].public_jwk.contains("\"d\""));
}

#[actix_web::test]
async fn a_public_key_planted_in_the_database_is_not_published() {
    use diesel::RunQueryDsl;
    let app = TestApp::new().await;
    let before: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    let (id, now) = (app.pool.id.clone(), app.now());
    app.st
        .sql
        .run(move |c| {
            diesel::sql_query(format!(
                "UPDATE signing_keys SET public_jwk = '{{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}}' WHERE pool_id = '{id}'"
            ))
            .execute(c)?;
            tessera::store::sql::pools::bump_version(c, &id, now)
        })
        .await
        .unwrap();
    app.st.pools.refresh(&app.st).await.unwrap();
    let after: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after, "JWKS is derived from the sealed private key");
}

/// A leaked key: out of the JWKS at once, its tokens refused by userinfo and introspection
/// (here and, after a refresh, on other instances), a new signer, an audit event.
#[actix_web::test]
async fn a_revoked_key_is_unpublished_and_its_tokens_refused() {
    use crate::support::rp::{PASSWORD, basic, spec};
    use openidconnect::OAuth2TokenResponse;

    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let web = app.oidc_client(spec("web")).await;
    let s = web.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let at = web
        .exchange(&code, s.verifier)
        .await
        .unwrap()
        .access_token()
        .secret()
        .clone();
    let userinfo = |token: String| {
        let req = app.http.get(format!("{}/oauth2/userInfo", app.issuer()));
        async move { req.bearer_auth(token).send().await.unwrap().status() }
    };
    let (app, auth) = (&app, basic(&web));
    let introspected = |token: String| {
        let auth = auth.clone();
        async move {
            let body = format!("token={token}");
            let (status, _, b) = app
                .post_form("/oauth2/introspect", Some(&auth), &body)
                .await;
            assert_eq!(status, 200, "{b}");
            b["active"].as_bool().unwrap()
        }
    };
    assert_eq!(userinfo(at.clone()).await, 200);
    assert!(introspected(at.clone()).await);
    let sibling = app.sibling().await;

    let leaked = signer(app);
    let revoked = keys::revoke(&app.st, &app.pool.id, &leaked, app.now())
        .await
        .unwrap();
    let new = revoked.replaced_by.expect("the signer is replaced");
    assert_eq!(new.status, KeyStatus::Active);
    assert_eq!(signer(app), new.kid.to_string());
    assert_eq!(kids(app).await, vec![new.kid.to_string()], "unpublished");
    assert_eq!(userinfo(at.clone()).await, 401, "its token is refused");
    assert!(!introspected(at.clone()).await);

    // Another instance forgets it at its next refresh.
    sibling.pools.refresh(&sibling).await.unwrap();
    let tenant = sibling.pools.get(app.pool.id.as_str()).unwrap();
    assert!(
        tessera::oidc::userinfo::userinfo(&sibling, &tenant, &at, app.now())
            .await
            .is_err()
    );

    let events = tessera::audit::list(&app.st, &app.pool.id, None, 5)
        .await
        .unwrap();
    let event = events.iter().find(|e| e.kind == "key_revoked").unwrap();
    assert!(event.detail.contains(&leaked), "{}", event.detail);

    // A key that never signed is dropped without a replacement; an unknown kid is an error.
    let pending = keys::rotate(&app.st, &app.pool.id, app.now(), false)
        .await
        .unwrap();
    let r = keys::revoke(&app.st, &app.pool.id, pending.kid.as_str(), app.now())
        .await
        .unwrap();
    assert!(r.replaced_by.is_none());
    assert_eq!(signer(app), new.kid.to_string());
    assert!(matches!(
        keys::revoke(&app.st, &app.pool.id, "nope", app.now()).await,
        Err(keys::KeyError::NotFound(_))
    ));
}
