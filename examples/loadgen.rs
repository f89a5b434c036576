//! A closed-loop load generator for the flows `wrk` cannot script: a full password sign-in
//! (authorize, sign-in form, code, token exchange), refresh-token rotation, sign-up, password
//! change and reset. `bench/run.py` drives it; it prints one JSON line: requests, errors,
//! answers shed or limited with `Retry-After` (`shed`: the browser waited as asked, then sent
//! its sign-in or sign-up form again, or started its other flow over), req/s, p50 and p99 in
//! ms.
//!
//! ```text
//! loadgen signin  ISSUER CLIENT_ID USERS PASSWORD CONCURRENCY SECONDS
//! loadgen refresh ISSUER CLIENT_ID USERS PASSWORD CONCURRENCY SECONDS
//! loadgen signup  ISSUER CLIENT_ID USERS PASSWORD CONCURRENCY SECONDS
//! loadgen passwd  ISSUER CLIENT_ID USERS PASSWORD CONCURRENCY SECONDS
//! loadgen reset   ISSUER CLIENT_ID USERS PASSWORD CONCURRENCY SECONDS   (LOADGEN_OUTBOX=DIR)
//! loadgen token   ISSUER CLIENT_ID USERS PASSWORD 1 1     (prints one access token)
//! ```
//! Users are `user0`..`user{USERS-1}`, all with PASSWORD (`signup` makes new ones, up to the
//! page asking for the emailed code; `passwd` signs in and changes the password to itself
//! with the Cognito API's `ChangePassword`; `reset` takes `reset0`..`reset{USERS-1}`, each
//! with a verified `reset{N}@example.com`, through `ForgotPassword`, the code from the server's
//! file outbox, and `ConfirmForgotPassword`); the client is public, redirect URI
//! `http://127.0.0.1/cb`, first party (no consent page), and may ask for
//! `aws.cognito.signin.user.admin`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REDIRECT: &str = "http://127.0.0.1/cb";
/// The S256 challenge of the verifier below.
const VERIFIER: &str = "dBjftJeZ4CVP-mJ0Bc7dddBjftJeZ4CVP-mJ0Bc7ddd";

struct Target {
    issuer: String,
    client: String,
    users: usize,
    password: String,
}

fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    page[start..].split('"').next().map(str::to_string)
}

fn challenge() -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER))
}

/// The cookies a response sets, as a `Cookie` header value (merged into `jar`).
fn keep_cookies(jar: &mut Vec<(String, String)>, res: &reqwest::Response) {
    for v in res.headers().get_all("set-cookie") {
        let Some((name, value)) = v
            .to_str()
            .ok()
            .and_then(|c| c.split(';').next())
            .and_then(|c| c.split_once('='))
        else {
            continue;
        };
        jar.retain(|(n, _)| n != name);
        jar.push((name.to_string(), value.to_string()));
    }
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One full sign-in as a fresh browser (its own cookies, and its own address behind the
/// trusted proxy the benchmark configures), over the task's shared connection; the token
/// response at the end.
async fn sign_in_tokens(
    http: &reqwest::Client,
    t: &Target,
    user: usize,
    scope: &str,
) -> Result<serde_json::Value, String> {
    let ip = address(user);
    let (jar, login) = authorize(http, t, &ip, scope).await?;
    let origin = t
        .issuer
        .rsplit_once('/')
        .map(|(o, _)| o)
        .unwrap_or(&t.issuer);
    let page = page(http, &format!("{origin}{login}"), &ip, &jar).await?;
    let fields = [
        ("username", format!("user{user}")),
        ("password", t.password.clone()),
    ];
    let url = format!("{}/login", t.issuer);
    let res = send_form(http, &url, &ip, &jar, page, &fields).await?;
    let to = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("sign-in answered {}", res.status()))?;
    let code = url_param(to, "code").ok_or("no code")?;
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth2/token", t.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", t.client.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(tokens)
}

/// The browser address of flow `n` (the benchmark trusts 127.0.0.1 as a proxy): per-address
/// limits see as many browsers as flows.
fn address(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// A fresh browser at `ip` starts a flow (PKCE, `scope`): its cookies and the sign-in page's
/// address (path and query) that authorize redirected to.
async fn authorize(
    http: &reqwest::Client,
    t: &Target,
    ip: &str,
    scope: &str,
) -> Result<(Vec<(String, String)>, String), String> {
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={scope}&state=s&nonce=n&code_challenge={}&code_challenge_method=S256",
        t.issuer,
        t.client,
        urlencode(REDIRECT),
        challenge()
    );
    let res = http
        .get(&url)
        .header("x-forwarded-for", ip)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut jar = Vec::new();
    keep_cookies(&mut jar, &res);
    let login = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("authorize answered {}", res.status()))?
        .to_string();
    Ok((jar, login))
}

