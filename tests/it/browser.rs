//! Headless Chromium (through chromedriver) signs in on the real hosted page and arrives at the
//! client with a code the test exchanges. Needs CHROMEDRIVER; skips with a reason without it,
//! fails under TESSERA_REQUIRE_SERVICES=1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::TestApp;
use crate::support::rp::{PASSWORD, spec};

/// A chromedriver child process, killed on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Option<Driver> {
    let path = match std::env::var("CHROMEDRIVER") {
        Ok(p) if !p.is_empty() => p,
        _ if std::env::var("TESSERA_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("TESSERA_REQUIRE_SERVICES=1 but CHROMEDRIVER is not set")
        }
        _ => {
            println!("browser test skipped: CHROMEDRIVER is not set");
            return None;
        }
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // chromedriver says when it listens; read until then instead of sleeping.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .any(|l| l.contains("started successfully"));
    assert!(ready, "chromedriver did not start");
    std::thread::spawn(move || for _ in lines {});
    Some(Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    })
}

async fn browser(d: &Driver) -> Client {
    let chrome = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = format!("--user-data-dir={}", d._profile.path().display());
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chrome,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", profile,
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("webdriver session")
}

/// A client whose redirect URI is on the test server (its JSON 404 is a page Chromium can load).
async fn client_on_server(app: &TestApp) -> (crate::support::rp::OidcClient, String) {
    let redirect = format!("{}/cb", app.base);
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            redirect_uris: vec![redirect.clone()],
            ..spec("web")
        })
        .await;
    let rp =
        c.rp.clone()
            .set_redirect_uri(openidconnect::RedirectUrl::new(redirect.clone()).unwrap());
    (crate::support::rp::OidcClient { rp, ..c }, redirect)
}

async fn fill(b: &Client, id: &str, text: &str) {
    b.wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(b: &Client, id: &str) {
    b.wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the browser lands at the client (its redirect URI shows the server's JSON 404
/// in a `<pre>`), closes it, and returns the query the client received.
async fn arrive(b: Client, redirect: &str) -> std::collections::HashMap<String, String> {
    b.wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Css("pre"))
        .await
        .unwrap();
    let landed = b.current_url().await.unwrap();
    b.close().await.unwrap();
    assert!(landed.as_str().starts_with(redirect), "{landed}");
    landed.query_pairs().into_owned().collect()
}

#[actix_web::test]
async fn headless_chromium_signs_up_confirms_and_arrives_at_the_client() {
    let Some(d) = driver() else { return };
    let app = TestApp::new().await;
    let (c, redirect) = client_on_server(&app).await;
    let s = c.start();
    let b = browser(&d).await;
    b.goto(&s.url).await.unwrap();
    click(&b, "signup").await;
    fill(&b, "username", "zoe").await;
    fill(&b, "email", "zoe@example.com").await;
    fill(&b, "password", "long enough pw").await;
    click(&b, "submit").await;
    // The confirmation page: read the mailed code from the outbox and type it.
    b.wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Id("resend"))
        .await
        .unwrap();
    let code = app
        .last_code("zoe@example.com")
        .await
        .expect("a code was mailed");
    fill(&b, "code", &code).await;
    click(&b, "submit").await;
    let q = arrive(b, &redirect).await;
    assert_eq!(q.get("state"), Some(s.state.secret()));
    let tokens = c.exchange(&q["code"], s.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&c.rp.id_token_verifier(), &s.nonce)
        .unwrap();
    assert_eq!(claims.email_verified(), Some(true));
}

#[actix_web::test]
async fn headless_chromium_signs_in_on_the_hosted_page() {
    let Some(d) = driver() else { return };
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    // The redirect URI is on the test server (its JSON 404 is a page Chromium can load).
    let redirect = format!("{}/cb", app.base);
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            redirect_uris: vec![redirect.clone()],
            ..spec("web")
        })
        .await;
    let rp =
        c.rp.clone()
            .set_redirect_uri(openidconnect::RedirectUrl::new(redirect.clone()).unwrap());
    let c = crate::support::rp::OidcClient { rp, ..c };
    let s = c.start();

    let b = browser(&d).await;
    b.goto(&s.url).await.unwrap();
    let wait = || {
        b.wait()
            .at_most(Duration::from_secs(20))
            .every(Duration::from_millis(50))
    };
    wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    b.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    b.find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Chromium shows the JSON body in a <pre>: the redirect has landed.
    wait().for_element(Locator::Css("pre")).await.unwrap();
    let landed = b.current_url().await.unwrap();
    b.close().await.unwrap();

    assert!(landed.as_str().starts_with(&redirect), "{landed}");
    let q: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(q.get("state"), Some(s.state.secret()));
    let tokens = c.exchange(&q["code"], s.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    tokens
        .id_token()
        .unwrap()
        .claims(&c.rp.id_token_verifier(), &s.nonce)
        .unwrap();
}

