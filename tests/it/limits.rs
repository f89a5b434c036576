//! Cognito-style limits and answers that reveal nothing: per-pool rates per category (429 with
//! `Retry-After`), sign-up with a taken email answering like any sign-up, forgot-password
//! doing the same work for every identifier, and unconfirmed sign-ups that neither squat an
//! address nor last.

use chrono::TimeDelta;
use tessera::model::pool::RateLimits;

use crate::support::TestApp;
use crate::support::rp::{Landed, PASSWORD, REDIRECT, basic, hidden, spec};

/// A fresh browser at the sign-in page of `url`: (browser, page).
async fn at_sign_in(app: &TestApp, url: &str) -> (reqwest::Client, String) {
    let browser = app.browser();
    let res = browser.get(url).send().await.unwrap();
    let Landed::Page { body, .. } = app.follow(&browser, res).await.0 else {
        panic!("the sign-in page")
    };
    (browser, body)
}

/// Opens `page_path` (`signup`, `forgotPassword`) from a fresh sign-in page.
async fn at_form(app: &TestApp, url: &str, page_path: &str) -> (reqwest::Client, String) {
    let (browser, login) = at_sign_in(app, url).await;
    let tx = hidden(&login, "tx");
    let res = browser
        .get(format!("{}/{page_path}?tx={tx}", app.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    (browser, res.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("tx".to_string(), hidden(page, "tx")),
        ("csrf".to_string(), hidden(page, "csrf")),
    ];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    browser
        .post(format!("{}/{path}", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn events(app: &TestApp, kind: &str) -> usize {
    let all = tessera::audit::list(&app.st, &app.pool.id, None, 1000)
        .await
        .unwrap();
    all.iter().filter(|e| e.kind == kind).count()
}

fn limited(res: &reqwest::Response) -> bool {
    res.status() == 429 && res.headers().get("retry-after").is_some()
}

#[actix_web::test]
async fn each_rate_category_answers_429_with_retry_after_until_the_second_passes() {
    let mut app = TestApp::new().await;
    app.settings(|s| {
        s.rate_limits = RateLimits {
            user_creation: 1,
            sign_in: 1,
            account_recovery: 1,
            token: 1,
        }
    })
    .await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let url = c.start().url;

    // Token: the second request in the same second is refused as JSON.
    let token = || {
        app.http
            .post(format!("{}/oauth2/token", app.issuer()))
            .header("authorization", basic(&c))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
            .send()
    };
    assert_eq!(
        token().await.unwrap().status(),
        400,
        "the first is answered"
    );
    let res = token().await.unwrap();
    assert!(limited(&res), "{:?}", res.status());
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    // Sign-in, sign-up and recovery: a readable 429 page.
    for (path, page_path, fields) in [
        (
            "login",
            None,
            vec![("username", "alice"), ("password", "wrong")],
        ),
        (
            "signup",
            Some("signup"),
            vec![
                ("username", "x"),
                ("email", "x@example.com"),
                ("password", "long enough pw"),
            ],
        ),
        (
            "forgotPassword",
            Some("forgotPassword"),
            vec![("username", "alice")],
        ),
    ] {
        let mut answers = Vec::new();
        for _ in 0..2 {
            let (browser, page) = match page_path {
                Some(p) => at_form(&app, &url, p).await,
                None => at_sign_in(&app, &url).await,
            };
            answers.push(post(&app, &browser, path, &page, &fields).await);
        }
        assert!(!limited(&answers[0]), "{path}: the first is answered");
        assert!(limited(&answers[1]), "{path}: {:?}", answers[1].status());
        let text = answers.pop().unwrap().text().await.unwrap();
        assert!(text.contains("try again"), "{text}");
    }

    // A second later the rates have room again.
    app.clock.advance(TimeDelta::seconds(1));
    assert_eq!(token().await.unwrap().status(), 400);
    let (browser, page) = at_sign_in(&app, &url).await;
    let res = post(
        &app,
        &browser,
        "login",
        &page,
        &[("username", "alice"), ("password", PASSWORD)],
    )
    .await;
    assert!(!limited(&res));
}

#[actix_web::test]
async fn sign_up_with_a_taken_email_looks_like_any_sign_up_and_tells_the_owner() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let url = c.start().url;
    // A form that fails a check fails it the same way whether or not the email is taken
    // (else a too-short password would tell which addresses have accounts).
    let mut refusals = Vec::new();
    for email in ["alice@example.com", "other@example.com"] {
        let (browser, page) = at_form(&app, &url, "signup").await;
        let fields = [
            ("username", "probe"),
            ("email", email),
            ("password", "short"),
        ];
        let res = post(&app, &browser, "signup", &page, &fields).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        let neutral = body
            .replace(&hidden(&body, "tx"), "TX")
            .replace(&hidden(&body, "csrf"), "CSRF")
            .replace(email, "EMAIL");
        refusals.push((status, neutral));
    }
    assert_eq!(refusals[0].0, 400);
    assert_eq!(refusals[0], refusals[1], "a policy failure reveals nothing");
    let mut answers = Vec::new();
    for (name, email) in [
        ("mallory", "alice@example.com"),
        ("newbie", "new@example.com"),
    ] {
        let (browser, page) = at_form(&app, &url, "signup").await;
        let fields = [
            ("username", name),
            ("email", email),
            ("password", "long enough pw"),
        ];
        let res = post(&app, &browser, "signup", &page, &fields).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        let (tx, csrf) = (hidden(&body, "tx"), hidden(&body, "csrf"));
        let neutral = body
            .replace(&tx, "TX")
            .replace(&csrf, "CSRF")
            .replace(email, "EMAIL");
        answers.push((status, neutral, browser, body));
    }
    assert_eq!(answers[0].0, answers[1].0);
    assert_eq!(
        answers[0].1, answers[1].1,
        "the same page for a taken email"
    );
    assert!(answers[0].1.contains("Check your email"));

    let mails = app.mails().await;
    let owner = mails.iter().find(|m| m.to == "alice@example.com").unwrap();
    assert!(
        owner.subject.contains("Someone tried to sign up"),
        "{owner:?}"
    );
    assert!(owner.text.contains(&format!("{}/account", app.issuer())));
    assert!(app.last_code("new@example.com").await.is_some());
    assert_eq!(mails.len(), 2);
    // Nothing was created for the taken address, and no code passes its confirmation step.
    assert!(
        tessera::accounts::find(&app.st, &app.pool.id, "mallory")
            .await
            .is_err()
    );
    assert_eq!(events(&app, "signup_email_taken").await, 1);
    let (_, _, browser, page) = &answers[0];
    for code in ["000000", "123456"] {
        let res = post(&app, browser, "confirm", page, &[("code", code)]).await;
        assert!(res.text().await.unwrap().contains("wrong or has expired"));
    }
    let res = post(&app, browser, "confirm", page, &[("resend", "1")]).await;
    assert!(res.text().await.unwrap().contains("new code is on its way"));
    // ...and nothing is mailed for it: the owner got the one notice, no code.
    let mails = app.mails().await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(app.last_code("alice@example.com").await.is_none());
}

#[actix_web::test]
async fn forgot_password_does_the_same_work_for_known_and_unknown_accounts() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let url = c.start().url;
    let mut pages = Vec::new();
    for who in ["alice", "nobody"] {
        let (browser, page) = at_form(&app, &url, "forgotPassword").await;
        let before = app.st.background.spawned();
        let res = post(
            &app,
            &browser,
            "forgotPassword",
            &page,
            &[("username", who)],
        )
        .await;
        // The request path only counts budgets and hands the lookup and the mail to one
        // background task, whoever is named: no account lookup happens before the answer.
        assert_eq!(app.st.background.spawned(), before + 1, "{who}");
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        let neutral = body
            .replace(&hidden(&body, "tx"), "TX")
            .replace(&hidden(&body, "csrf"), "CSRF")
            .replace(who, "WHO");
        pages.push(neutral);
    }
    assert_eq!(pages[0], pages[1]);
    let mails = app.mails().await;
    assert_eq!(mails.len(), 1, "only the real account got mail");
    assert_eq!(mails[0].to, "alice@example.com");

    // Per client address: 20 an hour, then a 429 page.
    let mut last = None;
    for i in 0..21 {
        let (browser, page) = at_form(&app, &url, "forgotPassword").await;
        let who = format!("someone{i}");
        last = Some(
            post(
                &app,
                &browser,
                "forgotPassword",
                &page,
                &[("username", &who)],
            )
            .await,
        );
    }
    assert!(limited(&last.unwrap()));
}

/// Signs up `username` with `email` (the username sign-in mode); returns the confirm page.
async fn sign_up(
    app: &TestApp,
    url: &str,
    username: &str,
    email: &str,
    pw: &str,
) -> (reqwest::Client, String) {
    let (browser, page) = at_form(app, url, "signup").await;
    let fields = [("username", username), ("email", email), ("password", pw)];
    let res = post(app, &browser, "signup", &page, &fields).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    (browser, body)
}

#[actix_web::test]
async fn an_unconfirmed_sign_up_neither_squats_the_address_nor_lasts() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    let url = c.start().url;
    // A squatter signs up with the victim's address and never confirms.
    sign_up(
        &app,
        &url,
        "squatter",
        "victim@example.com",
        "squatter pw 1",
    )
    .await;
    app.clock.advance(TimeDelta::days(2));
    // The victim can still sign up with it, and confirms.
    let (browser, page) = sign_up(&app, &url, "victim", "victim@example.com", "victim pw 12").await;
    let code = app.last_code("victim@example.com").await.unwrap();
    let res = post(&app, &browser, "confirm", &page, &[("code", &code)]).await;
    assert!(matches!(
        app.follow(&browser, res).await.0,
        Landed::Client(_)
    ));
    // The address names the victim only; the squatter cannot sign in by it.
    let squat = app
        .sign_in(&app.browser(), &url, "victim@example.com", "squatter pw 1")
        .await;
    assert!(
        matches!(squat, Landed::Page { status: 401, .. }),
        "{squat:?}"
    );
    let ok = app
        .sign_in(&app.browser(), &url, "victim@example.com", "victim pw 12")
        .await;
    assert!(matches!(ok, Landed::Client(_)), "{ok:?}");

    // A week after it was made, the squatter's account is gone (the victim's stays).
    app.clock
        .advance(TimeDelta::days(5) + TimeDelta::minutes(1));
    let swept = tessera::housekeeping::run_once(&app.st).await.unwrap();
    assert_eq!(swept.unconfirmed_users, 1);
    assert!(
        tessera::accounts::find(&app.st, &app.pool.id, "squatter")
            .await
            .is_err()
    );
    let victim = tessera::accounts::find(&app.st, &app.pool.id, "victim")
        .await
        .unwrap();
    assert_eq!(victim.status, tessera::model::UserStatus::Confirmed);
    assert_eq!(events(&app, "unconfirmed_expired").await, 1);
    let swept = tessera::housekeeping::run_once(&app.st).await.unwrap();
    assert_eq!(swept.unconfirmed_users, 0);
}

#[actix_web::test]
async fn anonymous_authorization_requests_from_one_address_are_capped() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let url = c.start().url;
    let mut last = None;
    for _ in 0..301 {
        last = Some(browser.get(&url).send().await.unwrap());
    }
    let last = last.unwrap();
    assert!(limited(&last), "{:?}", last.status());
}

#[actix_web::test]
async fn cookies_are_host_prefixed_behind_https() {
    let app = TestApp::builder()
        .config(|c| c.public_url = Some("https://id.example.test".into()))
        .build()
        .await;
    let created = tessera::clients::create(&app.st, &app.pool.id, spec("web"), app.now())
        .await
        .unwrap();
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid\
         &state=s&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        app.issuer(),
        created.client.client_id,
        crate::support::rp::enc(REDIRECT),
    );
    let res = app.http.get(url).send().await.unwrap();
    let set: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let expected = format!("__Host-tessera_browser-{}=", app.pool.id);
    let binding = set
        .iter()
        .find(|c| c.starts_with(&expected))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert!(binding.contains("Secure"), "{binding}");
    assert!(
        binding.contains("Path=/;") || binding.ends_with("Path=/"),
        "{binding}"
    );
    assert!(!binding.contains("Domain"), "{binding}");
}
