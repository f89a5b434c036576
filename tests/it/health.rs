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