/// A hosted page as the browser at `ip` with cookies `jar` sees it.
async fn page(
    http: &reqwest::Client,
    url: &str,
    ip: &str,
    jar: &[(String, String)],
) -> Result<String, String> {
    http.get(url)
        .header("x-forwarded-for", ip)
        .header("cookie", cookie_header(jar))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// Posts a hosted page's form as that browser.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    ip: &str,
    jar: &[(String, String)],
    form: &[(&str, String)],
) -> Result<reqwest::Response, String> {
    http.post(url)
        .header("x-forwarded-for", ip)
        .header("cookie", cookie_header(jar))
        .form(form)
        .send()
        .await
        .map_err(|e| e.to_string())
}

/// Sends a hosted page's form as that browser: the `tx` and `csrf` of `page`, then `fields`.
/// Answered 503 (shed: every hashing worker busy), the page is the same form again with
/// `Retry-After`, and the user sends it again after that wait.
async fn send_form(
    http: &reqwest::Client,
    url: &str,
    ip: &str,
    jar: &[(String, String)],
    mut page: String,
    fields: &[(&str, String)],
) -> Result<reqwest::Response, String> {
    loop {
        let mut form = vec![
            ("tx", hidden(&page, "tx").ok_or("no tx on the page")?),
            ("csrf", hidden(&page, "csrf").ok_or("no csrf on the page")?),
        ];
        form.extend(fields.iter().cloned());
        let res = post_form(http, url, ip, jar, &form).await?;
        if res.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(res);
        }
        SHED.fetch_add(1, Ordering::Relaxed);
        let wait = retry_after(&res).ok_or("a 503 without Retry-After")?;
        page = res.text().await.map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_secs(wait.min(5))).await;
    }
}

/// A shed or limited answer (503/429 with `Retry-After`): the user waits as asked.
async fn pause_if_asked(res: &reqwest::Response) -> Option<String> {
    let wait = retry_after(res)?;
    SHED.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(wait.min(5))).await;
    Some(format!("answered {}", res.status()))
}

/// Answers shed or limited (503/429 with `Retry-After`), whether the browser then sent the
/// form again (a shed sign-in or sign-up) or started over (the rest).
static SHED: AtomicU64 = AtomicU64::new(0);

/// The wait a shed or limited answer (503/429) asks for.
fn retry_after(res: &reqwest::Response) -> Option<u64> {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// One sign-up as a fresh browser: authorize, the sign-up page, the form (the password is
/// hashed here), up to the page that asks for the emailed code.
async fn sign_up(http: &reqwest::Client, t: &Target, n: usize) -> Result<(), String> {
    let ip = address(n);
    let (jar, login) = authorize(http, t, &ip, "openid").await?;
    let tx = url_param(&login, "tx").ok_or("no tx in the sign-in page's address")?;
    let page = page(http, &format!("{}/signup?tx={tx}", t.issuer), &ip, &jar).await?;
    // Unique across runs: the process id and the flow number.
    let name = format!("s{}x{n}", std::process::id());
    let fields = [
        ("username", name.clone()),
        ("email", format!("{name}@example.com")),
        ("password", t.password.clone()),
    ];
    let url = format!("{}/signup", t.issuer);
    let res = send_form(http, &url, &ip, &jar, page, &fields).await?;
    // Over the sign-up budget (429): the browser waits as asked and starts over.
    if let Some(why) = pause_if_asked(&res).await {
        return Err(format!("sign-up {why}"));
    }
    let status = res.status();
    let page = res.text().await.map_err(|e| e.to_string())?;
    if status.is_success() && page.contains("name=\"code\"") {
        Ok(())
    } else {
        Err(format!("sign-up answered {status} without the code page"))
    }
}

/// One call of the Cognito API (`POST /`, AWS JSON 1.1) from the browser at `ip`; throttled
/// (`TooManyRequestsException`: the hashing is saturated), it backs off 1 s and then 2 s and
/// tries again, as the AWS SDKs' standard retry mode does (three attempts in all).
async fn cognito(
    http: &reqwest::Client,
    t: &Target,
    ip: &str,
    action: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut attempt = 0;
    loop {
        match cognito_once(http, t, ip, action, &body).await {
            Err(e) if attempt < 2 && e.contains("TooManyRequestsException") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(attempt)).await;
            }
            other => return other,
        }
    }
}

