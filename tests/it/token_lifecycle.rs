//! Token lifecycle after the code flow: refresh rotation and reuse, revocation, userinfo,
//! expiry, per-client lifetimes, logout, and pool isolation.

use chrono::TimeDelta;
use futures_util::future::join_all;
use openidconnect::core::CoreTokenResponse;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::support::TestApp;
use crate::support::rp::{OidcClient, PASSWORD, base64_part, basic, enc, hidden, spec};

/// alice (already a user) signs in through `c` in a fresh browser and the client redeems her
/// code: the token response.
async fn alice_signs_in(app: &TestApp, c: &OidcClient) -> CoreTokenResponse {
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    c.exchange(&code, s.verifier).await.unwrap()
}

#[actix_web::test]
async fn expired_codes_and_tokens() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    app.clock.advance(TimeDelta::seconds(61));
    assert_eq!(
        c.exchange(&code, s.verifier).await.unwrap_err(),
        "invalid_grant"
    );

    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let tokens = c.exchange(&code, s.verifier).await.unwrap();
    let at = tokens.access_token().secret().clone();
    let url = format!("{}/oauth2/userInfo", app.issuer());
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance(TimeDelta::seconds(3600));
    let res = app.http.get(&url).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"the access token is invalid or expired\"",
            app.issuer()
        )
    );
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let first = alice_signs_in(&app, &c).await;
    let r1 = first.refresh_token().unwrap().clone();
    let second =
        c.rp.exchange_refresh_token(&r1)
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap();
    let r2 = second.refresh_token().unwrap().clone();
    assert_ne!(r1.secret(), r2.secret(), "rotated");
    assert!(second.id_token().is_some());
    // Narrowing is allowed, widening is not.
    let body = format!(
        "grant_type=refresh_token&refresh_token={}&scope=openid%20phone",
        r2.secret()
    );
    let (s, _, b) = app
        .post_form("/oauth2/token", Some(&basic(&c)), &body)
        .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));
    // Reuse of r1: fails and takes r2 down with it.
    assert!(
        c.rp.exchange_refresh_token(&r1)
            .unwrap()
            .request_async(&c.http)
            .await
            .is_err()
    );
    assert!(
        c.rp.exchange_refresh_token(&r2)
            .unwrap()
            .request_async(&c.http)
            .await
            .is_err()
    );
}

