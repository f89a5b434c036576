//! In-process fake upstream identity providers that behave as the real ones document: an
//! OpenID provider (discovery, JWKS, authorize, token with signed ID tokens; as Google and as
//! any OIDC provider) under `/oidc`, Facebook (dialog, token, Graph `/me` that checks
//! `appsecret_proof`) under `/fb`, and Login with Amazon (authorize, token, `user/profile`)
//! under `/amzn`. Each checks PKCE, the client secret and the redirect URI, and can be told
//! to misbehave.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use josekit::jwk::KeyPair;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "fake-client";
pub const CLIENT_SECRET: &str = "fake-secret-value";

/// What the fake does wrong on the next sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// `error=access_denied` instead of a code.
    Deny,
    WrongNonce,
    WrongAudience,
    Expired,
    BadSignature,
    AlgNone,
    UnknownKid,
    /// The token endpoint answers HTTP 500.
    TokenError,
    /// The token endpoint answers more than the client's size cap.
    Oversized,
    /// The profile has no email.
    NoEmail,
    /// The token endpoint answers after 3 s (longer than the test app's 1 s upstream timeout).
    Slow,
}

/// The person signed in at the fake.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
}

struct Inner {
    user: FakeUser,
    fault: Fault,
    codes: HashMap<String, Pending>,
    tokens: HashMap<String, FakeUser>,
    /// Query parameters of the last authorization request.
    last_authorize: HashMap<String, String>,
    /// Show a sign-in page with a button instead of approving at once (browser tests).
    interactive: bool,
    signing: josekit::jwk::Jwk,
    other: josekit::jwk::Jwk,
    jwks: Value,
    counter: u64,
    /// How many times the JWKS was fetched.
    jwks_fetches: u64,
}

pub struct FakeIdp {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn key(kid: &str) -> josekit::jwk::Jwk {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let mut jwk = pair.to_jwk_key_pair();
    jwk.set_key_id(kid);
    jwk
}

/// The public half as published in the JWKS.
fn published(key: &josekit::jwk::Jwk) -> Value {
    let mut public = key.to_public_key().unwrap();
    public.set_key_id(key.key_id().unwrap());
    public.set_algorithm("RS256");
    public.set_key_use("sig");
    serde_json::to_value(public.as_ref()).unwrap()
}

impl FakeIdp {
    pub async fn start() -> Self {
        let signing = key("fake-key-1");
        let jwks = json!({ "keys": [published(&signing)] });
        let inner = Arc::new(Mutex::new(Inner {
            user: FakeUser {
                subject: "1000001".into(),
                email: Some("pat@example.com".into()),
                email_verified: true,
                given_name: "Pat".into(),
                family_name: "Doe".into(),
            },
            fault: Fault::None,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            last_authorize: HashMap::new(),
            interactive: false,
            signing,
            other: key("fake-key-1"),
            jwks,
            counter: 0,
            jwks_fetches: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (data, issuer) = (inner.clone(), format!("{base}/oidc"));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .app_data(web::Data::new(issuer.clone()))
                .route(
                    "/oidc/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/oidc/jwks", web::get().to(jwks_doc))
                .route("/oidc/authorize", web::get().to(authorize))
                .route("/oidc/approve", web::get().to(approve))
                .route("/oidc/token", web::post().to(oidc_token))
                .route("/fb/dialog/oauth", web::get().to(authorize))
                .route("/fb/oauth/access_token", web::post().to(oauth_token))
                .route("/fb/me", web::get().to(facebook_me))
                .route("/fb/app", web::get().to(facebook_app))
                .route("/amzn/auth/o2/tokeninfo", web::get().to(amazon_tokeninfo))
                .route("/amzn/ap/oa", web::get().to(authorize))
                .route("/amzn/auth/o2/token", web::post().to(oauth_token))
                .route("/amzn/user/profile", web::get().to(amazon_profile))
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
            base,
            inner,
            server: handle,
        }
    }

    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.base)
    }

    pub fn set_user(&self, user: FakeUser) {
        self.inner.lock().unwrap().user = user;
    }

    pub fn user(&self) -> FakeUser {
        self.inner.lock().unwrap().user.clone()
    }

    /// The authorization endpoint shows a page whose button (`#fake-approve`) signs in.
    /// An ID token for the signed-in user as an app of this provider holds it after its own
    /// sign-in (a login presented to an identity pool); the current fault applies.
    pub fn id_token_for_app(&self) -> String {
        let inner = self.inner.lock().unwrap();
        let pending = Pending {
            client_id: CLIENT_ID.into(),
            redirect_uri: String::new(),
            nonce: Some("app-nonce".into()),
            challenge: None,
        };
        id_token(&inner, &self.issuer(), &pending)
    }

    /// An access token of the signed-in user as an app of this provider holds it (Facebook,
    /// Amazon: a login presented to an identity pool).
    pub fn access_token_for_app(&self) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.counter += 1;
        let token = format!("fake-access-{}", inner.counter);
        let user = inner.user.clone();
        inner.tokens.insert(token.clone(), user);
        token
    }

