//! The authorization code flow driven by `openidconnect` as the relying party, with the hosted
//! sign-in and consent pages, for a confidential and a public client; and its failure paths.

use chrono::TimeDelta;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::support::TestApp;
use crate::support::rp::{Landed, PASSWORD, REDIRECT, base64_part, basic, enc, hidden, spec};

#[actix_web::test]
async fn confidential_client_signs_in_gets_verified_tokens_and_userinfo() {
    let app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let landed = app.sign_in(&app.browser(), &s.url, "alice", PASSWORD).await;
    assert_eq!(
        landed.param("state").as_deref(),
        Some(s.state.secret().as_str())
    );
    assert_eq!(landed.param("iss"), Some(app.issuer()), "RFC 9207 iss");
    let tokens = c.exchange(&landed.code(), s.verifier).await.unwrap();
    // openidconnect checks signature (JWKS), iss, aud, exp, nonce.
    let id = tokens.id_token().expect("id token");
    let claims = id.claims(&c.rp.id_token_verifier(), &s.nonce).unwrap();
    assert_eq!(claims.subject().as_str(), alice.sub.as_str());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert!(claims.auth_time().is_some());
    let at_hash = claims.access_token_hash().unwrap();
    assert_eq!(
        at_hash.as_str(),
        tessera::oidc::tokens::at_hash(tokens.access_token().secret())
    );
    let raw: Value = serde_json::from_slice(&base64_part(&id.to_string(), 1)).unwrap();
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
    assert_eq!(raw["cognito:username"], "alice");
    assert_eq!(raw["token_use"], "id");
    assert!(raw["iat"].is_i64() && raw["exp"].is_i64() && raw["auth_time"].is_i64());
    assert!(tokens.refresh_token().is_some());

    let info: openidconnect::core::CoreUserInfoClaims =
        c.rp.user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap();
    assert_eq!(info.subject().as_str(), alice.sub.as_str());
    assert_eq!(
        info.given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Al")
    );
}

#[actix_web::test]
async fn public_client_with_consent_and_sso() {
    let app = TestApp::new().await;
    app.user("bob", "bob@example.com").await;
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            public: true,
            first_party: false,
            ..spec("spa")
        })
        .await;
    assert!(c.secret.is_none());
    let browser = app.browser();
    let s = c.start();
    // The first time: sign in, then consent.
    let res = browser.get(&s.url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!("login page expected")
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "bob".into()),
        ("password", PASSWORD.into()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (Landed::Page { status: 200, body }, _) = app.follow(&browser, res).await else {
        panic!("consent page expected")
    };
    assert!(body.contains("spa") && body.contains("email"), "{body}");
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("decision", "allow".into()),
    ];
    let res = browser
        .post(format!("{}/{}/consent", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    let tokens = c.exchange(&landed.code(), s.verifier).await.unwrap();
    tokens
        .id_token()
        .unwrap()
        .claims(&c.rp.id_token_verifier(), &s.nonce)
        .unwrap();

    // The second time: the SSO session and the remembered consent skip both pages.
    let s2 = c.start();
    let res = browser.get(&s2.url).send().await.unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    let tokens = c.exchange(&landed.code(), s2.verifier).await.unwrap();
    assert!(tokens.id_token().is_some());
}

#[actix_web::test]
async fn consent_denied_is_access_denied() {
    let app = TestApp::new().await;
    app.user("bob", "bob@example.com").await;
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            first_party: false,
            ..spec("third")
        })
        .await;
    let browser = app.browser();
    let s = c.start();
    let res = browser.get(&s.url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "bob".into()),
        ("password", PASSWORD.into()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("decision", "deny".into()),
    ];
    let res = browser
        .post(format!("{}/{}/consent", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (landed, _) = app.follow(&browser, res).await;
    assert_eq!(landed.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        landed.param("state").as_deref(),
        Some(s.state.secret().as_str())
    );
}

#[actix_web::test]
async fn pkce_failures() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    // Wrong verifier.
    let s = c.start();
    let code = app
        .sign_in(&browser, &s.url, "alice", PASSWORD)
        .await
        .code();
    let wrong = openidconnect::PkceCodeVerifier::new("x".repeat(43));
    assert_eq!(c.exchange(&code, wrong).await.unwrap_err(), "invalid_grant");
    // Missing verifier.
    let s = c.start();
    let code = app
        .sign_in(&browser, &s.url, "alice", PASSWORD)
        .await
        .code();
    let (status, _, body) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&c)),
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}",
                enc(REDIRECT)
            ),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // No challenge at all: refused at authorize (PKCE is required by default).
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s1",
        app.issuer(),
        c.id,
        enc(REDIRECT)
    );
    let landed = app.sign_in(&browser, &url, "alice", PASSWORD).await;
    assert_eq!(landed.param("error").as_deref(), Some("invalid_request"));
    // plain is refused.
    let url = format!(
        "{url}&code_challenge={}&code_challenge_method=plain",
        "a".repeat(43)
    );
    assert_eq!(
        app.sign_in(&browser, &url, "alice", PASSWORD)
            .await
            .param("error")
            .as_deref(),
        Some("invalid_request")
    );
}

