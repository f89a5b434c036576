//! The token endpoint's client_credentials grant, introspection and revocation of access
//! tokens, and the endpoint's answers to bad input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use serde_json::Value;
use tessera::clients::{ClientSpec, CreatedClient};
use tessera::model::GrantType;

use crate::support::TestApp;

async fn machine_client(app: &TestApp) -> (String, String) {
    let spec = ClientSpec {
        name: "worker".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["api/read".into(), "api/write".into()],
        ..Default::default()
    };
    let c: CreatedClient = tessera::clients::create(&app.st, &app.pool.id, spec, app.now())
        .await
        .unwrap();
    (
        c.client.client_id.to_string(),
        c.client_secret.unwrap().expose().to_string(),
    )
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

impl TestApp {
    pub async fn post_form(
        &self,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .post(format!("{}/{}{path}", self.base, self.pool.id))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        let text = res.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// Verifies a JWT with the keys the pool publishes over HTTP, as a resource server would.
async fn verify_with_jwks(app: &TestApp, token: &str) -> (Value, Value) {
    let jwks: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    let header = josekit::jwt::decode_header(token).unwrap();
    let kid = header.claim("kid").unwrap().as_str().unwrap().to_string();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let jwk = josekit::jwk::Jwk::from_bytes(serde_json::to_vec(jwk).unwrap()).unwrap();
    let verifier = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, header) = josekit::jwt::decode_with_verifier(token, &verifier).unwrap();
    (
        serde_json::to_value(header.claims_set()).unwrap(),
        Value::Object(payload.claims_set().clone()),
    )
}

#[actix_web::test]
async fn client_credentials_issue_an_rfc9068_access_token() {
    let app = TestApp::new().await;
    let (id, secret) = machine_client(&app).await;
    let (status, headers, body) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials&scope=api%2Fread",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "api/read");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let (header, claims) = verify_with_jwks(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], app.issuer());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["token_use"], "access");
    assert!(
        claims["iat"].is_i64()
            && claims["exp"].as_i64().unwrap() == claims["iat"].as_i64().unwrap() + 3600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 16);

    // client_secret_post, and no scope = every custom scope of the client
    let (status, _, body) = app
        .post_form(
            "/oauth2/token",
            None,
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api/read api/write");
}

#[actix_web::test]
async fn client_authentication_failures() {
    let app = TestApp::new().await;
    let (id, secret) = machine_client(&app).await;
    let (status, headers, body) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&id, "wrong")),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let (status, headers, body) = app
        .post_form(
            "/oauth2/token",
            None,
            &format!("grant_type=client_credentials&client_id={id}&client_secret=nope"),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // RFC 7235 §3.1: every 401 names a scheme, Basic or not.
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let (status, _, body) = app
        .post_form(
            "/oauth2/token",
            Some(&basic("unknown", &secret)),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A client of this pool is unknown in another pool.
    let other = tessera::pools::create(&app.st, "other", app.now())
        .await
        .unwrap();
    let res = app
        .http
        .post(format!("{}/{}/oauth2/token", app.base, other.id))
        .header("authorization", basic(&id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn grant_and_scope_rules() {
    let app = TestApp::new().await;
    let (id, secret) = machine_client(&app).await;
    let auth = basic(&id, &secret);
    let cases = [
        (
            "grant_type=client_credentials&scope=openid",
            400,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=api%2Fadmin",
            400,
            "invalid_scope",
        ),
        (
            "grant_type=password&username=a&password=b",
            400,
            "unsupported_grant_type",
        ),
        ("scope=api%2Fread", 400, "invalid_request"),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
        ),
    ];
    for (body, status, error) in cases {
        let (s, _, b) = app.post_form("/oauth2/token", Some(&auth), body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (status, Some(error)),
            "{body}: {b}"
        );
    }
    // A web client is not allowed client_credentials; a public one cannot authenticate for it.
    let web = tessera::clients::create(
        &app.st,
        &app.pool.id,
        ClientSpec {
            name: "web".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            ..Default::default()
        },
        app.now(),
    )
    .await
    .unwrap();
    let (s, _, b) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(
                web.client.client_id.as_str(),
                web.client_secret.unwrap().expose(),
            )),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")));
    let spa = tessera::clients::create(
        &app.st,
        &app.pool.id,
        ClientSpec {
            name: "spa".into(),
            public: true,
            redirect_uris: vec!["https://a.example/cb".into()],
            ..Default::default()
        },
        app.now(),
    )
    .await
    .unwrap();
    let (s, _, b) = app
        .post_form(
            "/oauth2/token",
            None,
            &format!(
                "grant_type=client_credentials&client_id={}",
                spa.client.client_id
            ),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")));
}

#[actix_web::test]
async fn bad_input_never_gets_a_5xx() {
    let app = TestApp::new().await;
    let url = format!("{}/{}/oauth2/token", app.base, app.pool.id);
    let raw = |ct: &'static str, auth: Option<Vec<u8>>, body: Vec<u8>| {
        let mut r = app.http.post(&url).header("content-type", ct).body(body);
        if let Some(a) = auth {
            r = r.header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(&a).unwrap(),
            );
        }
        r
    };
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            raw(
                "application/json",
                None,
                b"{\"grant_type\":\"client_credentials\"}".to_vec(),
            ),
            400,
        ),
        (
            raw("application/x-www-form-urlencoded", None, b"".to_vec()),
            400,
        ),
        (
            raw(
                "application/x-www-form-urlencoded",
                Some(b"Basic !!!notbase64".to_vec()),
                b"grant_type=client_credentials".to_vec(),
            ),
            401,
        ),
        (
            raw(
                "application/x-www-form-urlencoded",
                Some(b"Basic \xff\xfe".to_vec()),
                b"grant_type=client_credentials".to_vec(),
            ),
            401,
        ),
        (
            raw(
                "application/x-www-form-urlencoded",
                Some(b"Bearer abc".to_vec()),
                b"grant_type=client_credentials".to_vec(),
            ),
            401,
        ),
        (
            raw(
                "application/x-www-form-urlencoded",
                None,
                b"grant_type=\xff\xfe&client_id=\xc3".to_vec(),
            ),
            401,
        ),
        (
            raw(
                "application/x-www-form-urlencoded",
                None,
                format!(
                    "grant_type=client_credentials&client_id={}",
                    "x".repeat(10_000)
                )
                .into_bytes(),
            ),
            400,
        ),
        (
            raw(
                "application/x-www-form-urlencoded",
                None,
                vec![b'a'; 200_000],
            ),
            413,
        ),
    ];
    for (i, (req, status)) in cases.into_iter().enumerate() {
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "case {i}");
    }
    let res = app.http.get(&url).send().await.unwrap();
    assert!(
        res.status().is_client_error(),
        "GET on the token endpoint: {}",
        res.status()
    );
}

