//! Limits that hold under a parallel burst: every attempt is reserved (an atomic increment)
//! before the password hash or the code is checked, so of 20 simultaneous wrong passwords or
//! wrong codes only the allowed number is evaluated; the rest are told to wait.

use futures_util::future::join_all;
use tessera::model::MfaMode;

use crate::support::rp::{Landed, PASSWORD, hidden, spec};
use crate::support::{TestApp, shed_form};

const BURST: usize = 20;

/// `BURST` sign-in pages, each in its own fresh browser with its own login transaction.
async fn sign_in_pages(app: &TestApp, url: &str) -> Vec<(reqwest::Client, String)> {
    let mut pages = Vec::new();
    for _ in 0..BURST {
        let browser = app.browser();
        let res = browser.get(url).send().await.unwrap();
        let Landed::Page { body, .. } = app.follow(&browser, res).await.0 else {
            panic!("the sign-in page")
        };
        pages.push((browser, body));
    }
    pages
}

/// Posts `fields` on every page at once; returns the bodies of the answers.
async fn burst(
    app: &TestApp,
    path: &str,
    pages: &[(reqwest::Client, String)],
    fields: &[(&str, &str)],
) -> Vec<String> {
    let posts = pages.iter().map(|(browser, page)| {
        let mut form = vec![
            ("tx".to_string(), hidden(page, "tx")),
            ("csrf".to_string(), hidden(page, "csrf")),
        ];
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let req = browser.post(format!("{}/{path}", app.issuer())).form(&form);
        async move { req.send().await.unwrap().text().await.unwrap() }
    });
    join_all(posts).await
}

async fn events(app: &TestApp, kind: &str) -> usize {
    let all = tessera::audit::list(&app.st, &app.pool.id, None, 1000)
        .await
        .unwrap();
    all.iter().filter(|e| e.kind == kind).count()
}

#[actix_web::test]
async fn a_burst_of_wrong_passwords_is_evaluated_only_as_far_as_the_lockout_allows() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let c = app.oidc_client(spec("web")).await;
    let pages = sign_in_pages(&app, &c.start().url).await;
    let answers = burst(
        &app,
        "login",
        &pages,
        &[("username", "alice"), ("password", "wrong password!")],
    )
    .await;
    let wrong = answers
        .iter()
        .filter(|b| b.contains("Incorrect username or password"))
        .count();
    let wait = answers
        .iter()
        .filter(|b| b.contains("Too many failed attempts"))
        .count();
    let free = usize::try_from(tessera::accounts::signin::FREE_FAILURES).unwrap();
    assert_eq!(wrong, free, "evaluated");
    assert_eq!(wait, BURST - free, "told to wait");
    assert_eq!(events(&app, "sign_in_failed").await, free, "hashes checked");
    // The right password now waits too (the identifier is in its wait).
    let landed = app
        .sign_in(&app.browser(), &c.start().url, "alice", PASSWORD)
        .await;
    assert!(
        matches!(&landed, Landed::Page { body, .. } if body.contains("Too many failed attempts"))
    );
}

#[actix_web::test]
async fn a_burst_of_wrong_codes_is_evaluated_only_as_far_as_the_lockout_allows() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    let alice = app.user("alice", "alice@example.com").await;
    let pool = app.pool.id.clone();
    let e =
        tessera::mfa::begin_enrollment(&app.st, &pool, "p", alice.sub.as_str(), "alice", app.now())
            .await
            .unwrap();
    let first = tessera::mfa::code_at(&e.secret_base32, app.now()).unwrap();
    tessera::mfa::confirm_enrollment(&app.st, &pool, alice.sub.as_str(), &first, app.now())
        .await
        .unwrap();
    let c = app.oidc_client(spec("web")).await;
    // Twenty transactions at the code step (each password sign-in succeeds on its own).
    let mut at_code = Vec::new();
    for (browser, page) in sign_in_pages(&app, &c.start().url).await {
        let form = [
            ("tx", hidden(&page, "tx")),
            ("csrf", hidden(&page, "csrf")),
            ("username", "alice".into()),
            ("password", PASSWORD.into()),
        ];
        let res = browser
            .post(format!("{}/login", app.issuer()))
            .form(&form)
            .send()
            .await
            .unwrap();
        let Landed::Page { body, .. } = app.follow(&browser, res).await.0 else {
            panic!()
        };
        assert!(body.contains("name=\"code\""), "{body}");
        at_code.push((browser, body));
    }
    let answers = burst(&app, "mfa", &at_code, &[("code", "000000")]).await;
    let wrong = answers
        .iter()
        .filter(|b| b.contains("That code is not right"))
        .count();
    let free = usize::try_from(tessera::accounts::signin::FREE_FAILURES).unwrap();
    assert!(wrong <= free, "{wrong} codes checked");
    assert_eq!(events(&app, "mfa_failed").await, wrong);
    assert!(answers.iter().filter(|b| b.contains("Too many")).count() >= BURST - free);
}

