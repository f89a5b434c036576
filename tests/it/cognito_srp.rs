//! `USER_SRP_AUTH` through the AWS SDK, with the proof computed by `aws-cognito-srp` (an SRP
//! client written for Cognito, independently of Tessera): public and confidential clients,
//! wrong passwords, unknown users, replayed challenges, the lockout, users without a
//! verifier yet, and the pool switch.

use aws_cognito_srp::{SrpClient, User};
use aws_sdk_cognitoidentityprovider as cip;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};

use crate::cognito_api::{client, code, sdk, secret_hash};
use crate::support::TestApp;
use crate::support::rp::PASSWORD;

type Answer = Result<
    cip::operation::respond_to_auth_challenge::RespondToAuthChallengeOutput,
    cip::error::SdkError<
        cip::operation::respond_to_auth_challenge::RespondToAuthChallengeError,
        cip::config::http::HttpResponse,
    >,
>;

/// One SRP sign-in of `username` with `password`; `secret` for a confidential client.
async fn srp_sign_in(
    app: &TestApp,
    api: &cip::Client,
    cid: &str,
    secret: Option<&str>,
    username: &str,
    password: &str,
) -> Answer {
    let srp = SrpClient::new(
        User::new(app.pool.id.as_str(), username, password),
        cid,
        secret,
    );
    let a = srp.get_auth_parameters();
    let mut start = api
        .initiate_auth()
        .client_id(cid)
        .auth_flow(AuthFlowType::UserSrpAuth)
        .auth_parameters("USERNAME", &a.username)
        .auth_parameters("SRP_A", &a.a);
    if let Some(h) = srp.get_secret_hash() {
        start = start.auth_parameters("SECRET_HASH", h);
    }
    let c = start.send().await.unwrap();
    assert_eq!(
        c.challenge_name(),
        Some(&ChallengeNameType::PasswordVerifier)
    );
    let p = c.challenge_parameters().unwrap();
    let user_id = p["USER_ID_FOR_SRP"].clone();
    let v = srp
        .verify(&p["SECRET_BLOCK"], &user_id, &p["SALT"], &p["SRP_B"])
        .unwrap();
    let mut answer = api
        .respond_to_auth_challenge()
        .client_id(cid)
        .challenge_name(ChallengeNameType::PasswordVerifier)
        .challenge_responses("USERNAME", &user_id)
        .challenge_responses(
            "PASSWORD_CLAIM_SECRET_BLOCK",
            &v.password_claim_secret_block,
        )
        .challenge_responses("PASSWORD_CLAIM_SIGNATURE", &v.password_claim_signature)
        .challenge_responses("TIMESTAMP", &v.timestamp);
    if let Some(s) = secret {
        answer = answer.challenge_responses("SECRET_HASH", secret_hash(s, &user_id, cid));
    }
    let first = answer.clone().send().await;
    if first.is_ok() {
        // The secret block is good once.
        assert_eq!(code(answer.send().await), "NotAuthorizedException");
    }
    first
}

#[actix_web::test]
async fn srp_sign_in_proves_the_password_without_sending_it() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let api = sdk(&app, None);
    let (public, _) = client(&app, true, &[]).await;
    let ok = srp_sign_in(&app, &api, &public, None, "alice", PASSWORD)
        .await
        .unwrap();
    let tokens = ok.authentication_result().unwrap();
    let me = api
        .get_user()
        .access_token(tokens.access_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.username(), "alice");
    let wrong = srp_sign_in(&app, &api, &public, None, "alice", "not the password").await;
    assert_eq!(code(wrong), "NotAuthorizedException");
    // An unknown user is challenged like a real one, and fails the same way.
    let nobody = srp_sign_in(&app, &api, &public, None, "nobody", PASSWORD).await;
    assert_eq!(code(nobody), "NotAuthorizedException");
    let (confidential, secret) = client(&app, false, &[]).await;
    let ok = srp_sign_in(
        &app,
        &api,
        &confidential,
        secret.as_deref(),
        "alice",
        PASSWORD,
    )
    .await;
    assert!(ok.unwrap().authentication_result().is_some());
}

