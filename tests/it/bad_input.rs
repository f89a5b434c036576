//! A bad-input table for every endpoint: missing, repeated and oversized parameters, wrong
//! content types, garbage and non-UTF-8 headers and bodies. Each gets a 4xx with an OAuth JSON
//! error or a readable page, never a 5xx.

use reqwest::Method;
use reqwest::header::HeaderValue;

use crate::support::TestApp;
use crate::support::rp::{REDIRECT, spec};

struct Case {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    authorization: Option<Vec<u8>>,
    body: Vec<u8>,
}

fn case(method: Method, path: impl Into<String>) -> Case {
    Case {
        method,
        path: path.into(),
        content_type: None,
        authorization: None,
        body: Vec::new(),
    }
}

impl Case {
    fn form(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some("application/x-www-form-urlencoded");
        self.body = body.into();
        self
    }
    fn ct(mut self, ct: &'static str) -> Self {
        self.content_type = Some(ct);
        self
    }
    fn auth(mut self, a: &[u8]) -> Self {
        self.authorization = Some(a.to_vec());
        self
    }
}

#[actix_web::test]
async fn no_endpoint_answers_bad_input_with_a_5xx() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    let big = "x".repeat(10_000);
    let huge = vec![b'a'; 200_000];
    let cid = c.id.clone();
    let mut cases = Vec::new();
    for ep in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        cases.extend([
            case(Method::POST, ep).form(""),
            case(Method::POST, ep).form("token=a&token=b&grant_type=x&grant_type=y"),
            case(Method::POST, ep).form(format!("token={big}&client_id={cid}")),
            case(Method::POST, ep).form(huge.clone()),
            case(Method::POST, ep).form(b"token=\xff\xfe&client_id=\xc3\x28".to_vec()),
            case(Method::POST, ep)
                .ct("application/json")
                .form("{}")
                .ct("application/json"),
            case(Method::POST, ep).ct("text/plain"),
            case(Method::POST, ep)
                .form("token=x")
                .auth(b"Basic \xff\xfe\xfd"),
            case(Method::POST, ep).form("token=x").auth(b"Basic Og=="),
            case(Method::POST, ep).form("token=x").auth(b"Digest abc"),
            case(Method::GET, ep),
            case(Method::PUT, ep).form("token=x"),
        ]);
    }
    for m in [Method::GET, Method::POST] {
        cases.extend([
            case(m.clone(), "/oauth2/userInfo"),
            case(m.clone(), "/oauth2/userInfo").auth(b"Bearer \xff\xfe"),
            case(m.clone(), "/oauth2/userInfo").auth(b"Bearer a.b.c"),
            case(m.clone(), "/oauth2/userInfo").auth(format!("Bearer {big}").as_bytes()),
        ]);
    }
    cases.extend([
        case(Method::POST, "/oauth2/userInfo").form("access_token=a&access_token=b"),
        case(Method::POST, "/oauth2/userInfo").form("access_token=a").auth(b"Bearer b"),
        case(Method::GET, "/oauth2/authorize"),
        case(Method::GET, format!("/oauth2/authorize?client_id={cid}&client_id={cid}")),
        case(Method::GET, format!("/oauth2/authorize?client_id={big}")),
        case(Method::GET, "/oauth2/authorize?client_id=%FF%FE&redirect_uri=%C3%28"),
        case(Method::GET, format!("/oauth2/authorize?client_id={cid}&redirect_uri={}&response_type=code&scope=openid&state={big}", REDIRECT)),
        case(Method::POST, "/oauth2/authorize").ct("text/plain"),
        case(Method::POST, "/oauth2/authorize").form(huge.clone()),
        case(Method::GET, "/login"),
        case(Method::GET, "/login?tx=nope"),
        case(Method::GET, format!("/login?tx={big}")),
        case(Method::GET, "/login?tx=%FF"),
        case(Method::POST, "/login").form(""),
        case(Method::POST, "/login").form("tx=a&tx=b"),
        case(Method::POST, "/login").form(format!("tx=a&csrf=b&username={big}&password={big}")),
        case(Method::POST, "/login").form(b"tx=\xff&csrf=\xfe".to_vec()),
        case(Method::POST, "/login").ct("application/json"),
        case(Method::POST, "/consent").form("tx=a&csrf=b&decision=allow"),
        case(Method::POST, "/consent").form(""),
        case(Method::GET, "/consent?tx=nope"),
        case(Method::GET, "/logout?id_token_hint=garbage"),
        case(Method::GET, format!("/logout?id_token_hint={big}")),
        case(Method::GET, "/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"),
        case(Method::GET, "/logout?client_id=a&client_id=b"),
        case(Method::POST, "/logout").ct("text/plain"),
        case(Method::DELETE, "/logout"),
        case(Method::POST, "/.well-known/jwks.json"),
    ]);
    for (i, c) in cases.into_iter().enumerate() {
        let mut req = app
            .http
            .request(c.method.clone(), format!("{}{}", app.issuer(), c.path))
            .body(c.body);
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(a) = &c.authorization {
            req = req.header("authorization", HeaderValue::from_bytes(a).unwrap());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = res.text().await.unwrap();
        let what = format!(
            "case {i}: {} {} -> {status} {ct}",
            c.method,
            c.path.chars().take(80).collect::<String>()
        );
        assert!((400..500).contains(&status), "{what}: {body}");
        if ct.starts_with("application/json") {
            let v: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(v["error"].is_string(), "{what}: {body}");
        } else {
            assert!(ct.starts_with("text/html"), "{what}: {ct} {body}");
        }
    }
}
