//! Sessions and logout: `sid` in ID tokens, RP-initiated logout ending exactly the hinted
//! session, and OIDC Back-Channel Logout delivered to a receiver with a verifiable token.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::TestApp;
use crate::support::rp::{OidcClient, PASSWORD, base64_part, basic, enc, spec};

/// A relying party's back-channel logout endpoint: every body it receives goes to the channel.
async fn receiver() -> (
    String,
    mpsc::UnboundedReceiver<String>,
    actix_web::dev::ServerHandle,
) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}/backchannel", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/backchannel",
            web::post().to(move |body: String| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(body);
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (uri, rx, handle)
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&base64_part(jwt, 1)).unwrap()
}

/// Signs in `user` in a fresh browser; returns the browser and the ID token.
async fn signed_in(app: &TestApp, c: &OidcClient, user: &str) -> (reqwest::Client, String, String) {
    let browser = app.browser();
    let s = c.start();
    let code = app.sign_in(&browser, &s.url, user, PASSWORD).await.code();
    let t = c.exchange(&code, s.verifier).await.unwrap();
    let refresh = t.refresh_token().unwrap().secret().clone();
    (browser, t.id_token().unwrap().to_string(), refresh)
}

/// Does this browser still have a session (prompt=none gets a code)?
async fn has_session(app: &TestApp, c: &OidcClient, browser: &reqwest::Client) -> bool {
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    app.follow(browser, res).await.0.param("code").is_some()
}

#[actix_web::test]
async fn back_channel_logout_posts_a_verifiable_logout_token() {
    let app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    let (uri, mut rx, _server) = receiver().await;
    let rp = app
        .oidc_client(tessera::clients::ClientSpec {
            backchannel_logout_uri: Some(uri),
            ..spec("rp")
        })
        .await;
    let (browser, id_token, refresh) = signed_in(&app, &rp, "alice").await;
    let sid = claims(&id_token)["sid"].as_str().unwrap().to_string();
    assert!(sid.len() >= 16);
    // An ID token from a refresh names the same session.
    let (status, _, refreshed) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&rp)),
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(claims(refreshed["id_token"].as_str().unwrap())["sid"], sid);

    let res = browser
        .get(format!(
            "{}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            app.issuer(),
            enc("http://127.0.0.1/bye")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let body = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a logout token within 30 s")
        .unwrap();
    let token = body.strip_prefix("logout_token=").unwrap();

    // Verifiable with the pool's published keys, explicitly typed (§2.4).
    let header: Value = serde_json::from_slice(&base64_part(token, 0)).unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    let jwks: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap();
    let jwk = josekit::jwk::Jwk::from_bytes(serde_json::to_vec(key).unwrap()).unwrap();
    let verifier = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &verifier).unwrap();
    let c: Value = serde_json::to_value(payload.claims_set()).unwrap();
    assert_eq!(c["iss"], app.issuer());
    assert_eq!(c["aud"], rp.id.as_str());
    assert_eq!(c["sub"], alice.sub.as_str());
    assert_eq!(c["sid"], sid);
    assert!(c["events"][tessera::oidc::backchannel::EVENT].is_object());
    assert!(c["jti"].is_string());
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    assert!(c.get("nonce").is_none(), "§2.4: never a nonce");

    let doc: Value = app
        .get(&format!(
            "/{}/.well-known/openid-configuration",
            app.pool.id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

#[actix_web::test]
async fn logout_with_a_hint_ends_exactly_that_session() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let (laptop, laptop_token, _) = signed_in(&app, &c, "alice").await;
    let (phone, phone_token, _) = signed_in(&app, &c, "alice").await;
    assert_ne!(claims(&laptop_token)["sid"], claims(&phone_token)["sid"]);

    // The relying party's back end, with no browser cookie, ends the laptop's session.
    let res = app
        .http
        .get(format!(
            "{}/logout?id_token_hint={laptop_token}",
            app.issuer()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        !has_session(&app, &c, &laptop).await,
        "the hinted session ended"
    );
    assert!(has_session(&app, &c, &phone).await, "the other one did not");
}

#[actix_web::test]
async fn back_channel_logout_uris_are_checked() {
    let app = TestApp::new().await;
    for bad in [
        "http://rp.example/logout",
        "not a url",
        "https://rp.example/#x",
    ] {
        let r = tessera::clients::create(
            &app.st,
            &app.pool.id,
            tessera::clients::ClientSpec {
                backchannel_logout_uri: Some(bad.into()),
                ..spec("bad")
            },
            app.now(),
        )
        .await;
        assert!(r.is_err(), "{bad}");
    }
}