#[actix_web::test]
async fn pkce_downgrade_is_refused_for_legacy_clients() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            pkce_optional: true,
            ..spec("legacy")
        })
        .await;
    let browser = app.browser();
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s1",
        app.issuer(),
        c.id,
        enc(REDIRECT)
    );
    let code = app.sign_in(&browser, &url, "alice", PASSWORD).await.code();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
        enc(REDIRECT),
        "v".repeat(43)
    );
    let (status, _, b) = app
        .post_form("/oauth2/token", Some(&basic(&c)), &body)
        .await;
    assert_eq!(
        (status, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "verifier for a code without challenge"
    );
    // Without PKCE the legacy client still works.
    let code = app.sign_in(&browser, &url, "alice", PASSWORD).await.code();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        enc(REDIRECT)
    );
    assert_eq!(
        app.post_form("/oauth2/token", Some(&basic(&c)), &body)
            .await
            .0,
        200
    );
}

#[actix_web::test]
async fn code_replay_fails_and_revokes_the_first_tokens() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let verifier = s.verifier.secret().clone();
    let first = c.exchange(&code, s.verifier).await.unwrap();
    let again = c
        .exchange(&code, openidconnect::PkceCodeVerifier::new(verifier))
        .await
        .unwrap_err();
    assert_eq!(again, "invalid_grant");
    let (_, _, b) = app
        .post_form(
            "/oauth2/introspect",
            Some(&basic(&c)),
            &format!("token={}", first.access_token().secret()),
        )
        .await;
    assert_eq!(b["active"], false, "the first access token is revoked");
    let refresh = first.refresh_token().unwrap().clone();
    let err =
        c.rp.exchange_refresh_token(&refresh)
            .unwrap()
            .request_async(&c.http)
            .await
            .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
}

#[actix_web::test]
async fn concurrent_redemptions_of_one_code_succeed_once() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let s = c.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
        enc(REDIRECT),
        s.verifier.secret()
    );
    let auth = basic(&c);
    let (a, b) = tokio::join!(
        app.post_form("/oauth2/token", Some(&auth), &body),
        app.post_form("/oauth2/token", Some(&auth), &body)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
}

#[actix_web::test]
async fn a_code_from_another_client_or_redirect_is_refused() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let a = app.oidc_client(spec("a")).await;
    let b = app.oidc_client(spec("b")).await;
    let s = a.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    assert_eq!(
        b.exchange(&code, s.verifier).await.unwrap_err(),
        "invalid_grant"
    );
    let s = a.start();
    let code = app
        .sign_in(&app.browser(), &s.url, "alice", PASSWORD)
        .await
        .code();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
        enc("http://127.0.0.1/other"),
        s.verifier.secret()
    );
    let (status, _, b) = app
        .post_form("/oauth2/token", Some(&basic(&a)), &body)
        .await;
    assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
}