    /// How many times the JWKS was fetched so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.lock().unwrap().jwks_fetches
    }

    pub fn set_interactive(&self, on: bool) {
        self.inner.lock().unwrap().interactive = on;
    }

    pub fn set_fault(&self, fault: Fault) {
        self.inner.lock().unwrap().fault = fault;
    }

    /// Signs with a new key from now on, published beside the old one (as Google rotates).
    pub fn rotate_key(&self) {
        let mut inner = self.inner.lock().unwrap();
        let new = key("fake-key-2");
        inner.jwks = json!({ "keys": [published(&new), published(&inner.signing)] });
        inner.signing = new;
    }

    /// A parameter of the last authorization request.
    pub fn last(&self, name: &str) -> Option<String> {
        self.inner.lock().unwrap().last_authorize.get(name).cloned()
    }
}

type Shared = web::Data<Arc<Mutex<Inner>>>;

fn query(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

async fn discovery(issuer: web::Data<String>) -> HttpResponse {
    let i = issuer.get_ref();
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks_doc(data: Shared) -> HttpResponse {
    let mut inner = data.lock().unwrap();
    inner.jwks_fetches += 1;
    HttpResponse::Ok().json(inner.jwks.clone())
}

/// The sign-in page: the fake's user is always signed in and approves at once (or, when
/// interactive, after a click).
async fn authorize(data: Shared, req: HttpRequest) -> HttpResponse {
    if data.lock().unwrap().interactive {
        let q = query(&req);
        let fields: String = q
            .iter()
            .map(|(k, v)| {
                let esc = |s: &str| {
                    s.replace('&', "&amp;")
                        .replace('"', "&quot;")
                        .replace('<', "&lt;")
                };
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    esc(k),
                    esc(v)
                )
            })
            .collect();
        let page = format!(
            "<!doctype html><title>Fake Google</title><form action=\"approve\">{fields}\
             <button id=\"fake-approve\">Sign in as Pat</button></form>"
        );
        return HttpResponse::Ok().content_type("text/html").body(page);
    }
    approve(data, req).await
}

/// The user approved: back to the client with a code (or `access_denied`).
async fn approve(data: Shared, req: HttpRequest) -> HttpResponse {
    let q = query(&req);
    let mut inner = data.lock().unwrap();
    inner.last_authorize = q.clone();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let mut to = url::Url::parse(&redirect).unwrap();
    if inner.fault == Fault::Deny {
        to.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &state);
    } else {
        inner.counter += 1;
        let code = format!("code-{}", inner.counter);
        let pending = Pending {
            client_id: q.get("client_id").cloned().unwrap_or_default(),
            redirect_uri: redirect.clone(),
            nonce: q.get("nonce").cloned(),
            challenge: q.get("code_challenge").cloned(),
        };
        inner.codes.insert(code.clone(), pending);
        to.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
    }
    HttpResponse::Found()
        .insert_header(("location", to.to_string()))
        .finish()
}

