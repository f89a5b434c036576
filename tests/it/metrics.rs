//! `/metrics`: Prometheus text that a Prometheus parser reads, and counters that move with
//! what happens (sign-ins by outcome, tokens by grant, requests by route and status, what the
//! pools remember).

use crate::support::TestApp;
use crate::support::rp::{Landed, PASSWORD, spec};

fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let text = tessera::http::metrics::exposition(&app.st);
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of `metric` whose labels include every pair of `labels` (0 when absent).
fn value(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[actix_web::test]
async fn sign_ins_tokens_and_requests_are_counted() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let before = scrape(&app);
    assert_eq!(value(&before, "tessera_sign_ins_total", &[]), 0.0);

    let wrong = app
        .sign_in(&app.browser(), &c.start().url, "alice", "wrong")
        .await;
    assert!(matches!(wrong, Landed::Page { status: 401, .. }));
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let tokens = c.exchange(&code, s.verifier).await.unwrap();
    // Userinfo checks the access token and reads its user; a token is remembered once it
    // has been checked twice.
    for _ in 0..2 {
        let userinfo = app
            .http
            .get(format!("{}/oauth2/userInfo", app.issuer()))
            .bearer_auth(openidconnect::OAuth2TokenResponse::access_token(&tokens).secret())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 200);
    }

    let after = scrape(&app);
    // What the pools remember: the token endpoint's subject (and with it its user), the
    // checked access token.
    let kind = |k| value(&after, "tessera_pool_cache_entries", &[("kind", k)]);
    assert_eq!(
        (kind("users"), kind("subjects"), kind("tokens")),
        (1.0, 1.0, 1.0)
    );
    let outcome = |o| value(&after, "tessera_sign_ins_total", &[("outcome", o)]);
    assert_eq!(outcome("wrong_password"), 1.0);
    assert_eq!(outcome("success"), 1.0);
    let grant = [("grant", "authorization_code")];
    assert_eq!(value(&after, "tessera_tokens_issued_total", &grant), 1.0);
    // Requests are labelled by route pattern, never by the raw path (no pool id, no query).
    let login_401: f64 = after
        .samples
        .iter()
        .filter(|x| x.metric == "tessera_http_requests_total")
        .filter(|x| x.labels.get("status") == Some("401"))
        .filter(|x| x.labels.get("route").is_some_and(|r| r.ends_with("/login")))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(login_401, 1.0);
    assert!(
        after
            .samples
            .iter()
            .filter_map(|x| x.labels.get("route"))
            .all(|r| !r.contains(app.pool.id.as_str()) && !r.contains('?')),
    );
    // Password checks and store operations were timed; the process collector reports memory,
    // and the hashing workers what they hold (read as `/metrics` reads it).
    let text = tessera::http::metrics::exposition(&app.st);
    for name in [
        "tessera_password_hash_duration_seconds_count{op=\"verify\"}",
        "tessera_store_operation_duration_seconds_count{store=\"sql\"}",
        "tessera_password_hash_queue 0",
        "tessera_password_hash_memory_bytes ",
        "tessera_password_hash_abandoned_total 0",
        "tessera_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    #[cfg(target_os = "linux")]
    assert!(value(&after, "tessera_process_resident_memory_bytes", &[]) > 0.0);
}