async fn cognito_once(
    http: &reqwest::Client,
    t: &Target,
    ip: &str,
    action: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let origin = t.issuer.rsplit_once('/').map_or(&*t.issuer, |(o, _)| o);
    let res = http
        .post(format!("{origin}/"))
        .header("x-forwarded-for", ip)
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{action}"),
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(why) = pause_if_asked(&res).await {
        return Err(format!("{action} {why}"));
    }
    let status = res.status();
    let answer: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(answer)
    } else {
        Err(format!("{action} answered {status}: {answer}"))
    }
}

/// A sign-in whose access token may call the Cognito API, then `ChangePassword` to the same
/// password: three hashes (the sign-in's check, the current password's, the new one's).
async fn change_password(http: &reqwest::Client, t: &Target, user: usize) -> Result<(), String> {
    let scope = "openid%20aws.cognito.signin.user.admin";
    let tokens = sign_in_tokens(http, t, user, scope).await?;
    let token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| format!("no access token: {tokens}"))?;
    let body = serde_json::json!({
        "AccessToken": token,
        "PreviousPassword": t.password,
        "ProposedPassword": t.password,
    });
    cognito(http, t, &address(user), "ChangePassword", body)
        .await
        .map(drop)
}

/// `ForgotPassword` for `reset{n}`, its code read from the outbox, `ConfirmForgotPassword`
/// (one hash: the new password's).
async fn reset(http: &reqwest::Client, t: &Target, codes: &Codes, n: usize) -> Result<(), String> {
    let (ip, user) = (address(n), format!("reset{n}"));
    let asked = serde_json::json!({ "ClientId": t.client, "Username": user });
    cognito(http, t, &ip, "ForgotPassword", asked).await?;
    let code = codes.wait(&format!("{user}@example.com")).await?;
    let confirm = serde_json::json!({
        "ClientId": t.client,
        "Username": user,
        "ConfirmationCode": code,
        "Password": t.password,
    });
    cognito(http, t, &ip, "ConfirmForgotPassword", confirm)
        .await
        .map(drop)
}

/// The codes in the server's file outbox (`{data_dir}/outbox/`, one file a message), read as
/// the messages arrive: the newest code for each address.
struct Codes {
    dir: std::path::PathBuf,
    seen: std::sync::Mutex<std::collections::HashSet<std::ffi::OsString>>,
    found: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Codes {
    fn new(dir: std::path::PathBuf) -> Self {
        Self {
            dir,
            seen: Default::default(),
            found: Default::default(),
        }
    }

    /// Skips the messages already there (an earlier run's codes are not this run's).
    fn skip_existing(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            let mut seen = self.seen.lock().unwrap();
            seen.extend(entries.flatten().map(|e| e.file_name()));
        }
    }

    /// Reads the messages not read before.
    fn scan(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap();
        for e in entries.flatten() {
            if seen.contains(&e.file_name()) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let to = text.lines().find_map(|l| l.strip_prefix("To: "));
            let code = text.split("Your code: ").nth(1).map(|c| {
                c.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            });
            if let (Some(to), Some(code)) = (to, code) {
                seen.insert(e.file_name());
                self.found.lock().unwrap().insert(to.to_string(), code);
            }
        }
    }

