//! MFA core through its public API on the configured backends: enrollment, TOTP verification
//! with the replay guard, recovery codes, disabling, operator reset, throttling, sealing.

use chrono::{DateTime, TimeDelta, Utc};
use tessera::mfa::{self, Enrollment, MfaError, Verified};
use tessera::store::sql::mfa as rows;

use crate::support::TestApp;

/// An app with one user, returned with the user's sub.
async fn app_with_user() -> (TestApp, String) {
    let app = TestApp::new().await;
    let u = app.user("alice", "alice@example.com").await;
    (app, u.sub.to_string())
}

async fn begin(app: &TestApp, sub: &str) -> Enrollment {
    mfa::begin_enrollment(
        &app.st,
        &app.pool.id,
        &app.pool.name,
        sub,
        "alice",
        app.now(),
    )
    .await
    .unwrap()
}

/// Enrolls and returns the secret and the recovery codes.
async fn enroll(app: &TestApp, sub: &str) -> (String, Vec<String>) {
    let e = begin(app, sub).await;
    let code = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    let codes = mfa::confirm_enrollment(&app.st, &app.pool.id, sub, &code, app.now())
        .await
        .unwrap();
    (e.secret_base32, codes)
}

/// A 6-digit code that is valid for no step of `now`'s window.
fn wrong_code(secret: &str, now: DateTime<Utc>) -> String {
    let window: Vec<String> = (-1..=1)
        .map(|d| mfa::code_at(secret, now + TimeDelta::seconds(30 * d)).unwrap())
        .collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

async fn verify(app: &TestApp, sub: &str, input: &str) -> Result<Verified, MfaError> {
    mfa::verify(&app.st, &app.pool.id, sub, input, app.now()).await
}

#[actix_web::test]
async fn mfa_enroll_confirm_then_codes_work_once() {
    let (app, sub) = app_with_user().await;
    let pool = &app.pool.id;
    assert!(!mfa::is_enrolled(&app.st, pool, &sub).await.unwrap());
    assert_eq!(
        verify(&app, &sub, "123456").await.unwrap(),
        Verified::Invalid
    );

    let e = begin(&app, &sub).await;
    assert!(e.otpauth_uri.starts_with("otpauth://totp/"));
    assert!(
        e.otpauth_uri
            .contains(&format!("secret={}", e.secret_base32))
    );
    assert!(e.qr_svg.starts_with("<svg"));

    // A wrong code keeps the same secret pending.
    let wrong = wrong_code(&e.secret_base32, app.now());
    let err = mfa::confirm_enrollment(&app.st, pool, &sub, &wrong, app.now())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::WrongCode), "{err:?}");
    let again = mfa::pending_enrollment(&app.st, pool, &app.pool.name, &sub, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.secret_base32, e.secret_base32);
    assert!(!mfa::is_enrolled(&app.st, pool, &sub).await.unwrap());

    // The previous step's code is still accepted (clock skew).
    let enrolled_with = mfa::code_at(&e.secret_base32, app.now() - TimeDelta::seconds(30)).unwrap();
    let codes = mfa::confirm_enrollment(&app.st, pool, &sub, &enrolled_with, app.now())
        .await
        .unwrap();
    assert_eq!(codes.len(), mfa::RECOVERY_CODES);
    for c in &codes {
        assert_eq!(c.len(), 11, "{c}");
        assert_eq!(c.as_bytes()[5], b'-', "{c}");
    }
    assert!(mfa::is_enrolled(&app.st, pool, &sub).await.unwrap());
    assert_eq!(
        mfa::remaining_recovery_codes(&app.st, pool, &sub)
            .await
            .unwrap(),
        10
    );
    assert!(
        mfa::pending_enrollment(&app.st, pool, &app.pool.name, &sub, "alice")
            .await
            .unwrap()
            .is_none()
    );
    let err = mfa::confirm_enrollment(&app.st, pool, &sub, &enrolled_with, app.now())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NoPendingEnrollment), "{err:?}");

    // The code spent on enrolling cannot sign in; the current step's code is later, so it
    // works, once.
    assert_eq!(
        verify(&app, &sub, &enrolled_with).await.unwrap(),
        Verified::Invalid
    );
    let now_code = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    assert_eq!(verify(&app, &sub, &now_code).await.unwrap(), Verified::Totp);
    assert_eq!(
        verify(&app, &sub, &now_code).await.unwrap(),
        Verified::Invalid,
        "replayed"
    );

    // Next step, typed with a space; a code two steps old is refused.
    app.clock.advance(TimeDelta::seconds(30));
    let two_back = mfa::code_at(&e.secret_base32, app.now() - TimeDelta::seconds(60)).unwrap();
    if two_back != mfa::code_at(&e.secret_base32, app.now()).unwrap() {
        assert_eq!(
            verify(&app, &sub, &two_back).await.unwrap(),
            Verified::Invalid
        );
    }
    let c = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    let spaced = format!(" {} {} ", &c[..3], &c[3..]);
    assert_eq!(verify(&app, &sub, &spaced).await.unwrap(), Verified::Totp);

    // A code of the next step (a clock running ahead) is fine; afterwards the current one is
    // not, because it is older than the step just spent.
    app.clock.advance(TimeDelta::seconds(30));
    let ahead = mfa::code_at(&e.secret_base32, app.now() + TimeDelta::seconds(30)).unwrap();
    let current = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    assert_eq!(verify(&app, &sub, &ahead).await.unwrap(), Verified::Totp);
    if ahead != current {
        assert_eq!(
            verify(&app, &sub, &current).await.unwrap(),
            Verified::Invalid
        );
    }

    let kinds: Vec<String> = tessera::audit::list(&app.st, pool, Some(sub.clone()), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"mfa_enabled".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"mfa_failed".to_string()), "{kinds:?}");
}

