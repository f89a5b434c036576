//! Liveness, readiness, unknown routes and request ids.

use crate::support::TestApp;

#[actix_web::test]
async fn healthz_and_readyz() {
    let app = TestApp::new().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

#[actix_web::test]
async fn unknown_route_is_json_404() {
    let app = TestApp::new().await;
    let r = app.get("/nope/nothing/here").await;
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[actix_web::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let plain = TestApp::new().await;
    let res = plain.get("/healthz").await;
    assert!(res.headers().get("strict-transport-security").is_none());
    let tls = TestApp::builder()
        .config(|c| c.public_url = Some("https://id.example.com".into()))
        .build()
        .await;
    let res = tls.get("/healthz").await;
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}