#[actix_web::test]
async fn unproven_client_or_redirect_gets_a_page_not_a_redirect() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let cases = [
        format!(
            "response_type=code&client_id=nope&redirect_uri={}&scope=openid",
            enc(REDIRECT)
        ),
        format!(
            "response_type=code&client_id={}&redirect_uri={}&scope=openid",
            c.id,
            enc("https://evil.example/cb")
        ),
        format!("response_type=code&client_id={}&scope=openid", c.id),
        "response_type=code".to_string(),
        format!(
            "client_id={}&client_id={}&redirect_uri={}",
            c.id,
            c.id,
            enc(REDIRECT)
        ),
    ];
    for q in cases {
        let res = browser
            .get(format!("{}/oauth2/authorize?{q}", app.issuer()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{q}");
        assert!(res.headers().get("location").is_none(), "{q}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.text().await.unwrap().contains("Something went wrong"));
    }
}

#[actix_web::test]
async fn authorize_errors_after_the_redirect_is_proven_go_back_to_the_client() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    let base = format!(
        "{}/oauth2/authorize?client_id={}&redirect_uri={}&state=xyz",
        app.issuer(),
        c.id,
        enc(REDIRECT)
    );
    let ch = format!(
        "&code_challenge={}&code_challenge_method=S256",
        "a".repeat(43)
    );
    let cases = [
        (
            format!("{base}&response_type=token&scope=openid{ch}"),
            "unsupported_response_type",
        ),
        (
            format!("{base}&response_type=code&scope=openid%20admin{ch}"),
            "invalid_scope",
        ),
        (format!("{base}&response_type=code{ch}"), "invalid_scope"),
        (
            format!("{base}&response_type=code&scope=openid&prompt=none{ch}"),
            "login_required",
        ),
        (
            format!("{base}&response_type=code&scope=openid&prompt=none%20login{ch}"),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code&scope=openid&max_age=-1{ch}"),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code&scope=openid&request=x{ch}"),
            "request_not_supported",
        ),
    ];
    for (url, error) in cases {
        let res = app.browser().get(&url).send().await.unwrap();
        assert_eq!(res.status(), 302, "{url}");
        let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        assert!(loc.as_str().starts_with(REDIRECT));
        let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
        assert_eq!(q.get("error").map(String::as_str), Some(error), "{url}");
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    }
}

#[actix_web::test]
async fn sign_in_errors_reveal_nothing() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let mut answers = Vec::new();
    for (user, pw) in [
        ("alice", "wrong password"),
        ("nobody", "wrong password"),
        ("alice", ""),
    ] {
        let browser = app.browser();
        let res = browser.get(&c.start().url).send().await.unwrap();
        let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
            panic!()
        };
        let form = [
            ("tx", hidden(&body, "tx")),
            ("csrf", hidden(&body, "csrf")),
            ("username", user.into()),
            ("password", pw.into()),
        ];
        let res = browser
            .post(format!("{}/{}/login", app.base, app.pool.id))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        let error = body
            .split("id=\"error\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or("")
            .to_string();
        answers.push((status, error));
    }
    assert_eq!(
        answers[0],
        (401, "Incorrect username or password.".to_string())
    );
    assert_eq!(
        answers[0], answers[1],
        "unknown user and wrong password look the same"
    );
    assert_eq!(answers[0], answers[2]);
}

#[actix_web::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let res = browser.get(&c.start().url).send().await.unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", "forged".to_string()),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // The right token from a browser without the cookie (a cross-site post) is refused too.
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
    ];
    let res = app
        .browser()
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn prompt_login_and_max_age_force_a_new_sign_in() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    app.sign_in(&browser, &c.start().url, "alice", PASSWORD)
        .await
        .code();
    let on_page =
        |l: &Landed| matches!(l, Landed::Page { body, .. } if body.contains("name=\"password\""));
    for prompt in ["login", "select_account"] {
        let res = browser
            .get(format!("{}&prompt={prompt}", c.start().url))
            .send()
            .await
            .unwrap();
        assert!(on_page(&app.follow(&browser, res).await.0), "{prompt}");
    }
    let res = browser
        .get(format!("{}&max_age=60", c.start().url))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(app.follow(&browser, res).await.0, Landed::Client(_)),
        "recent enough"
    );
    app.clock.advance(TimeDelta::seconds(120));
    let res = browser
        .get(format!("{}&max_age=60", c.start().url))
        .send()
        .await
        .unwrap();
    assert!(on_page(&app.follow(&browser, res).await.0));
    let res = browser
        .get(format!("{}&prompt=none", c.start().url))
        .send()
        .await
        .unwrap();
    assert!(
        app.follow(&browser, res).await.0.param("code").is_some(),
        "prompt=none with a session"
    );
}

