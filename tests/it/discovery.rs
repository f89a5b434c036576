//! Discovery metadata and JWKS per pool.

use serde_json::Value;

use crate::support::TestApp;

#[actix_web::test]
async fn discovery_names_the_exact_issuer() {
    let app = TestApp::new().await;
    let r = app
        .get(&format!(
            "/{}/.well-known/openid-configuration",
            app.pool.id
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], app.issuer());
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.issuer())
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
}

#[actix_web::test]
async fn jwks_holds_public_members_only() {
    let app = TestApp::new().await;
    let r = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = keys[0].as_object().unwrap();
    for m in ["kid", "kty", "use", "alg", "n", "e"] {
        assert!(k.contains_key(m), "missing {m}");
    }
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(!k.contains_key(private), "leaked {private}");
    }
    // The published key really is a 2048-bit RSA key usable by a verifier.
    let jwk = josekit::jwk::Jwk::from_bytes(serde_json::to_vec(&keys[0]).unwrap()).unwrap();
    assert!(josekit::jws::RS256.verifier_from_jwk(&jwk).is_ok());
}

#[actix_web::test]
async fn es256_pools_publish_ec_keys() {
    let app = TestApp::builder()
        .config(|c| c.key_algorithm = tessera::config::KeyAlgorithm::ES256)
        .build()
        .await;
    let doc: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    let k = &doc["keys"][0];
    assert_eq!(k["kty"], "EC");
    assert_eq!(k["crv"], "P-256");
    assert!(k.get("d").is_none());
}

#[actix_web::test]
async fn unknown_pool_is_a_json_404() {
    let app = TestApp::new().await;
    for path in [
        "/local_XXXXXXXXX/.well-known/openid-configuration",
        "/nope/.well-known/jwks.json",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    }
    let r = app
        .http
        .post(format!("{}/local_XXXXXXXXX/oauth2/token", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "OAuth endpoints of an unknown pool are 404 too"
    );
}

#[actix_web::test]
async fn every_pool_has_its_own_issuer_and_keys() {
    let app = TestApp::new().await;
    let other = tessera::pools::create(&app.st, "second", app.now())
        .await
        .unwrap();
    let a: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .get(&format!("/{}/.well-known/jwks.json", other.id))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["keys"][0]["kid"], b["keys"][0]["kid"]);
    let d: Value = app
        .get(&format!("/{}/.well-known/openid-configuration", other.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], format!("{}/{}", app.base, other.id));
}

#[actix_web::test]
async fn discovery_and_jwks_answer_304_to_a_matching_if_none_match() {
    let app = TestApp::new().await;
    for doc in ["openid-configuration", "jwks.json"] {
        let url = format!("{}/.well-known/{doc}", app.issuer());
        let first = app.http.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let body = first.bytes().await.unwrap();
        for presented in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
        ] {
            let again = app
                .http
                .get(&url)
                .header("if-none-match", presented)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{doc}");
            assert_eq!(again.headers()["etag"], etag.as_str());
            assert!(again.headers().get("cache-control").is_some());
            assert!(again.bytes().await.unwrap().is_empty());
        }
        let stale = app
            .http
            .get(&url)
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200);
        assert_eq!(stale.bytes().await.unwrap(), body);
    }
}

/// A new key is published `key_activation_delay_secs` before it signs: a relying party may cache
/// JWKS no longer than that, or it would meet a signer it does not know.
#[actix_web::test]
async fn jwks_cache_lifetime_never_exceeds_the_key_activation_delay() {
    for (delay, jwks) in [
        (600, "public, max-age=300"),
        (120, "public, max-age=120"),
        (0, "no-cache"),
    ] {
        let app = TestApp::builder()
            .config(move |c| c.key_activation_delay_secs = delay)
            .build()
            .await;
        let get = |doc: &str| {
            app.http
                .get(format!("{}/.well-known/{doc}", app.issuer()))
                .send()
        };
        let res = get("jwks.json").await.unwrap();
        assert_eq!(res.headers()["cache-control"], jwks, "delay {delay}");
        let res = get("openid-configuration").await.unwrap();
        assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    }
}

async fn algs(app: &TestApp) -> Value {
    let path = format!("/{}/.well-known/openid-configuration", app.pool.id);
    let doc: Value = app.get(&path).await.json().await.unwrap();
    doc["id_token_signing_alg_values_supported"].clone()
}

/// Discovery lists the algorithms of published keys only (an expired key's leaves with it,
/// without a restart), and no prompt value it does not act on.
#[actix_web::test]
async fn discovery_follows_the_keys_and_says_only_what_is_true() {
    let app = TestApp::builder()
        .config(|c| {
            c.key_algorithm = tessera::config::KeyAlgorithm::ES256;
            c.key_activation_delay_secs = 0;
            c.max_token_lifetime_secs = 3600;
        })
        .build()
        .await;
    assert_eq!(algs(&app).await, serde_json::json!(["ES256"]));
    // The pool moves to RS256: both published while ES256 tokens may live, then RS256 alone.
    let k = tessera::keys::generate(
        &app.st,
        &app.pool.id,
        tessera::config::KeyAlgorithm::RS256,
        app.now(),
        app.now(),
    )
    .unwrap();
    let id = app.pool.id.clone();
    let now = app.now();
    app.st
        .sql
        .run(move |c| {
            tessera::store::sql::keys::insert(c, &k)?;
            tessera::store::sql::pools::bump_version(c, &id, now)
        })
        .await
        .unwrap();
    app.st.pools.refresh(&app.st).await.unwrap();
    assert_eq!(algs(&app).await, serde_json::json!(["ES256", "RS256"]));
    app.clock.advance(chrono::TimeDelta::seconds(3600));
    assert_eq!(algs(&app).await, serde_json::json!(["RS256"]));

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
        doc["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent"])
    );
}
