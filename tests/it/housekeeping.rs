//! Housekeeping: expired refresh tokens, audit events past the retention and keys no longer
//! published are deleted, by one instance at a time (the lease), and the run is counted.

use chrono::TimeDelta;
use openidconnect::OAuth2TokenResponse;
use serde_json::Value;
use tessera::keys::{self, KeyStatus};

use crate::support::TestApp;
use crate::support::rp::{PASSWORD, basic, spec};

#[actix_web::test]
async fn housekeeping_removes_expired_rows_under_a_lease() {
    let app = TestApp::builder()
        .config(|c| c.audit_retention_days = 60)
        .build()
        .await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let t = c.exchange(&code, s.verifier).await.unwrap();
    let refresh = t.refresh_token().unwrap().secret().clone();
    let old = keys::list(&app.st, &app.pool.id, app.now()).await.unwrap();
    keys::rotate(&app.st, &app.pool.id, app.now(), true)
        .await
        .unwrap();

    // Nothing has expired yet: a run removes nothing.
    let swept = tessera::housekeeping::run_once(&app.st).await.unwrap();
    assert_eq!(swept.total(), 0, "{swept:?}");

    // Another instance holds the lease: this one skips its run.
    assert!(
        app.st
            .kv
            .put_if_absent(
                "housekeeping:lease",
                b"other",
                std::time::Duration::from_secs(60)
            )
            .await
            .unwrap()
    );
    assert_eq!(tessera::housekeeping::run_once(&app.st).await, None);
    app.st.kv.delete("housekeeping:lease").await.unwrap();

    // 61 days on: the refresh token (30 days), the sign-in's audit events (60 days) and the
    // key retired a day after the rotation are gone.
    app.clock.advance(TimeDelta::days(61));
    let swept = tessera::housekeeping::run_once(&app.st).await.unwrap();
    assert_eq!(swept.refresh_tokens, 1, "{swept:?}");
    assert!(swept.audit_events >= 1, "{swept:?}");
    assert_eq!(swept.signing_keys, old.len(), "{swept:?}");
    let (_, _, b) = app
        .post_form(
            "/oauth2/introspect",
            Some(&basic(&c)),
            &format!("token={refresh}"),
        )
        .await;
    assert_eq!(b["active"], false);
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
    let now = keys::list(&app.st, &app.pool.id, app.now()).await.unwrap();
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].status, KeyStatus::Active);
    let jwks: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    let metrics = tessera::http::metrics::exposition(&app.st);
    assert!(
        metrics.contains("tessera_housekeeping_removed_total{what=\"refresh_tokens\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_housekeeping_runs_total 2"),
        "{metrics}"
    );
}