#[actix_web::test]
async fn revoking_a_refresh_token_revokes_its_family_and_disabled_users_cannot_refresh() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let t = alice_signs_in(&app, &c).await;
    let r = t.refresh_token().unwrap().secret().clone();
    let (_, _, b) = app
        .post_form(
            "/oauth2/introspect",
            Some(&basic(&c)),
            &format!("token={r}"),
        )
        .await;
    assert_eq!(b["active"], true);
    // RFC 7662: token_type holds an access token type; a refresh token has none.
    assert!(b.get("token_type").is_none(), "{b}");
    assert_eq!(
        app.post_form(
            "/oauth2/revoke",
            Some(&basic(&c)),
            &format!("token={r}&token_type_hint=refresh_token")
        )
        .await
        .0,
        200
    );
    let (_, _, b) = app
        .post_form(
            "/oauth2/introspect",
            Some(&basic(&c)),
            &format!("token={r}"),
        )
        .await;
    assert_eq!(b["active"], false);

    let t = alice_signs_in(&app, &c).await;
    tessera::accounts::set_enabled(&app.st, &app.pool.id, "alice", false, app.now())
        .await
        .unwrap();
    let err =
        c.rp.exchange_refresh_token(t.refresh_token().unwrap())
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"));
    let res = app
        .http
        .get(format!("{}/oauth2/userInfo", app.issuer()))
        .bearer_auth(t.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn userinfo_input_and_revoked_tokens() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let at = c
        .exchange(&code, s.verifier)
        .await
        .unwrap()
        .access_token()
        .secret()
        .clone();
    let url = format!("{}/oauth2/userInfo", app.issuer());
    let res = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "form body on POST");
    // RFC 6750 §3.1: no token, no error code (the realm only); a malformed request is
    // invalid_request (400); a bad token is invalid_token (401).
    let realm = format!("Bearer realm=\"{}\"", app.issuer());
    for (auth, status, error) in [
        ("", 401, None),
        ("Basic abc", 401, None),
        ("Bearer", 400, Some("invalid_request")),
        ("Bearer garbage", 401, Some("invalid_token")),
    ] {
        let res = app
            .http
            .get(&url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{auth:?}");
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        match error {
            None => assert_eq!(challenge, realm, "{auth:?}"),
            Some(code) => assert!(
                challenge.starts_with(&format!("{realm}, error=\"{code}\", error_description=\"")),
                "{auth:?}: {challenge}"
            ),
        }
    }
    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"].to_str().unwrap(), realm);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);
    app.post_form("/oauth2/revoke", Some(&basic(&c)), &format!("token={at}"))
        .await;
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[actix_web::test]
async fn logout_ends_the_session_and_redirects_only_to_registered_uris() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let s = c.start();
    let code = app
        .sign_in(&browser, &s.url, "alice", PASSWORD)
        .await
        .code();
    let id_token = c
        .exchange(&code, s.verifier)
        .await
        .unwrap()
        .id_token()
        .unwrap()
        .to_string();
    let res = browser
        .get(format!(
            "{}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye1",
            app.issuer(),
            enc("http://127.0.0.1/bye")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "http://127.0.0.1/bye?state=bye1");
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.follow(&browser, res).await.0.param("error").as_deref(),
        Some("login_required"),
        "session ended"
    );

    // Cognito's form, an unregistered URI, and no client at all.
    let res = browser
        .get(format!(
            "{}/logout?client_id={}&logout_uri={}",
            app.issuer(),
            c.id,
            enc("http://127.0.0.1/bye")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "http://127.0.0.1/bye");
    let res = browser
        .get(format!(
            "{}/logout?client_id={}&logout_uri={}",
            app.issuer(),
            c.id,
            enc("https://evil.example/")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    let res = browser
        .get(format!("{}/logout", app.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("signed out"));
}

#[actix_web::test]
async fn tokens_do_not_cross_pools() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let at = c
        .exchange(&code, s.verifier)
        .await
        .unwrap()
        .access_token()
        .secret()
        .clone();
    let other = tessera::pools::create(&app.st, "other", app.now())
        .await
        .unwrap();
    let res = app
        .http
        .get(format!("{}/{}/oauth2/userInfo", app.base, other.id))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn refresh_reuse_grace_window_tolerates_a_concurrent_duplicate() {
    let app = TestApp::builder()
        .config(|c| c.refresh_reuse_grace_secs = 10)
        .build()
        .await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let r1 = alice_signs_in(&app, &c)
        .await
        .refresh_token()
        .unwrap()
        .clone();
    let a =
        c.rp.exchange_refresh_token(&r1)
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap();
    app.clock.advance(TimeDelta::seconds(5));
    let b =
        c.rp.exchange_refresh_token(&r1)
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap();
    assert_ne!(
        a.refresh_token().unwrap().secret(),
        b.refresh_token().unwrap().secret()
    );
    c.rp.exchange_refresh_token(a.refresh_token().unwrap())
        .unwrap()
        .request_async(&c.http)
        .await
        .unwrap();
    // Past the window, a reuse is theft again: the family dies.
    app.clock.advance(TimeDelta::seconds(11));
    assert!(
        c.rp.exchange_refresh_token(&r1)
            .unwrap()
            .request_async(&c.http)
            .await
            .is_err()
    );
    assert!(
        c.rp.exchange_refresh_token(b.refresh_token().unwrap())
            .unwrap()
            .request_async(&c.http)
            .await
            .is_err()
    );
}

#[actix_web::test]
async fn a_burst_of_one_refresh_token_rotates_it_once_and_revokes_the_family() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let r1 = alice_signs_in(&app, &c)
        .await
        .refresh_token()
        .unwrap()
        .clone();
    // Eight uses of one token at once (no grace window): one rotation wins, every other one
    // is a reuse, which revokes the family, the winner's new token with it.
    let uses = (0..8).map(|_| {
        let request = c.rp.exchange_refresh_token(&r1).unwrap();
        async { request.request_async(&c.http).await }
    });
    let answers = join_all(uses).await;
    let won: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "exactly one rotation of one token");
    let next = won[0].refresh_token().unwrap();
    assert_ne!(next.secret(), r1.secret());
    assert!(
        c.rp.exchange_refresh_token(next)
            .unwrap()
            .request_async(&c.http)
            .await
            .is_err(),
        "the reuses revoked the winner's token too"
    );
}

#[actix_web::test]
async fn logout_without_a_matching_hint_asks_first() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    app.sign_in(&browser, &c.start().url, "alice", PASSWORD)
        .await
        .code();
    // A bare GET (say, an <img> on another site) does not end the session.
    let res = browser
        .get(format!("{}/logout", app.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Sign out?"), "{body}");
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert!(
        app.follow(&browser, res).await.0.param("code").is_some(),
        "still signed in"
    );
    // A forged confirmation is refused; the real one ends the session.
    let forged = [("confirm", "yes"), ("csrf", "forged")];
    browser
        .post(format!("{}/logout", app.issuer()))
        .form(&forged)
        .send()
        .await
        .unwrap();
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert!(
        app.follow(&browser, res).await.0.param("code").is_some(),
        "forged confirm ignored"
    );
    let form = [
        ("confirm", "yes".to_string()),
        ("csrf", hidden(&body, "csrf")),
    ];
    let res = browser
        .post(format!("{}/logout", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("signed out"));
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.follow(&browser, res).await.0.param("error").as_deref(),
        Some("login_required")
    );
}

#[actix_web::test]
async fn a_narrowing_refresh_keeps_the_refresh_token_scope() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let r1 = alice_signs_in(&app, &c)
        .await
        .refresh_token()
        .unwrap()
        .secret()
        .clone();
    let (st, _, narrow) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&c)),
            &format!("grant_type=refresh_token&refresh_token={r1}&scope=openid"),
        )
        .await;
    assert_eq!((st, narrow["scope"].as_str()), (200, Some("openid")));
    let r2 = narrow["refresh_token"].as_str().unwrap();
    let (st, _, full) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&c)),
            &format!("grant_type=refresh_token&refresh_token={r2}"),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        full["scope"], "openid email profile offline_access",
        "RFC 6749 §6: the refresh token keeps its scope"
    );
}