#[actix_web::test]
async fn introspection_and_revocation_of_access_tokens() {
    let app = TestApp::new().await;
    let (id, secret) = machine_client(&app).await;
    let auth = basic(&id, &secret);
    let (_, _, t) = app
        .post_form(
            "/oauth2/token",
            Some(&auth),
            "grant_type=client_credentials",
        )
        .await;
    let token = t["access_token"].as_str().unwrap().to_string();

    let (s, h, b) = app
        .post_form("/oauth2/introspect", Some(&auth), &format!("token={token}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(b["active"], true);
    assert_eq!(b["client_id"], id.as_str());
    assert_eq!(b["scope"], "api/read api/write");
    for garbage in ["garbage", "a.b.c", &token[..token.len() - 4]] {
        let (_, _, b) = app
            .post_form(
                "/oauth2/introspect",
                Some(&auth),
                &format!("token={garbage}"),
            )
            .await;
        assert_eq!(b, serde_json::json!({ "active": false }), "{garbage}");
    }
    let (s, _, _) = app
        .post_form(
            "/oauth2/introspect",
            None,
            &format!("token={token}&client_id={id}"),
        )
        .await;
    assert_eq!(s, 401, "introspection needs client authentication");

    // Another client cannot revoke it; its owner can; unknown tokens still get 200.
    let (other_id, other_secret) = machine_client(&app).await;
    let (s, _, _) = app
        .post_form(
            "/oauth2/revoke",
            Some(&basic(&other_id, &other_secret)),
            &format!("token={token}"),
        )
        .await;
    assert_eq!(s, 200);
    let (_, _, b) = app
        .post_form("/oauth2/introspect", Some(&auth), &format!("token={token}"))
        .await;
    assert_eq!(b["active"], true, "another client's revocation is ignored");
    let (s, _, _) = app
        .post_form("/oauth2/revoke", Some(&auth), "token=unknown-token")
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .post_form(
            "/oauth2/revoke",
            Some(&auth),
            &format!("token={token}&token_type_hint=access_token"),
        )
        .await;
    assert_eq!(s, 200);
    let (_, _, b) = app
        .post_form("/oauth2/introspect", Some(&auth), &format!("token={token}"))
        .await;
    assert_eq!(b["active"], false, "revoked");

    // Expiry through the fake clock.
    let (_, _, t) = app
        .post_form(
            "/oauth2/token",
            Some(&auth),
            "grant_type=client_credentials",
        )
        .await;
    let fresh = t["access_token"].as_str().unwrap().to_string();
    app.clock.advance(TimeDelta::seconds(3600));
    let (_, _, b) = app
        .post_form("/oauth2/introspect", Some(&auth), &format!("token={fresh}"))
        .await;
    assert_eq!(b["active"], false, "expired");
}

#[actix_web::test]
async fn tokens_of_another_pool_are_inactive() {
    let app = TestApp::new().await;
    let (id, secret) = machine_client(&app).await;
    let (_, _, t) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials",
        )
        .await;
    let token = t["access_token"].as_str().unwrap().to_string();
    let other = tessera::pools::create(&app.st, "other", app.now())
        .await
        .unwrap();
    let spec = ClientSpec {
        name: "rs".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["x/y".into()],
        ..Default::default()
    };
    let rs = tessera::clients::create(&app.st, &other.id, spec, app.now())
        .await
        .unwrap();
    let res = app
        .http
        .post(format!("{}/{}/oauth2/introspect", app.base, other.id))
        .header(
            "authorization",
            basic(
                rs.client.client_id.as_str(),
                rs.client_secret.unwrap().expose(),
            ),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        serde_json::json!({ "active": false })
    );
}

#[actix_web::test]
async fn a_rotated_in_key_signs_only_after_activation() {
    let app = TestApp::new().await;
    let (id, secret) = machine_client(&app).await;
    let old_kid = app
        .st
        .pools
        .get(app.pool.id.as_str())
        .unwrap()
        .keys
        .signer(app.now())
        .unwrap()
        .kid
        .to_string();
    let new = tessera::keys::rotate(&app.st, &app.pool.id, app.now(), false)
        .await
        .unwrap();
    let (_, _, t) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials",
        )
        .await;
    let (h, _) = verify_with_jwks(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(h["kid"], old_kid.as_str());
    app.clock.advance(TimeDelta::seconds(600));
    let (_, _, t) = app
        .post_form(
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials",
        )
        .await;
    let (h, _) = verify_with_jwks(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(h["kid"], new.kid.as_str());
}