#[actix_web::test]
async fn form_post_response_mode() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let s = c.start();
    let res = browser
        .get(format!("{}&response_mode=form_post", s.url))
        .send()
        .await
        .unwrap();
    let (Landed::Page { body, .. }, _) = app.follow(&browser, res).await else {
        panic!()
    };
    let form = [
        ("tx", hidden(&body, "tx")),
        ("csrf", hidden(&body, "csrf")),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
    ];
    let res = browser
        .post(format!("{}/{}/login", app.base, app.pool.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let body = res.text().await.unwrap();
    assert!(body.contains(&format!("action=\"{REDIRECT}\"")), "{body}");
    let code = hidden(&body, "code");
    assert_eq!(hidden(&body, "state"), *s.state.secret());
    c.exchange(&code, s.verifier).await.unwrap();
}

#[actix_web::test]
async fn discovery_advertises_what_works() {
    let app = TestApp::new().await;
    let doc: Value = app
        .get(&format!(
            "/{}/.well-known/openid-configuration",
            app.pool.id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    for ep in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
    ] {
        let url = doc[ep].as_str().unwrap();
        assert!(url.starts_with(&app.issuer()), "{ep}");
        let res = app.http.get(url).send().await.unwrap();
        assert_ne!(res.status(), 404, "{ep} is routed");
    }
}

#[actix_web::test]
async fn lockout_grows_exponentially_for_known_and_unknown_users_alike() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let attempt = |user: &'static str, pw: &'static str| {
        let (app, url) = (&app, c.start().url);
        async move {
            match app.sign_in(&app.browser(), &url, user, pw).await {
                Landed::Page { status, body } => {
                    let locked = body.contains("Too many failed attempts");
                    assert!(locked || body.contains("Incorrect username or password"));
                    (status, locked)
                }
                Landed::Client(_) => (302, false),
            }
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("alice", "wrong").await, (401, false));
        assert_eq!(attempt("ghost", "wrong").await, (401, false));
    }
    // After five failures each attempt waits 1 s, then 2 s, 4 s... even with the right
    // password, and an unknown identifier gets exactly the same answers.
    for user in ["alice", "ghost"] {
        assert_eq!(attempt(user, PASSWORD).await, (401, true), "{user}");
    }
    app.clock.advance(TimeDelta::seconds(1));
    assert_eq!(attempt("alice", "wrong").await, (401, false));
    assert_eq!(attempt("ghost", "wrong").await, (401, false));
    app.clock.advance(TimeDelta::seconds(1));
    assert_eq!(attempt("alice", PASSWORD).await, (401, true), "2 s now");
    assert_eq!(attempt("ghost", PASSWORD).await, (401, true));
    app.clock.advance(TimeDelta::seconds(1));
    // A success ends the run of failures.
    assert_eq!(attempt("alice", PASSWORD).await, (302, false));
    assert_eq!(attempt("alice", "wrong").await, (401, false));
    assert_eq!(attempt("alice", PASSWORD).await, (302, false));
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 200)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "locked_out"));
    // The wait is capped at 15 minutes.
    assert_eq!(
        tessera::accounts::signin::lock_delay(40),
        Some(std::time::Duration::from_secs(900))
    );
    assert_eq!(tessera::accounts::signin::lock_delay(4), None);
    assert_eq!(
        tessera::accounts::signin::lock_delay(7),
        Some(std::time::Duration::from_secs(4))
    );
    // A NUL byte or control characters are a failed sign-in, not a database error.
    assert_eq!(attempt("al\u{0}ice", "x").await, (401, false));
}