#[actix_web::test]
async fn mfa_recovery_codes_are_single_use() {
    let (app, sub) = app_with_user().await;
    let (_, codes) = enroll(&app, &sub).await;
    let first = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(
        verify(&app, &sub, &first).await.unwrap(),
        Verified::RecoveryCode
    );
    assert_eq!(
        verify(&app, &sub, &codes[0]).await.unwrap(),
        Verified::Invalid
    );
    assert_eq!(
        verify(&app, &sub, "aaaaa-aaaaa").await.unwrap(),
        Verified::Invalid
    );
    assert_eq!(
        mfa::remaining_recovery_codes(&app.st, &app.pool.id, &sub)
            .await
            .unwrap(),
        9
    );

    // Enrolling again replaces the factor and every old code.
    let (_, fresh) = enroll(&app, &sub).await;
    assert_eq!(
        verify(&app, &sub, &codes[1]).await.unwrap(),
        Verified::Invalid
    );
    assert_eq!(
        verify(&app, &sub, &fresh[1]).await.unwrap(),
        Verified::RecoveryCode
    );
}

#[actix_web::test]
async fn mfa_disable_needs_a_valid_code_and_reset_does_not() {
    let (app, sub) = app_with_user().await;
    let pool = &app.pool.id;
    let (secret, codes) = enroll(&app, &sub).await;
    app.clock.advance(TimeDelta::seconds(30));

    let wrong = wrong_code(&secret, app.now());
    assert!(
        !mfa::disable(&app.st, pool, &sub, &wrong, app.now())
            .await
            .unwrap()
    );
    assert!(mfa::is_enrolled(&app.st, pool, &sub).await.unwrap());
    let err = mfa::disable(&app.st, pool, &sub, "nope", app.now())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::Malformed(_)), "{err:?}");
    let code = mfa::code_at(&secret, app.now()).unwrap();
    assert!(
        mfa::disable(&app.st, pool, &sub, &code, app.now())
            .await
            .unwrap()
    );
    assert!(!mfa::is_enrolled(&app.st, pool, &sub).await.unwrap());
    assert_eq!(
        mfa::remaining_recovery_codes(&app.st, pool, &sub)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        verify(&app, &sub, &codes[0]).await.unwrap(),
        Verified::Invalid
    );

    // A recovery code disables too.
    let (_, codes) = enroll(&app, &sub).await;
    assert!(
        mfa::disable(&app.st, pool, &sub, &codes[3], app.now())
            .await
            .unwrap()
    );

    // Operator reset needs no code.
    enroll(&app, &sub).await;
    assert!(mfa::reset(&app.st, pool, &sub, app.now()).await.unwrap());
    assert!(!mfa::is_enrolled(&app.st, pool, &sub).await.unwrap());
    assert!(!mfa::reset(&app.st, pool, &sub, app.now()).await.unwrap());

    let kinds: Vec<String> = tessera::audit::list(&app.st, pool, Some(sub.clone()), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"mfa_disabled".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"mfa_reset".to_string()), "{kinds:?}");
}