/// OIDC Core §11: a refresh token only when offline_access was granted, unless the client is
/// set up the Cognito way (`--always-refresh-token`).
#[actix_web::test]
async fn refresh_tokens_come_with_offline_access_or_the_cognito_setting() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let plain = app.oidc_client(spec("plain")).await;
    let cognito = app
        .oidc_client(tessera::clients::ClientSpec {
            always_refresh_token: true,
            ..spec("cognito")
        })
        .await;
    for (c, expected) in [(&plain, false), (&cognito, true)] {
        let s = c.start();
        // The same request without offline_access.
        let url = s
            .url
            .replace("+offline_access", "")
            .replace("%20offline_access", "");
        assert_ne!(url, s.url);
        let code = app
            .sign_in(&app.browser(), &url, "alice", PASSWORD)
            .await
            .code();
        let t = c.exchange(&code, s.verifier).await.unwrap();
        assert_eq!(t.refresh_token().is_some(), expected);
        let offline = c.start();
        let code = app
            .sign_in(&app.browser(), &offline.url, "alice", PASSWORD)
            .await
            .code();
        let t = c.exchange(&code, offline.verifier).await.unwrap();
        assert!(t.refresh_token().is_some(), "offline_access granted");
    }
}

#[actix_web::test]
async fn per_client_token_lifetimes() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            access_token_ttl: Some(600),
            id_token_ttl: Some(900),
            ..spec("short")
        })
        .await;
    let t = alice_signs_in(&app, &c).await;
    assert_eq!(t.expires_in(), Some(std::time::Duration::from_secs(600)));
    let raw: Value =
        serde_json::from_slice(&base64_part(&t.id_token().unwrap().to_string(), 1)).unwrap();
    assert_eq!(
        raw["exp"].as_i64().unwrap() - raw["iat"].as_i64().unwrap(),
        900
    );
}
