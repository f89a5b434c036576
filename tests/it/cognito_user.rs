//! The signed-in user through the Cognito API (AWS SDK): a new email that counts once its code
//! comes back, and a revoked refresh token taking its sign-in's access tokens with it.

use aws_sdk_cognitoidentityprovider as cip;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};

use crate::cognito_admin::password_sign_in;
use crate::cognito_api::{FLOWS, client, code, sdk};
use crate::support::TestApp;
use crate::support::rp::PASSWORD;

#[actix_web::test]
async fn a_new_email_counts_once_its_code_comes_back() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let signed_in = password_sign_in(&api, &cid, "alice").await;
    let access = signed_in.access_token().unwrap().to_string();
    let attr = |n: &str, v: &str| AttributeType::builder().name(n).value(v).build().unwrap();
    let asked = api
        .update_user_attributes()
        .access_token(&access)
        .user_attributes(attr("email", "new@example.com"))
        .user_attributes(attr("given_name", "Ally"))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.code_delivery_details_list().len(), 1);
    let email_of = |me: &cip::operation::get_user::GetUserOutput, n: &str| {
        me.user_attributes()
            .iter()
            .find(|a| a.name() == n)
            .and_then(|a| a.value().map(str::to_string))
    };
    let me = api.get_user().access_token(&access).send().await.unwrap();
    assert_eq!(email_of(&me, "email").as_deref(), Some("alice@example.com"));
    assert_eq!(email_of(&me, "given_name").as_deref(), Some("Ally"));
    let wrong = api
        .verify_user_attribute()
        .access_token(&access)
        .attribute_name("email")
        .code("000000")
        .send()
        .await;
    assert_eq!(code(wrong), "CodeMismatchException");
    let sent = app.last_code("new@example.com").await.unwrap();
    api.verify_user_attribute()
        .access_token(&access)
        .attribute_name("email")
        .code(sent)
        .send()
        .await
        .unwrap();
    let me = api.get_user().access_token(&access).send().await.unwrap();
    assert_eq!(email_of(&me, "email").as_deref(), Some("new@example.com"));
    assert_eq!(email_of(&me, "email_verified").as_deref(), Some("true"));
    let nothing = api
        .get_user_attribute_verification_code()
        .access_token(&access)
        .attribute_name("email")
        .send()
        .await;
    assert_eq!(code(nothing), "InvalidParameterException");
}

#[actix_web::test]
async fn revoking_a_refresh_token_ends_the_access_tokens_of_its_sign_in() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let sign_in = || {
        api.initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", "alice")
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
    };
    let first = sign_in().await.unwrap();
    let other = sign_in().await.unwrap();
    let tokens = first.authentication_result().unwrap();
    let access = tokens.access_token().unwrap();
    api.revoke_token()
        .client_id(&cid)
        .token(tokens.refresh_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(api.get_user().access_token(access).send().await),
        "NotAuthorizedException"
    );
    let again = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .auth_parameters("REFRESH_TOKEN", tokens.refresh_token().unwrap())
        .send()
        .await;
    assert_eq!(code(again), "NotAuthorizedException");
    // Another sign-in's tokens are untouched.
    let still = other
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap();
    api.get_user().access_token(still).send().await.unwrap();
}
