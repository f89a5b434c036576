//! TOTP through the Cognito API (AWS SDK): an authenticator set up with an access token and
//! then asked for at sign-in, MFA_SETUP for a pool that requires MFA, and turning it off.

use aws_sdk_cognitoidentityprovider as cip;
use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, ChallengeNameType, SoftwareTokenMfaSettingsType,
};
use tessera::model::MfaMode;

use crate::cognito_api::{admin, client, code, sdk};
use crate::support::TestApp;
use crate::support::rp::PASSWORD;

async fn sign_in(
    api: &cip::Client,
    cid: &str,
) -> cip::operation::initiate_auth::InitiateAuthOutput {
    api.initiate_auth()
        .client_id(cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap()
}

fn next_step(app: &TestApp) {
    app.clock.advance(chrono::TimeDelta::seconds(30));
}

#[actix_web::test]
async fn a_user_sets_up_an_authenticator_and_is_then_asked_for_it() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, &["ALLOW_USER_PASSWORD_AUTH"]).await;
    let api = sdk(&app, None);
    let first = sign_in(&api, &cid).await;
    let access = first
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap()
        .to_string();
    let set_up = api
        .associate_software_token()
        .access_token(&access)
        .send()
        .await
        .unwrap();
    let secret = set_up.secret_code().unwrap().to_string();
    let wrong = api
        .verify_software_token()
        .access_token(&access)
        .user_code("000000")
        .send()
        .await;
    assert_eq!(code(wrong), "EnableSoftwareTokenMFAException");
    let now = tessera::mfa::code_at(&secret, app.now()).unwrap();
    let ok = api
        .verify_software_token()
        .access_token(&access)
        .user_code(now)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().unwrap().as_str(), "SUCCESS");
    let on = SoftwareTokenMfaSettingsType::builder()
        .enabled(true)
        .preferred_mfa(true)
        .build();
    api.set_user_mfa_preference()
        .access_token(&access)
        .software_token_mfa_settings(on)
        .send()
        .await
        .unwrap();

    let asked = sign_in(&api, &cid).await;
    assert_eq!(
        asked.challenge_name(),
        Some(&ChallengeNameType::SoftwareTokenMfa)
    );
    next_step(&app);
    let answer = api
        .respond_to_auth_challenge()
        .client_id(&cid)
        .challenge_name(ChallengeNameType::SoftwareTokenMfa)
        .session(asked.session().unwrap())
        .challenge_responses("USERNAME", "alice")
        .challenge_responses(
            "SOFTWARE_TOKEN_MFA_CODE",
            tessera::mfa::code_at(&secret, app.now()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(answer.authentication_result().is_some());

    // An administrator turns it off for the user.
    let signed = admin(&app).await;
    let off = SoftwareTokenMfaSettingsType::builder()
        .enabled(false)
        .build();
    signed
        .admin_set_user_mfa_preference()
        .user_pool_id(app.pool.id.as_str())
        .username("alice")
        .software_token_mfa_settings(off.clone())
        .send()
        .await
        .unwrap();
    assert!(sign_in(&api, &cid).await.authentication_result().is_some());
    // The user's own call needs their access token: pool and name alone are refused.
    let forged = api
        .set_user_mfa_preference()
        .access_token("not a token")
        .software_token_mfa_settings(off)
        .send()
        .await;
    assert_eq!(code(forged), "NotAuthorizedException");
}

#[actix_web::test]
async fn a_pool_that_requires_mfa_sets_it_up_during_sign_in() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Required).await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, &["ALLOW_USER_PASSWORD_AUTH"]).await;
    let api = sdk(&app, None);
    let c = sign_in(&api, &cid).await;
    assert_eq!(c.challenge_name(), Some(&ChallengeNameType::MfaSetup));
    let set_up = api
        .associate_software_token()
        .session(c.session().unwrap())
        .send()
        .await
        .unwrap();
    let secret = set_up.secret_code().unwrap().to_string();
    let verified = api
        .verify_software_token()
        .session(set_up.session().unwrap())
        .user_code(tessera::mfa::code_at(&secret, app.now()).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status().unwrap().as_str(), "SUCCESS");
    let done = api
        .respond_to_auth_challenge()
        .client_id(&cid)
        .challenge_name(ChallengeNameType::MfaSetup)
        .session(verified.session().unwrap())
        .challenge_responses("USERNAME", "alice")
        .send()
        .await
        .unwrap();
    let access = done
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap()
        .to_string();
    // Required: it cannot be turned off, and the next sign-in asks for a code.
    let off = SoftwareTokenMfaSettingsType::builder()
        .enabled(false)
        .build();
    let refused = api
        .set_user_mfa_preference()
        .access_token(&access)
        .software_token_mfa_settings(off)
        .send()
        .await;
    assert_eq!(code(refused), "InvalidParameterException");
    let again = sign_in(&api, &cid).await;
    assert_eq!(
        again.challenge_name(),
        Some(&ChallengeNameType::SoftwareTokenMfa)
    );
    // A used session cannot set up another authenticator.
    let reused = api
        .associate_software_token()
        .session(c.session().unwrap())
        .send()
        .await;
    assert_eq!(code(reused), "NotAuthorizedException");
}