#[actix_web::test]
async fn mfa_secret_is_sealed_at_rest_and_bound_to_the_user() {
    let (app, sub) = app_with_user().await;
    let (secret, _) = enroll(&app, &sub).await;
    let (p, s) = (app.pool.id.clone(), sub.clone());
    let row = app
        .st
        .sql
        .run(move |c| rows::find(c, &p, &s))
        .await
        .unwrap()
        .unwrap();
    assert!(row.secret_sealed.starts_with("v1."));
    assert!(!row.secret_sealed.contains(&secret));
    assert!(!row.secret_sealed.contains(&secret.to_lowercase()));
    assert!(row.last_step.is_some());

    // The same sealed secret copied to another user does not open for them.
    let bob = app.user("bob", "bob@example.com").await;
    let (p, b) = (app.pool.id.clone(), bob.sub.to_string());
    app.st
        .sql
        .transaction(move |c| rows::replace(c, &p, &b, &row, &[]))
        .await
        .unwrap();
    app.clock.advance(TimeDelta::seconds(30));
    let code = mfa::code_at(&secret, app.now()).unwrap();
    let err = verify(&app, bob.sub.as_str(), &code).await.unwrap_err();
    assert!(matches!(err, MfaError::Crypto(_)), "{err:?}");

    // Deleting the user deletes the factor.
    tessera::accounts::delete(&app.st, &app.pool.id, "alice", app.now())
        .await
        .unwrap();
    let (p, s) = (app.pool.id.clone(), sub.clone());
    assert!(
        app.st
            .sql
            .run(move |c| rows::find(c, &p, &s))
            .await
            .unwrap()
            .is_none()
    );
}

#[actix_web::test]
async fn mfa_malformed_input_and_throttling() {
    let (app, sub) = app_with_user().await;
    let pool = &app.pool.id;
    let e = begin(&app, &sub).await;
    let err = mfa::confirm_enrollment(&app.st, pool, &sub, "abcde-fg234", app.now())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("6-digit code"));
    let code = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    mfa::confirm_enrollment(&app.st, pool, &sub, &code, app.now())
        .await
        .unwrap();

    let long = "1".repeat(100);
    for bad in ["", "12345a", "1234567", "abc", "12\n3456", long.as_str()] {
        let err = verify(&app, &sub, bad).await.unwrap_err();
        assert!(matches!(err, MfaError::Malformed(_)), "{bad:?}: {err:?}");
        assert!(err.is_user_facing());
    }

    // Malformed input did not count; wrong codes do, and then even a right one is refused.
    app.clock.advance(TimeDelta::seconds(30));
    let wrong = wrong_code(&e.secret_base32, app.now());
    for _ in 0..mfa::MAX_FAILURES {
        assert_eq!(verify(&app, &sub, &wrong).await.unwrap(), Verified::Invalid);
    }
    let right = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    let err = verify(&app, &sub, &right).await.unwrap_err();
    assert!(matches!(err, MfaError::TooManyAttempts), "{err:?}");

    app.clock
        .advance(TimeDelta::from_std(mfa::FAILURE_WINDOW).unwrap());
    let right = mfa::code_at(&e.secret_base32, app.now()).unwrap();
    assert_eq!(verify(&app, &sub, &right).await.unwrap(), Verified::Totp);
}

#[actix_web::test]
async fn recovery_codes_stored_before_they_were_keyed_still_work_once() {
    let (app, sub) = app_with_user().await;
    let (_, codes) = enroll(&app, &sub).await;
    // Stored the old way: a bare SHA-256 over pool, sub and code.
    let legacy = tessera::crypto::sha256_hex(
        format!(
            "{}:{sub}:{}",
            app.pool.id,
            codes[2].replace('-', "").to_lowercase()
        )
        .as_bytes(),
    );
    let (pool, s) = (app.pool.id.clone(), sub.clone());
    app.st
        .sql
        .transaction(move |c| {
            let factor = rows::find(c, &pool, &s)?.unwrap();
            rows::replace(c, &pool, &s, &factor, &[legacy])
        })
        .await
        .unwrap();
    assert_eq!(
        verify(&app, &sub, &codes[2]).await.unwrap(),
        Verified::RecoveryCode
    );
    assert_eq!(
        verify(&app, &sub, &codes[2]).await.unwrap(),
        Verified::Invalid
    );
    // New codes are keyed: the bare hash of a fresh code is not what the database holds.
    let (_, fresh) = enroll(&app, &sub).await;
    let bare = tessera::crypto::sha256_hex(
        format!(
            "{}:{sub}:{}",
            app.pool.id,
            fresh[0].replace('-', "").to_lowercase()
        )
        .as_bytes(),
    );
    let (pool, s, now) = (app.pool.id.clone(), sub.clone(), app.now());
    let bare_matches = app
        .st
        .sql
        .run(move |c| rows::use_recovery_code(c, &pool, &s, &bare, now))
        .await
        .unwrap();
    assert!(!bare_matches);
}

#[test]
fn macs_depend_on_the_key_and_the_context() {
    let (a, b) = (
        tessera::crypto::MasterKey::from_bytes(&[1; 32]),
        tessera::crypto::MasterKey::from_bytes(&[2; 32]),
    );
    assert_eq!(a.mac("x", b"data"), a.mac("x", b"data"));
    assert_ne!(a.mac("x", b"data"), b.mac("x", b"data"));
    assert_ne!(a.mac("x", b"data"), a.mac("y", b"data"));
    assert_eq!(a.mac("x", b"data").len(), 64);
}