#[actix_web::test]
async fn headless_chromium_enrolls_mfa_signs_out_and_signs_in_with_a_code() {
    let Some(d) = driver() else { return };
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = tessera::model::MfaMode::Optional)
        .await;
    app.user("alice", "alice@example.com").await;
    let (c, redirect) = client_on_server(&app).await;
    let b = browser(&d).await;
    // The account page asks for a sign-in first, then comes back.
    b.goto(&format!("{}/account", app.issuer())).await.unwrap();
    fill(&b, "username", "alice").await;
    fill(&b, "password", PASSWORD).await;
    click(&b, "submit").await;
    click(&b, "mfa-begin").await;
    let secret = b
        .wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Id("secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code = tessera::mfa::code_at(secret.trim(), app.now()).expect("a base32 secret");
    fill(&b, "mfa-code", &code).await;
    click(&b, "mfa-on").await;
    let codes = b
        .wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Id("recovery-codes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        codes.lines().filter(|l| !l.trim().is_empty()).count(),
        10,
        "{codes}"
    );
    click(&b, "sign-out").await;
    b.wait()
        .at_most(Duration::from_secs(20))
        .every(Duration::from_millis(50))
        .for_element(Locator::Css("h1"))
        .await
        .unwrap();

    // Signing in to the application now takes the password and a fresh code.
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let s = c.start();
    b.goto(&s.url).await.unwrap();
    fill(&b, "username", "alice").await;
    fill(&b, "password", PASSWORD).await;
    click(&b, "submit").await;
    let code = tessera::mfa::code_at(secret.trim(), app.now()).unwrap();
    fill(&b, "code", &code).await;
    click(&b, "submit").await;
    let q = arrive(b, &redirect).await;
    let tokens = c.exchange(&q["code"], s.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&c.rp.id_token_verifier(), &s.nonce)
        .unwrap();
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(amr, ["pwd", "otp"]);
}

#[actix_web::test]
async fn headless_chromium_continues_with_google_and_arrives_at_the_client() {
    let Some(d) = driver() else { return };
    let app = TestApp::new().await;
    let fake = crate::support::fake_idp::FakeIdp::start().await;
    fake.set_interactive(true);
    let spec_google = tessera::federation::providers::ProviderSpec {
        name: None,
        kind: Some(tessera::model::ProviderKind::Google),
        client_id: Some(crate::support::fake_idp::CLIENT_ID.into()),
        client_secret: Some(tessera::ids::Secret::new(
            crate::support::fake_idp::CLIENT_SECRET,
        )),
        settings: tessera::model::ProviderSettings {
            issuer: Some(fake.issuer()),
            ..Default::default()
        },
    };
    tessera::federation::providers::create(&app.st, &app.pool.id, spec_google, app.now())
        .await
        .unwrap();
    let redirect = format!("{}/cb", app.base);
    let c = app
        .oidc_client(tessera::clients::ClientSpec {
            redirect_uris: vec![redirect.clone()],
            identity_providers: vec!["COGNITO".into(), "Google".into()],
            ..spec("web")
        })
        .await;
    let rp =
        c.rp.clone()
            .set_redirect_uri(openidconnect::RedirectUrl::new(redirect.clone()).unwrap());
    let c = crate::support::rp::OidcClient { rp, ..c };
    let s = c.start();
    let b = browser(&d).await;
    b.goto(&s.url).await.unwrap();
    click(&b, "idp-Google").await;
    click(&b, "fake-approve").await;
    let q = arrive(b, &redirect).await;
    let tokens = c.exchange(&q["code"], s.verifier).await.unwrap();
    let id = openidconnect::TokenResponse::id_token(&tokens)
        .unwrap()
        .to_string();
    let claims: serde_json::Value =
        serde_json::from_slice(&crate::support::rp::base64_part(&id, 1)).unwrap();
    assert_eq!(claims["cognito:username"], "Google_1000001");
}