#[actix_web::test]
async fn a_transaction_is_spent_after_five_wrong_codes() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    let alice = app.user("alice", "alice@example.com").await;
    let pool = app.pool.id.clone();
    let e =
        tessera::mfa::begin_enrollment(&app.st, &pool, "p", alice.sub.as_str(), "alice", app.now())
            .await
            .unwrap();
    let code = |secs: i64| {
        tessera::mfa::code_at(
            &e.secret_base32,
            app.now() + chrono::TimeDelta::seconds(secs),
        )
        .unwrap()
    };
    tessera::mfa::confirm_enrollment(&app.st, &pool, alice.sub.as_str(), &code(0), app.now())
        .await
        .unwrap();
    let c = app.oidc_client(spec("web")).await;
    let browser = app.browser();
    let Landed::Page { body: page, .. } = app
        .sign_in(&browser, &c.start().url, "alice", PASSWORD)
        .await
    else {
        panic!()
    };
    let post = async |code: &str| {
        let form = [
            ("tx", hidden(&page, "tx")),
            ("csrf", hidden(&page, "csrf")),
            ("code", code.to_string()),
        ];
        let res = browser
            .post(format!("{}/mfa", app.issuer()))
            .form(&form)
            .send()
            .await
            .unwrap();
        res.text().await.unwrap()
    };
    for _ in 0..5 {
        // Waiting out each lock keeps the identifier lockout out of the way.
        assert!(post("000000").await.contains("That code is not right"));
        app.clock.advance(chrono::TimeDelta::seconds(2));
    }
    let sixth = post(&code(0)).await;
    assert!(
        sixth.contains("Too many wrong codes for this sign-in"),
        "{sixth}"
    );
    assert!(
        post(&code(30)).await.contains("expired"),
        "the transaction is gone"
    );
}

/// The address the audit trail records for one wrong password sent with `headers`.
async fn recorded_ip(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let c = app.oidc_client(spec("web")).await;
    let pages = sign_in_pages(app, &c.start().url).await;
    let (browser, page) = &pages[0];
    let form = [
        ("tx", hidden(page, "tx")),
        ("csrf", hidden(page, "csrf")),
        ("username", "nobody".into()),
        ("password", "wrong password!".into()),
    ];
    let mut req = browser.post(format!("{}/login", app.issuer())).form(&form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap();
    let all = tessera::audit::list(&app.st, &app.pool.id, None, 10)
        .await
        .unwrap();
    all.iter()
        .find(|e| e.kind == "sign_in_failed")
        .and_then(|e| e.ip.clone())
        .unwrap()
}

#[actix_web::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let direct = TestApp::new().await;
    assert_eq!(
        recorded_ip(&direct, &[("x-forwarded-for", "203.0.113.7")]).await,
        "127.0.0.1"
    );
    let proxied = TestApp::builder()
        .config(|c| c.trusted_proxies = "127.0.0.0/8, 10.0.0.1".into())
        .build()
        .await;
    // The nearest hop that is not one of our proxies; what the client wrote further left is ignored.
    let xff = [("x-forwarded-for", "198.51.100.9, 203.0.113.7, 10.0.0.1")];
    assert_eq!(recorded_ip(&proxied, &xff).await, "203.0.113.7");
    let forwarded = [(
        "forwarded",
        "for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\"",
    )];
    let other = TestApp::builder()
        .config(|c| c.trusted_proxies = "127.0.0.1".into())
        .build()
        .await;
    assert_eq!(recorded_ip(&other, &forwarded).await, "2001:db8::1");
}

