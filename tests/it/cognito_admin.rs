//! More of the Cognito API through the AWS SDK: invitations sent again, the admin form of the
//! challenge answer, answers that never tell whether a user exists, SECRET_HASH bound to the
//! refresh token's user, and hosted-flow tokens with the API scope at `GetUser`.

use aws_sdk_cognitoidentityprovider as cip;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, AuthenticationResultType, ChallengeNameType, MessageActionType,
};
use tessera::clients::ClientSpec;

use crate::cognito_api::{FLOWS, admin, client, code, sdk, secret_hash};
use crate::support::TestApp;
use crate::support::rp::{OidcClient, PASSWORD, spec};

/// `USER_PASSWORD_AUTH` that must succeed without a challenge.
pub(crate) async fn password_sign_in(
    api: &cip::Client,
    client_id: &str,
    username: &str,
) -> AuthenticationResultType {
    api.initiate_auth()
        .client_id(client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap()
        .authentication_result()
        .unwrap()
        .clone()
}

#[actix_web::test]
async fn an_invitation_is_sent_again_with_a_new_temporary_password() {
    let app = TestApp::new().await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    let (cid, _) = client(&app, true, &["ALLOW_ADMIN_USER_PASSWORD_AUTH"]).await;
    let email = AttributeType::builder()
        .name("email")
        .value("dan@example.com")
        .build()
        .unwrap();
    api.admin_create_user()
        .user_pool_id(&pool)
        .username("dan")
        .temporary_password("First-temp-pass-1")
        .user_attributes(email)
        .send()
        .await
        .unwrap();
    let resent = api
        .admin_create_user()
        .user_pool_id(&pool)
        .username("dan")
        .temporary_password("Second-temp-pass-2")
        .message_action(MessageActionType::Resend)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resent.user().unwrap().user_status().unwrap().as_str(),
        "FORCE_CHANGE_PASSWORD"
    );
    let mails = app.mails().await;
    let to_dan: Vec<_> = mails.iter().filter(|m| m.to == "dan@example.com").collect();
    assert_eq!(to_dan.len(), 2);
    assert!(to_dan[1].text.contains("Second-temp-pass-2"));
    let start = |pw: &'static str| {
        api.admin_initiate_auth()
            .user_pool_id(&pool)
            .client_id(&cid)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", "dan")
            .auth_parameters("PASSWORD", pw)
            .send()
    };
    assert_eq!(
        code(start("First-temp-pass-1").await),
        "NotAuthorizedException"
    );
    let challenge = start("Second-temp-pass-2").await.unwrap();
    assert_eq!(
        challenge.challenge_name(),
        Some(&ChallengeNameType::NewPasswordRequired)
    );
    // The admin form of the answer: same challenge, the pool named, a signed request.
    let wrong_pool = api
        .admin_respond_to_auth_challenge()
        .user_pool_id("local_Nope12345")
        .client_id(&cid)
        .challenge_name(ChallengeNameType::NewPasswordRequired)
        .session(challenge.session().unwrap())
        .challenge_responses("USERNAME", "dan")
        .challenge_responses("NEW_PASSWORD", PASSWORD)
        .send()
        .await;
    assert_eq!(code(wrong_pool), "ResourceNotFoundException");
    let done = api
        .admin_respond_to_auth_challenge()
        .user_pool_id(&pool)
        .client_id(&cid)
        .challenge_name(ChallengeNameType::NewPasswordRequired)
        .session(challenge.session().unwrap())
        .challenge_responses("USERNAME", "dan")
        .challenge_responses("NEW_PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap();
    assert!(done.authentication_result().unwrap().id_token().is_some());
    // A user who chose a password has no invitation to send again; nor has an unknown one.
    let confirmed = api
        .admin_create_user()
        .user_pool_id(&pool)
        .username("dan")
        .message_action(MessageActionType::Resend)
        .send()
        .await;
    assert_eq!(code(confirmed), "UnsupportedUserStateException");
    let unknown = api
        .admin_create_user()
        .user_pool_id(&pool)
        .username("nobody")
        .message_action(MessageActionType::Resend)
        .send()
        .await;
    assert_eq!(code(unknown), "UserNotFoundException");
    // Nowhere to send a new password: refused, and the one the user has keeps working.
    api.admin_create_user()
        .user_pool_id(&pool)
        .username("nomail")
        .temporary_password("Nomail-temp-pass-1")
        .send()
        .await
        .unwrap();
    let nowhere = api
        .admin_create_user()
        .user_pool_id(&pool)
        .username("nomail")
        .message_action(MessageActionType::Resend)
        .send()
        .await;
    assert_eq!(code(nowhere), "InvalidParameterException");
    let still = api
        .admin_initiate_auth()
        .user_pool_id(&pool)
        .client_id(&cid)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "nomail")
        .auth_parameters("PASSWORD", "Nomail-temp-pass-1")
        .send()
        .await
        .unwrap();
    assert!(still.challenge_name().is_some());
    // The unsigned SDK cannot use the admin form.
    let unsigned = sdk(&app, None)
        .admin_respond_to_auth_challenge()
        .user_pool_id(&pool)
        .client_id(&cid)
        .challenge_name(ChallengeNameType::NewPasswordRequired)
        .session("x")
        .send()
        .await;
    assert_eq!(code(unsigned), "UnrecognizedClientException");
}