/// Checks the code, the client's credentials (Basic or form) and PKCE.
fn redeem(
    inner: &mut Inner,
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<Pending, Box<HttpResponse>> {
    let bad = |e: &str| Box::new(HttpResponse::BadRequest().json(json!({ "error": e })));
    let (id, secret) = match req.headers().get("authorization") {
        Some(h) => {
            let raw = h
                .to_str()
                .unwrap()
                .strip_prefix("Basic ")
                .unwrap_or_default();
            let decoded = String::from_utf8(STANDARD.decode(raw).unwrap()).unwrap();
            let (i, s) = decoded.split_once(':').unwrap();
            let dec = |v: &str| {
                url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
            };
            (dec(i), dec(s))
        }
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return Err(Box::new(
            HttpResponse::Unauthorized().json(json!({ "error": "invalid_client" })),
        ));
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let pending = inner
        .codes
        .remove(&code)
        .ok_or_else(|| bad("invalid_grant"))?;
    if pending.client_id != id || Some(&pending.redirect_uri) != form.get("redirect_uri") {
        return Err(bad("invalid_grant"));
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if pending.challenge.as_deref() != Some(expected.as_str()) {
        return Err(bad("invalid_grant"));
    }
    if inner.fault == Fault::TokenError {
        return Err(Box::new(
            HttpResponse::InternalServerError().body("upstream broke"),
        ));
    }
    if inner.fault == Fault::Oversized {
        return Err(Box::new(
            HttpResponse::Ok()
                .content_type("application/json")
                .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(400 * 1024))),
        ));
    }
    Ok(pending)
}

fn id_token(inner: &Inner, issuer: &str, pending: &Pending) -> String {
    let u = &inner.user;
    // The fake is another party with its own (real) clock.
    let now = tessera::clock::Clock::now(&tessera::clock::SystemClock).timestamp();
    let fault = inner.fault;
    let mut claims = json!({
        "iss": issuer,
        "sub": u.subject,
        "aud": if fault == Fault::WrongAudience { "someone-else" } else { CLIENT_ID },
        "iat": now,
        "exp": if fault == Fault::Expired { now - 600 } else { now + 600 },
        "nonce": if fault == Fault::WrongNonce { "not-the-nonce".into() } else { pending.nonce.clone().unwrap_or_default() },
        "email_verified": u.email_verified,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "name": format!("{} {}", u.given_name, u.family_name),
    });
    if let Some(e) = &u.email
        && fault != Fault::NoEmail
    {
        claims["email"] = json!(e);
    }
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    match fault {
        Fault::AlgNone => josekit::jwt::encode_unsecured(&payload, &header).unwrap(),
        Fault::BadSignature => {
            header.set_key_id("fake-key-1");
            let signer = RS256.signer_from_jwk(&inner.other).unwrap();
            josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
        }
        _ => {
            // The signer writes its key's id into the header.
            let mut key = inner.signing.clone();
            if fault == Fault::UnknownKid {
                key.set_key_id("nobody");
            }
            let signer = RS256.signer_from_jwk(&key).unwrap();
            josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
        }
    }
}

async fn oidc_token(
    data: Shared,
    issuer: web::Data<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let slow = data.lock().unwrap().fault == Fault::Slow;
    if slow {
        // The provider hangs (server side); the client under test must give up first.
        actix_web::rt::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut inner = data.lock().unwrap();
    let pending = match redeem(&mut inner, &req, &form) {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let token = id_token(&inner, issuer.get_ref(), &pending);
    HttpResponse::Ok().json(json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": token,
    }))
}

async fn oauth_token(data: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut inner = data.lock().unwrap();
    if let Err(res) = redeem(&mut inner, &req, &form) {
        return *res;
    }
    inner.counter += 1;
    let token = format!("fake-access-{}", inner.counter);
    let user = inner.user.clone();
    inner.tokens.insert(token.clone(), user);
    HttpResponse::Ok()
        .json(json!({ "access_token": token, "token_type": "bearer", "expires_in": 3600 }))
}

fn bearer(req: &HttpRequest) -> String {
    req.headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// Graph `/me`: the token, the `fields` asked for, and `appsecret_proof` must be right.
async fn facebook_me(data: Shared, req: HttpRequest) -> HttpResponse {
    let q = query(&req);
    let token = q
        .get("access_token")
        .cloned()
        .unwrap_or_else(|| bearer(&req));
    let inner = data.lock().unwrap();
    let Some(u) = inner.tokens.get(&token) else {
        return HttpResponse::BadRequest().json(json!({ "error": { "type": "OAuthException" } }));
    };
    // Only the id: what an app without the app secret may ask (an identity pool's check).
    if q.get("fields").map(String::as_str) == Some("id") && !q.contains_key("appsecret_proof") {
        return HttpResponse::Ok().json(json!({ "id": u.subject }));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    let proof: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if q.get("appsecret_proof") != Some(&proof)
        || !q.get("fields").is_some_and(|f| f.contains("email"))
    {
        return HttpResponse::BadRequest()
            .json(json!({ "error": { "message": "appsecret_proof" } }));
    }
    let mut me = json!({
        "id": u.subject,
        "name": format!("{} {}", u.given_name, u.family_name),
        "first_name": u.given_name,
        "last_name": u.family_name,
    });
    if let Some(e) = &u.email
        && inner.fault != Fault::NoEmail
    {
        me["email"] = json!(e);
    }
    HttpResponse::Ok().json(me)
}

/// Graph `/app`: the app a user access token belongs to.
async fn facebook_app(data: Shared, req: HttpRequest) -> HttpResponse {
    let token = query(&req).get("access_token").cloned().unwrap_or_default();
    if !data.lock().unwrap().tokens.contains_key(&token) {
        return HttpResponse::BadRequest().json(json!({ "error": { "type": "OAuthException" } }));
    }
    HttpResponse::Ok().json(json!({ "id": CLIENT_ID, "name": "Fake app" }))
}

/// Login with Amazon's `tokeninfo`: whose token it is and for which client.
async fn amazon_tokeninfo(data: Shared, req: HttpRequest) -> HttpResponse {
    let token = query(&req).get("access_token").cloned().unwrap_or_default();
    let inner = data.lock().unwrap();
    let Some(u) = inner.tokens.get(&token) else {
        return HttpResponse::BadRequest()
            .json(json!({ "error": "invalid_token", "error_description": "bad token" }));
    };
    HttpResponse::Ok().json(json!({
        "iss": "https://www.amazon.com",
        "user_id": format!("amzn1.account.{}", u.subject),
        "aud": CLIENT_ID,
        "app_id": "amzn1.application.fake",
        "exp": 3600,
        "iat": 0,
    }))
}

async fn amazon_profile(data: Shared, req: HttpRequest) -> HttpResponse {
    let inner = data.lock().unwrap();
    let Some(u) = inner.tokens.get(&bearer(&req)) else {
        return HttpResponse::Unauthorized().json(json!({ "error": "invalid_token" }));
    };
    let mut p = json!({
        "user_id": format!("amzn1.account.{}", u.subject),
        "name": format!("{} {}", u.given_name, u.family_name),
    });
    if let Some(e) = &u.email {
        p["email"] = json!(e);
    }
    HttpResponse::Ok().json(p)
}
