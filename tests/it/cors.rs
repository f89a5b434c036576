//! CORS for browser apps: token, userinfo and revocation answer preflights and echo the
//! origins of the pool's clients (their redirect URIs and `--allowed-origin`s), never `*`;
//! a foreign origin gets no CORS headers. Discovery and JWKS stay readable from anywhere.

use reqwest::Method;
use tessera::clients::ClientSpec;

use crate::support::TestApp;
use crate::support::rp::spec;

const ALLOWED: &str = "http://127.0.0.1";
const SPA: &str = "https://spa.example";
const FOREIGN: &str = "https://evil.example";

#[actix_web::test]
async fn browser_endpoints_answer_cors_for_registered_origins_only() {
    let app = TestApp::new().await;
    // spec("web") redirects to http://127.0.0.1/cb.
    app.oidc_client(spec("web")).await;
    app.oidc_client(ClientSpec {
        allowed_origins: vec![format!("{SPA}/")],
        ..spec("spa")
    })
    .await;
    for path in ["/oauth2/token", "/oauth2/userInfo", "/oauth2/revoke"] {
        let url = format!("{}{path}", app.issuer());
        for origin in [ALLOWED, SPA] {
            let res = app
                .http
                .request(Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 204, "{path} {origin}");
            let h = res.headers();
            assert_eq!(h["access-control-allow-origin"], origin, "{path}");
            assert!(
                h["access-control-allow-methods"]
                    .to_str()
                    .unwrap()
                    .contains("POST")
            );
            assert!(
                h["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .contains("Authorization")
            );
            assert_eq!(h["vary"], "Origin");
        }
        let res = app
            .http
            .request(Method::OPTIONS, &url)
            .header("origin", FOREIGN)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{path}: a foreign origin is not allowed"
        );
        assert!(res.headers().get("access-control-allow-methods").is_none());
    }
    // The answers themselves: the allowed origin echoed, the foreign one nothing, never `*`.
    let token = format!("{}/oauth2/token", app.issuer());
    for (origin, echoed) in [(ALLOWED, Some(ALLOWED)), (FOREIGN, None)] {
        let res = app
            .http
            .post(&token)
            .header("origin", origin)
            .form(&[("grant_type", "authorization_code"), ("code", "nope")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
        let acao = res.headers().get("access-control-allow-origin");
        assert_eq!(acao.map(|v| v.to_str().unwrap()), echoed, "{origin}");
    }
    let res = app
        .http
        .get(format!("{}/oauth2/userInfo", app.issuer()))
        .header("origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["access-control-allow-origin"], SPA);
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("WWW-Authenticate")
    );
    // Public documents stay `*`.
    let res = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.issuer()))
        .header("origin", FOREIGN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[actix_web::test]
async fn allowed_origins_must_be_bare_origins() {
    let app = TestApp::new().await;
    for bad in [
        "https://spa.example/app",
        "https://spa.example/?x=1",
        "ftp://spa.example",
        "*",
        "null",
    ] {
        let err = tessera::clients::create(
            &app.st,
            &app.pool.id,
            ClientSpec {
                allowed_origins: vec![bad.into()],
                ..spec("spa")
            },
            app.now(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("allowed origin"), "{bad}: {err}");
    }
}