#[actix_web::test]
async fn code_requests_never_tell_whether_a_user_exists() {
    let app = TestApp::new().await;
    // A user with a verified address, and one whose address was never verified.
    app.user("alice", "alice@example.com").await;
    let unverified = app.user("uma", "uma@example.com").await;
    let (pool, sub, now) = (app.pool.id.clone(), unverified.sub.clone(), app.now());
    app.st
        .sql
        .run(move |c| {
            tessera::store::sql::users::set_email(
                c,
                &pool,
                &sub,
                "uma@example.com",
                "uma@example.com",
                false,
                now,
            )
        })
        .await
        .unwrap();
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let forgot = |name: &'static str| api.forgot_password().client_id(&cid).username(name).send();
    let real = forgot("alice").await.unwrap();
    let real = real.code_delivery_details().unwrap();
    assert_eq!(real.destination(), Some("a***@example.com"));
    let mails_before = app.mails().await.len();
    for name in ["uma", "nobody", "nobody"] {
        let hidden = forgot(name).await.unwrap();
        let d = hidden.code_delivery_details().unwrap();
        assert_eq!(d.attribute_name(), Some("email"), "{name}");
        let shown = d.destination().unwrap();
        assert!(
            shown.len() > 5 && shown.contains("***@") && shown.contains('.'),
            "{name}: {shown}"
        );
    }
    // The same made-up answer each time, so asking twice tells nothing either.
    let a = forgot("nobody").await.unwrap();
    let b = forgot("nobody").await.unwrap();
    assert_eq!(
        a.code_delivery_details().unwrap().destination(),
        b.code_delivery_details().unwrap().destination()
    );
    let resend = |name: &'static str| {
        api.resend_confirmation_code()
            .client_id(&cid)
            .username(name)
            .send()
    };
    for name in ["alice", "nobody"] {
        let r = resend(name).await.unwrap();
        assert!(r.code_delivery_details().is_some(), "{name}");
    }
    assert_eq!(app.mails().await.len(), mails_before, "nothing was sent");
}

#[actix_web::test]
async fn a_refresh_secret_hash_must_name_the_tokens_user() {
    let app = TestApp::new().await;
    let alice = app.user("alice", "alice@example.com").await;
    app.user("bob", "bob@example.com").await;
    let (cid, secret) = client(&app, false, FLOWS).await;
    let secret = secret.unwrap();
    let api = sdk(&app, None);
    let signed_in = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", PASSWORD)
        .auth_parameters("SECRET_HASH", secret_hash(&secret, "alice", &cid))
        .send()
        .await
        .unwrap();
    let refresh = signed_in
        .authentication_result()
        .unwrap()
        .refresh_token()
        .unwrap()
        .to_string();
    let with = |name: &str| {
        api.initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", &refresh)
            .auth_parameters("USERNAME", name)
            .auth_parameters("SECRET_HASH", secret_hash(&secret, name, &cid))
            .send()
    };
    assert_eq!(code(with("bob").await), "NotAuthorizedException");
    // The username and the sub (what Cognito's email pools use) both name alice.
    let renewed = with(alice.sub.as_str()).await.unwrap();
    let next = renewed.authentication_result().unwrap();
    assert!(next.access_token().is_some());
}