#[actix_web::test]
async fn wrong_proofs_count_toward_the_lockout() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let api = sdk(&app, None);
    let (cid, _) = client(
        &app,
        true,
        &["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH"],
    )
    .await;
    for _ in 0..=tessera::accounts::signin::FREE_FAILURES {
        let r = srp_sign_in(&app, &api, &cid, None, "alice", "wrong").await;
        assert_eq!(code(r), "NotAuthorizedException");
    }
    // Locked now (the fake clock does not move): even the right password waits.
    let locked = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await;
    assert_eq!(code(locked), "NotAuthorizedException");
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "sign_in_failed" && e.detail.contains("SRP"))
    );
}

#[actix_web::test]
async fn a_user_without_a_verifier_gets_one_at_the_next_password_sign_in() {
    let mut app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    let pool = app.pool.id.clone();
    let sub = alice.sub.to_string();
    app.st
        .sql
        .run(move |c| tessera::store::sql::users::set_srp_verifier(c, &pool, &sub, None))
        .await
        .unwrap();
    let api = sdk(&app, None);
    let (cid, _) = client(
        &app,
        true,
        &["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH"],
    )
    .await;
    let before = srp_sign_in(&app, &api, &cid, None, "alice", PASSWORD).await;
    assert_eq!(code(before), "NotAuthorizedException");
    api.initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap();
    srp_sign_in(&app, &api, &cid, None, "alice", PASSWORD)
        .await
        .unwrap();
    // Switched off: the flow is refused and the verifiers are gone.
    app.settings(|s| s.srp = false).await;
    let off = srp_off(&api, &cid).await;
    assert_eq!(code(off), "InvalidParameterException");
    let kept = tessera::accounts::find(&app.st, &app.pool.id, "alice")
        .await
        .unwrap();
    assert!(kept.srp_verifier.is_none());
}

async fn srp_off(
    api: &cip::Client,
    cid: &str,
) -> Result<
    cip::operation::initiate_auth::InitiateAuthOutput,
    cip::error::SdkError<
        cip::operation::initiate_auth::InitiateAuthError,
        cip::config::http::HttpResponse,
    >,
> {
    api.initiate_auth()
        .client_id(cid)
        .auth_flow(AuthFlowType::UserSrpAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("SRP_A", "02")
        .send()
        .await
}

#[actix_web::test]
async fn in_an_email_pool_the_srp_user_id_is_the_sub_even_for_a_stranger() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.sign_in_identifier = tessera::model::SignInIdentifier::Email)
        .await;
    let alice = app.user("alice@example.com", "alice@example.com").await;
    let api = sdk(&app, None);
    let (cid, _) = client(&app, true, &[]).await;
    let ok = srp_sign_in(&app, &api, &cid, None, "alice@example.com", PASSWORD).await;
    assert!(ok.unwrap().authentication_result().is_some());
    let challenge = |who: &'static str| {
        let srp = SrpClient::new(User::new(app.pool.id.as_str(), who, PASSWORD), &cid, None);
        let a = srp.get_auth_parameters().a;
        api.initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::UserSrpAuth)
            .auth_parameters("USERNAME", who)
            .auth_parameters("SRP_A", a)
            .send()
    };
    let real = challenge("alice@example.com").await.unwrap();
    assert_eq!(
        real.challenge_parameters().unwrap()["USER_ID_FOR_SRP"],
        alice.sub.to_string()
    );
    let stranger = challenge("bob@example.com").await.unwrap();
    let id = &stranger.challenge_parameters().unwrap()["USER_ID_FOR_SRP"];
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let again = challenge("bob@example.com").await.unwrap();
    assert_eq!(
        &again.challenge_parameters().unwrap()["USER_ID_FOR_SRP"],
        id
    );
    let nobody = srp_sign_in(&app, &api, &cid, None, "bob@example.com", PASSWORD).await;
    assert_eq!(code(nobody), "NotAuthorizedException");
}
