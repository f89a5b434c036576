//! An in-process fake STS that behaves as AWS documents `AssumeRoleWithWebIdentity` (Query API,
//! form POST, XML answers): it trusts one OIDC provider, finds its keys the way IAM does
//! (discovery, then `jwks_uri`), verifies the web identity token (signature, `iss`, `aud`,
//! expiry) and each role's trust conditions, and answers credentials or an `ErrorResponse`.
//! A role may require the session tag `auth_type=authenticated` (the condition the README
//! puts on authenticated roles so that guest tokens cannot take them).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use josekit::jws::{ES256, JwsVerifier, RS256};
use serde_json::Value;

/// Who may take a role.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The `aud` the token must carry (the identity pool id).
    pub aud: String,
    /// The role needs the session tag `auth_type=authenticated`.
    pub authenticated_only: bool,
}

/// One call the STS answered (or refused).
#[derive(Debug, Clone)]
pub struct Call {
    pub form: HashMap<String, String>,
    pub claims: Option<Value>,
}

struct Inner {
    provider: String,
    roles: HashMap<String, Trust>,
    calls: Vec<Call>,
}

pub struct FakeSts {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for FakeSts {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"#
    );
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("text/xml")
        .body(body)
}

/// The provider's keys, found as IAM finds them.
async fn jwks(provider: &str) -> Option<Value> {
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!("{provider}/.well-known/openid-configuration"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    if discovery["issuer"].as_str() != Some(provider) {
        return None;
    }
    http.get(discovery["jwks_uri"].as_str()?)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

fn verifier(jwk: &Value) -> Option<Box<dyn JwsVerifier>> {
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object()?.clone()).ok()?;
    match jwk.algorithm()? {
        "RS256" => Some(Box::new(RS256.verifier_from_jwk(&jwk).ok()?)),
        "ES256" => Some(Box::new(ES256.verifier_from_jwk(&jwk).ok()?)),
        _ => None,
    }
}

/// The token's claims if its signature checks out against the provider's published keys.
async fn verified(provider: &str, token: &str) -> Option<Value> {
    let keys = jwks(provider).await?;
    let header = josekit::jwt::decode_header(token).ok()?;
    let kid = header.claim("kid")?.as_str()?.to_string();
    let jwk = keys["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"].as_str() == Some(kid.as_str()))?;
    let v = verifier(jwk)?;
    let (payload, _) = josekit::jwt::decode_with_verifier(token, v.as_ref()).ok()?;
    Some(Value::Object(payload.claims_set().clone()))
}

async fn assume(
    inner: web::Data<Arc<Mutex<Inner>>>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let form = form.into_inner();
    if form.get("Action").map(String::as_str) != Some("AssumeRoleWithWebIdentity") {
        return error(400, "InvalidAction", "unknown action");
    }
    let (provider, trust) = {
        let i = inner.lock().unwrap();
        let role = form.get("RoleArn").cloned().unwrap_or_default();
        (i.provider.clone(), i.roles.get(&role).cloned())
    };
    let token = form.get("WebIdentityToken").cloned().unwrap_or_default();
    let claims = verified(&provider, &token).await;
    inner.lock().unwrap().calls.push(Call {
        form: form.clone(),
        claims: claims.clone(),
    });
    let Some(claims) = claims else {
        return error(
            400,
            "InvalidIdentityToken",
            "the token could not be verified",
        );
    };
    // The STS is another party with its own (real) clock.
    let now = tessera::clock::Clock::now(&tessera::clock::SystemClock).timestamp();
    if claims["iss"].as_str() != Some(provider.as_str())
        || claims["exp"].as_i64().is_none_or(|e| e <= now - 300)
    {
        return error(400, "InvalidIdentityToken", "issuer or expiry");
    }
    let Some(trust) = trust else {
        return error(403, "AccessDenied", "no such role");
    };
    let tag = &claims["https://aws.amazon.com/tags"]["principal_tags"]["auth_type"][0];
    if claims["aud"].as_str() != Some(trust.aud.as_str())
        || (trust.authenticated_only && tag.as_str() != Some("authenticated"))
    {
        return error(
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    let seconds: i64 = form
        .get("DurationSeconds")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3600);
    let expiration = chrono::DateTime::from_timestamp(now + seconds, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>{sub}</SubjectFromWebIdentityToken>
    <Credentials>
      <SessionToken>session-of-{sub}</SessionToken>
      <SecretAccessKey>fake-secret</SecretAccessKey>
      <Expiration>{expiration}</Expiration>
      <AccessKeyId>ASIAFAKE{n}</AccessKeyId>
    </Credentials>
    <Provider>{provider}</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#,
        n = inner.lock().unwrap().calls.len()
    );
    HttpResponse::Ok().content_type("text/xml").body(body)
}

impl FakeSts {
    /// An STS trusting the OIDC provider `provider` (an issuer URL).
    pub async fn start(provider: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            provider: provider.to_string(),
            roles: HashMap::new(),
            calls: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::new(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/", web::post().to(assume))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url,
            inner,
            server: handle,
        }
    }

    pub fn role(&self, arn: &str, trust: Trust) {
        self.inner.lock().unwrap().roles.insert(arn.into(), trust);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
}