#[actix_web::test]
async fn a_full_hashing_queue_sheds_sign_ins_with_503_and_the_form_again() {
    let app = TestApp::builder().one_slow_hashing_slot().build().await;
    let c = app.oidc_client(spec("web")).await;
    let pages = sign_in_pages(&app, &c.start().url).await;
    let posts = pages.iter().enumerate().map(|(i, (browser, page))| {
        let form = [
            ("tx", hidden(page, "tx")),
            ("csrf", hidden(page, "csrf")),
            ("username", format!("nobody{i}")),
            ("password", "wrong password!".to_string()),
        ];
        let req = browser.post(format!("{}/login", app.issuer())).form(&form);
        async move {
            let res = req.send().await.unwrap();
            let (status, retry) = (res.status(), res.headers().get("retry-after").cloned());
            (status, retry, res.text().await.unwrap())
        }
    });
    let answers = join_all(posts).await;
    let shed: Vec<_> = (0..answers.len())
        .filter(|&i| answers[i].0 == 503)
        .collect();
    assert!(
        !shed.is_empty(),
        "a burst of {BURST} with one slot and no queue sheds some"
    );
    assert!(shed.iter().all(|&i| answers[i].1.is_some()));
    assert!(
        answers.iter().any(|r| r.0 == 401),
        "the one in the slot is evaluated"
    );
    let exposition = tessera::http::metrics::exposition(&app.st);
    let counted = format!("tessera_sign_ins_total{{outcome=\"shed\"}} {}", shed.len());
    assert!(exposition.contains(&counted), "{exposition}");
    // A shed answer is the sign-in form again, in the same transaction, with what was typed
    // (never the password) and why; sent again once the slot is free, it is checked.
    let i = shed[0];
    let (browser, first) = &pages[i];
    let again = &answers[i].2;
    assert!(again.contains("Many people are signing in right now"));
    assert_eq!(hidden(again, "tx"), hidden(first, "tx"));
    assert!(again.contains(&format!("value=\"nobody{i}\"")));
    assert!(!again.contains("wrong password!"));
    let form = [
        ("tx", hidden(again, "tx")),
        ("csrf", hidden(again, "csrf")),
        ("username", format!("nobody{i}")),
        ("password", "wrong password!".to_string()),
    ];
    let res = browser
        .post(format!("{}/login", app.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body = res.text().await.unwrap();
    assert!(body.contains("Incorrect username or password."));
    assert!(body.contains(&format!("value=\"nobody{i}\"")));
}

#[actix_web::test]
async fn a_shed_sign_up_answers_its_form_again_and_creates_nothing() {
    let app = TestApp::builder().one_slow_hashing_slot().build().await;
    let c = app.oidc_client(spec("web")).await;
    let (browser, login) = sign_in_pages(&app, &c.start().url).await.remove(0);
    let url = format!("{}/signup", app.issuer());
    let res = browser
        .get(format!("{url}?tx={}", hidden(&login, "tx")))
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    let form = |page: &str| {
        [
            ("tx", hidden(page, "tx")),
            ("csrf", hidden(page, "csrf")),
            ("username", "newbie".to_string()),
            ("email", "newbie@example.com".to_string()),
            ("password", "long enough pw".to_string()),
        ]
    };
    let res = app
        .while_hashing(browser.post(&url).form(&form(&page)).send())
        .await
        .unwrap();
    let again = shed_form(res).await;
    assert_eq!(hidden(&again, "tx"), hidden(&page, "tx"));
    assert!(again.contains("value=\"newbie@example.com\""));
    assert!(!again.contains("long enough pw"));
    let users = tessera::accounts::page(&app.st, &app.pool.id, None, 10)
        .await
        .unwrap()
        .users;
    assert!(users.is_empty(), "nothing was created");
    assert!(app.mails().await.is_empty());
    // Sent again once the worker is free: the account is made and its code asked for.
    let res = browser.post(&url).form(&form(&again)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"code\""));
    assert_eq!(app.mails().await.len(), 1);
}

#[actix_web::test]
async fn sign_ups_from_one_address_are_limited_even_in_a_burst() {
    let app = TestApp::new().await;
    let c = app.oidc_client(spec("web")).await;
    // Fifteen sign-up forms, each in its own browser.
    let mut forms = Vec::new();
    for (browser, login) in sign_in_pages(&app, &c.start().url)
        .await
        .into_iter()
        .take(15)
    {
        let tx = hidden(&login, "tx");
        let res = browser
            .get(format!("{}/signup?tx={tx}", app.issuer()))
            .send()
            .await
            .unwrap();
        let page = res.text().await.unwrap();
        forms.push((browser, page));
    }
    let posts = forms.iter().enumerate().map(|(i, (browser, page))| {
        let form = [
            ("tx", hidden(page, "tx")),
            ("csrf", hidden(page, "csrf")),
            ("username", format!("user{i}")),
            ("email", format!("user{i}@example.com")),
            ("password", "long enough pw".to_string()),
        ];
        let req = browser.post(format!("{}/signup", app.issuer())).form(&form);
        async move { req.send().await.unwrap() }
    });
    let answers = join_all(posts).await;
    let limited: Vec<_> = answers.iter().filter(|r| r.status() == 429).collect();
    assert_eq!(limited.len(), 5, "10 sign-ups per address per hour");
    assert!(
        limited
            .iter()
            .all(|r| r.headers().get("retry-after").is_some())
    );
    let users = tessera::accounts::page(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap()
        .users;
    assert_eq!(users.len(), 10);
    assert_eq!(
        app.mails().await.len(),
        10,
        "one mail per account, none for the refused"
    );
}

/// A password check the server could not make (its hashing saturated: shed at once) does not
/// count toward the user's lockout, however many there are.
#[actix_web::test]
async fn checks_shed_under_load_never_lock_the_user_out() {
    use tessera::accounts::signin::{Checked, check_current_password};

    let app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    let pool = &app.pool.id;
    // The same stores behind a saturated hasher: every check is shed.
    let (busy, running) = app.saturated().await;
    for _ in 0..10 {
        let shed = check_current_password(&busy, pool, &alice, PASSWORD, None, app.now()).await;
        assert!(shed.is_err(), "{shed:?}");
    }
    assert!(running.await.unwrap().is_ok());
    let checked = check_current_password(&app.st, pool, &alice, PASSWORD, None, app.now()).await;
    assert!(matches!(checked, Ok(Checked::Ok(_))), "{checked:?}");
}

/// An attempt whose request is dropped while its check waits for a hash (its client went
/// away) is given back: however many, they never lock the identifier out. One dropped after
/// its verdict counts.
#[actix_web::test]
async fn attempts_dropped_before_their_check_never_lock_the_user_out() {
    use std::future::Future;
    use std::task::Poll;
    use tessera::accounts::signin::{Checked, Throttle, check_password};
    use tessera::crypto::password::PasswordHasherPool;

    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    // The same stores behind one hashing worker, busy with a slow hash: checks wait.
    let mut busy = app.st.clone();
    // Slow enough to outlast the drops below: none of their checks is ever taken.
    let slow = argon2::Params::new(64 * 1024, 24, 1, None).unwrap();
    busy.hasher =
        PasswordHasherPool::new(1, 64, slow).with_max_wait(std::time::Duration::from_secs(600));
    let hasher = busy.hasher.clone();
    let running = actix_web::rt::spawn(async move {
        let rng = tessera::clock::SeededRandom::new(b"slow");
        hasher.hash(&tessera::ids::Secret::new("slow"), &rng).await
    });
    while busy.hasher.running() == 0 {
        actix_web::rt::task::yield_now().await;
    }
    let ip = Some("203.0.113.7");
    for i in 0..12 {
        let check = check_password(&busy, &app.pool, "alice", "wrong", ip, app.now());
        let mut check = Box::pin(check);
        // Polled until its check is queued behind the slow hash, then dropped.
        let before = busy.hasher.in_flight();
        while busy.hasher.in_flight() <= before {
            let polled = std::future::poll_fn(|cx| Poll::Ready(check.as_mut().poll(cx))).await;
            assert!(polled.is_pending(), "attempt {i} finished: {polled:?}");
            actix_web::rt::task::yield_now().await;
        }
        drop(check);
        app.st.background.idle().await;
    }
    assert!(running.await.unwrap().is_ok());
    // Kept, they would have locked it at the sixth; given back, five at once are still free.
    let throttle = Throttle::new(&app.pool.id, "alice", ip);
    let kept: Vec<_> = join_all((0..5).map(|_| throttle.reserve(&app.st)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(kept.iter().all(Option::is_some), "{kept:?}");
    for r in kept.into_iter().flatten() {
        throttle.cancel(&app.st, r).await.unwrap();
    }
    // A wrong password checked to its verdict counts as before.
    let checked = check_password(&app.st, &app.pool, "alice", "wrong", ip, app.now()).await;
    assert!(matches!(checked, Ok(Checked::Failed)), "{checked:?}");
}