#[actix_web::test]
async fn hosted_flow_tokens_with_the_api_scope_work_at_get_user() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let scopes = ["openid", "email", "profile", "offline_access"];
    let with_api: Vec<String> = scopes
        .iter()
        .chain(["aws.cognito.signin.user.admin"].iter())
        .map(|s| s.to_string())
        .collect();
    let c = app
        .oidc_client(ClientSpec {
            scopes: with_api,
            ..spec("web")
        })
        .await;
    let plain = app.oidc_client(spec("plain")).await;
    let api = sdk(&app, None);
    async fn access(app: &TestApp, c: &OidcClient, extra: &str) -> String {
        let started = c.start();
        let url = started
            .url
            .replace("offline_access", &format!("offline_access{extra}"));
        let landed = app.sign_in(&app.browser(), &url, "alice", PASSWORD).await;
        let tokens = c.exchange(&landed.code(), started.verifier).await.unwrap();
        openidconnect::OAuth2TokenResponse::access_token(&tokens)
            .secret()
            .to_string()
    }
    let token = access(&app, &c, "+aws.cognito.signin.user.admin").await;
    let me = api.get_user().access_token(&token).send().await.unwrap();
    assert_eq!(me.username(), "alice");
    let without = access(&app, &plain, "").await;
    assert_eq!(
        code(api.get_user().access_token(&without).send().await),
        "NotAuthorizedException"
    );
}

#[actix_web::test]
async fn a_temporary_password_expires_after_the_pools_days() {
    let app = TestApp::new().await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    let (cid, _) = client(&app, true, &["ALLOW_USER_PASSWORD_AUTH"]).await;
    api.update_user_pool()
        .user_pool_id(&pool)
        .policies(
            aws_sdk_cognitoidentityprovider::types::UserPoolPolicyType::builder()
                .password_policy(
                    aws_sdk_cognitoidentityprovider::types::PasswordPolicyType::builder()
                        .minimum_length(8)
                        .temporary_password_validity_days(2)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let described = api.describe_user_pool().user_pool_id(&pool).send().await;
    let policy = described.unwrap();
    let policy = policy.user_pool().unwrap().policies().unwrap();
    assert_eq!(
        policy
            .password_policy()
            .unwrap()
            .temporary_password_validity_days(),
        2
    );
    api.admin_create_user()
        .user_pool_id(&pool)
        .username("tim")
        .temporary_password("Tim-temp-pass-1")
        .message_action(MessageActionType::Suppress)
        .send()
        .await
        .unwrap();
    // Unsigned from here: the server's clock moves on, and a signature made now would be
    // days off it.
    let user = sdk(&app, None);
    let start = |pw: &'static str| {
        user.initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", "tim")
            .auth_parameters("PASSWORD", pw)
            .send()
    };
    assert!(
        start("Tim-temp-pass-1")
            .await
            .unwrap()
            .challenge_name()
            .is_some()
    );
    app.clock.advance(chrono::TimeDelta::days(3));
    let expired = start("Tim-temp-pass-1").await;
    let err = expired.unwrap_err();
    assert_eq!(
        aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata::code(&err),
        Some("NotAuthorizedException")
    );
    assert!(
        aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata::message(&err)
            .unwrap_or_default()
            .contains("expired"),
        "{err:?}"
    );
    // The hosted page says so too.
    let web = app.oidc_client(spec("web")).await;
    let landed = app
        .sign_in(&app.browser(), &web.start().url, "tim", "Tim-temp-pass-1")
        .await;
    assert!(
        matches!(&landed, crate::support::rp::Landed::Page { body, .. } if body.contains("Temporary password has expired")),
        "{landed:?}"
    );
    // An administrator's new temporary password starts the days again.
    let tim = tessera::accounts::find(&app.st, &app.pool.id, "tim")
        .await
        .unwrap();
    tessera::accounts::set_password(
        &app.st,
        &app.pool,
        tim.sub.as_str(),
        &tessera::ids::Secret::new("Tim-temp-pass-2"),
        true,
        app.now(),
    )
    .await
    .unwrap();
    assert!(
        start("Tim-temp-pass-2")
            .await
            .unwrap()
            .challenge_name()
            .is_some()
    );
}