    /// The code mailed to `to` (taken: the next wait waits for a new one).
    async fn wait(&self, to: &str) -> Result<String, String> {
        for _ in 0..1000 {
            if let Some(code) = self.found.lock().unwrap().remove(to) {
                return Ok(code);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(format!("no code for {to} in {}", self.dir.display()))
    }
}

/// One full sign-in; its refresh token.
async fn sign_in(http: &reqwest::Client, t: &Target, user: usize) -> Result<String, String> {
    let tokens = sign_in_tokens(http, t, user, "openid%20offline_access").await?;
    tokens["refresh_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no refresh token: {tokens}"))
}

async fn refresh(http: &reqwest::Client, t: &Target, token: &str) -> Result<String, String> {
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth2/token", t.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", t.client.as_str()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    tokens["refresh_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no refresh token: {tokens}"))
}

/// The load's HTTP client: kept-alive connections, no cookie store (each flow keeps its own
/// cookies), redirects not followed. Built once and shared: building one loads the system's
/// CA certificates (tens of milliseconds), and 512 of them on the load core delayed the first
/// requests past the server's 5 s request timeout.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Below the server's keep-alive (actix: 5 s): a browser pausing for Retry-After must
        // not reuse a connection the server is closing.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client")
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn url_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, issuer, client, users, password, conc, secs] = args.as_slice() else {
        eprintln!(
            "usage: loadgen signin|refresh|signup|passwd|reset ISSUER CLIENT_ID USERS PASSWORD CONCURRENCY SECONDS"
        );
        std::process::exit(2);
    };
    let t = Arc::new(Target {
        issuer: issuer.clone(),
        client: client.clone(),
        users: users.parse().expect("USERS"),
        password: password.clone(),
    });
    let (conc, secs): (usize, u64) = (
        conc.parse().expect("CONCURRENCY"),
        secs.parse().expect("SECONDS"),
    );
    if mode == "token" {
        // One sign-in; print its access token (for the userinfo case).
        let http = http_client();
        let tokens = sign_in_tokens(&http, &t, 0, "openid%20offline_access")
            .await
            .expect("a sign-in");
        println!("{}", tokens["access_token"].as_str().unwrap_or_default());
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let outbox = std::env::var_os("LOADGEN_OUTBOX").unwrap_or_default();
    let codes = Arc::new(Codes::new(outbox.into()));
    if mode == "reset" {
        // One reader for every flow: the messages are read once each, as they arrive.
        let codes = codes.clone();
        codes.skip_existing();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                codes.scan();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let shared = http_client();
    for n in 0..conc {
        let (t, errors, mode, codes) = (t.clone(), errors.clone(), mode.clone(), codes.clone());
        let http = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut user = n;
            let mut first_error = None;
            // Refresh needs one sign-in first (not timed).
            let mut token = if mode == "refresh" {
                sign_in(&http, &t, n % t.users).await.ok()
            } else {
                None
            };
            while Instant::now() < deadline {
                let started = Instant::now();
                // Like wrk: what has not finished by the deadline is not counted (waiting for
                // in-flight flows would add their queueing time to the window).
                let step = async {
                    match (mode.as_str(), &token) {
                        ("refresh", Some(rt)) => refresh(&http, &t, rt).await.map(Some),
                        ("signup", _) => sign_up(&http, &t, user).await.map(|_| None),
                        ("passwd", _) => change_password(&http, &t, user % t.users)
                            .await
                            .map(|_| None),
                        ("reset", _) => {
                            reset(&http, &t, &codes, user % t.users).await.map(|_| None)
                        }
                        _ => sign_in(&http, &t, user % t.users).await.map(|_| None),
                    }
                };
                let Ok(outcome) = tokio::time::timeout_at(deadline.into(), step).await else {
                    break;
                };
                let ok = match outcome {
                    Ok(next) => {
                        if next.is_some() {
                            token = next;
                        }
                        true
                    }
                    Err(e) => {
                        // The first failure of each task, so a run that fails says why.
                        if first_error.is_none() {
                            eprintln!("loadgen: {e}");
                            first_error = Some(());
                        }
                        false
                    }
                };
                if ok {
                    latencies.push(started.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                user += conc;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a load task"));
    }
    let took = (secs as f64).max(0.001);
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{{\"requests\":{},\"errors\":{},\"shed\":{},\"rps\":{:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
        all.len(),
        errors.load(Ordering::Relaxed),
        SHED.load(Ordering::Relaxed),
        all.len() as f64 / took,
        pct(0.5),
        pct(0.99)
    );
}
