//! The operations the other Cognito suites use only on their happy path, through the AWS SDK:
//! what each does, and the error Cognito gives for its main mistake (an unknown user, group,
//! pool or client, a wrong or weak password, a bad token).

use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, PasswordPolicyType, SoftwareTokenMfaSettingsType, UserPoolMfaType,
    UserPoolPolicyType,
};

use crate::cognito_admin::password_sign_in;
use crate::cognito_api::{FLOWS, admin, client, code, sdk};
use crate::support::TestApp;
use crate::support::rp::PASSWORD;

const NO_POOL: &str = "local_Nope12345";

#[actix_web::test]
async fn user_operations_do_their_work_and_refuse_their_main_mistake() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let (api, user) = (admin(&app).await, sdk(&app, None));
    let pool = app.pool.id.to_string();

    // ChangePassword: the previous password must be right, the new one must pass the policy.
    let access = password_sign_in(&user, &cid, "alice")
        .await
        .access_token()
        .unwrap()
        .to_string();
    let change = |previous: &str, proposed: &str| {
        user.change_password()
            .access_token(&access)
            .previous_password(previous)
            .proposed_password(proposed)
            .send()
    };
    assert_eq!(
        code(change("wrong password 1", "New password 1!").await),
        "NotAuthorizedException"
    );
    assert_eq!(
        code(change(PASSWORD, "short").await),
        "InvalidPasswordException"
    );
    change(PASSWORD, "New password 1!").await.unwrap();
    let with_new = user
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", "New password 1!")
        .send()
        .await
        .unwrap();
    let access = with_new
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap()
        .to_string();

    // Attribute changes need a valid token and known attributes.
    let attr = |n: &str, v: &str| AttributeType::builder().name(n).value(v).build().unwrap();
    let bad_token = user
        .update_user_attributes()
        .access_token("not-a-token")
        .user_attributes(attr("given_name", "Al"))
        .send()
        .await;
    assert_eq!(code(bad_token), "NotAuthorizedException");
    let unknown = user
        .update_user_attributes()
        .access_token(&access)
        .user_attributes(attr("custom:nope", "x"))
        .send()
        .await;
    assert_eq!(code(unknown), "InvalidParameterException");
    let bad_token = user
        .delete_user_attributes()
        .access_token("not-a-token")
        .user_attribute_names("given_name")
        .send()
        .await;
    assert_eq!(code(bad_token), "NotAuthorizedException");
    let no_client = user
        .forgot_password()
        .client_id("nosuchclient")
        .username("alice")
        .send()
        .await;
    assert_eq!(code(no_client), "ResourceNotFoundException");

    // AdminUserGlobalSignOut ends the user's access tokens.
    api.admin_user_global_sign_out()
        .user_pool_id(&pool)
        .username("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(user.get_user().access_token(&access).send().await),
        "NotAuthorizedException"
    );

    // Each admin user operation names an unknown user with UserNotFoundException.
    let missing = [
        (
            "AdminUserGlobalSignOut",
            code(
                api.admin_user_global_sign_out()
                    .user_pool_id(&pool)
                    .username("nobody")
                    .send()
                    .await,
            ),
        ),
        (
            "AdminConfirmSignUp",
            code(
                api.admin_confirm_sign_up()
                    .user_pool_id(&pool)
                    .username("nobody")
                    .send()
                    .await,
            ),
        ),
        (
            "AdminDeleteUserAttributes",
            code(
                api.admin_delete_user_attributes()
                    .user_pool_id(&pool)
                    .username("nobody")
                    .user_attribute_names("given_name")
                    .send()
                    .await,
            ),
        ),
        (
            "AdminListGroupsForUser",
            code(
                api.admin_list_groups_for_user()
                    .user_pool_id(&pool)
                    .username("nobody")
                    .send()
                    .await,
            ),
        ),
        (
            "AdminSetUserMFAPreference",
            code(
                api.admin_set_user_mfa_preference()
                    .user_pool_id(&pool)
                    .username("nobody")
                    .software_token_mfa_settings(
                        SoftwareTokenMfaSettingsType::builder()
                            .enabled(false)
                            .build(),
                    )
                    .send()
                    .await,
            ),
        ),
    ];
    for (op, got) in missing {
        assert_eq!(got, "UserNotFoundException", "{op}");
    }
    let weak = api
        .admin_set_user_password()
        .user_pool_id(&pool)
        .username("alice")
        .password("short")
        .permanent(true)
        .send()
        .await;
    assert_eq!(code(weak), "InvalidPasswordException");
}

#[actix_web::test]
async fn admin_confirm_sign_up_lets_a_waiting_user_in() {
    let app = TestApp::new().await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let (api, user) = (admin(&app).await, sdk(&app, None));
    user.sign_up()
        .client_id(&cid)
        .username("wes")
        .password(PASSWORD)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value("wes@example.com")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    api.admin_confirm_sign_up()
        .user_pool_id(app.pool.id.as_str())
        .username("wes")
        .send()
        .await
        .unwrap();
    let tokens = password_sign_in(&user, &cid, "wes").await;
    assert!(tokens.id_token().is_some());
}

#[actix_web::test]
async fn pool_group_client_and_provider_operations_name_what_is_missing() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();

    // UpdateUserPool changes the policy; a policy Cognito would refuse is refused.
    let policy = |n: i32| {
        UserPoolPolicyType::builder()
            .password_policy(PasswordPolicyType::builder().minimum_length(n).build())
            .build()
    };
    api.update_user_pool()
        .user_pool_id(&pool)
        .policies(policy(14))
        .send()
        .await
        .unwrap();
    let described = api.describe_user_pool().user_pool_id(&pool).send().await;
    let pp = described.unwrap();
    let pp = pp.user_pool().unwrap().policies().unwrap();
    assert_eq!(pp.password_policy().unwrap().minimum_length(), Some(14));
    let too_short = api
        .update_user_pool()
        .user_pool_id(&pool)
        .policies(policy(2))
        .send()
        .await;
    assert_eq!(code(too_short), "InvalidParameterException");
    let bad_pool = api
        .create_user_pool()
        .pool_name(crate::support::unique_name("bad"))
        .policies(policy(300))
        .send()
        .await;
    assert_eq!(code(bad_pool), "InvalidParameterException");

    let results = [
        (
            "UpdateUserPool",
            code(
                api.update_user_pool()
                    .user_pool_id(NO_POOL)
                    .mfa_configuration(UserPoolMfaType::Off)
                    .send()
                    .await,
            ),
        ),
        (
            "GetUserPoolMfaConfig",
            code(
                api.get_user_pool_mfa_config()
                    .user_pool_id(NO_POOL)
                    .send()
                    .await,
            ),
        ),
        (
            "SetUserPoolMfaConfig",
            code(
                api.set_user_pool_mfa_config()
                    .user_pool_id(NO_POOL)
                    .mfa_configuration(UserPoolMfaType::Off)
                    .send()
                    .await,
            ),
        ),
        (
            "ListUserPoolClients",
            code(
                api.list_user_pool_clients()
                    .user_pool_id(NO_POOL)
                    .send()
                    .await,
            ),
        ),
        (
            "UpdateUserPoolClient",
            code(
                api.update_user_pool_client()
                    .user_pool_id(&pool)
                    .client_id("nosuchclient")
                    .client_name("x")
                    .send()
                    .await,
            ),
        ),
        (
            "DeleteUserPoolClient",
            code(
                api.delete_user_pool_client()
                    .user_pool_id(&pool)
                    .client_id("nosuchclient")
                    .send()
                    .await,
            ),
        ),
        (
            "DeleteGroup",
            code(
                api.delete_group()
                    .user_pool_id(&pool)
                    .group_name("nogroup")
                    .send()
                    .await,
            ),
        ),
        (
            "ListUsersInGroup",
            code(
                api.list_users_in_group()
                    .user_pool_id(&pool)
                    .group_name("nogroup")
                    .send()
                    .await,
            ),
        ),
        (
            "AdminRemoveUserFromGroup",
            code(
                api.admin_remove_user_from_group()
                    .user_pool_id(&pool)
                    .username("alice")
                    .group_name("nogroup")
                    .send()
                    .await,
            ),
        ),
        (
            "UpdateIdentityProvider",
            code(
                api.update_identity_provider()
                    .user_pool_id(&pool)
                    .provider_name("Google")
                    .provider_details("authorize_scopes", "openid")
                    .send()
                    .await,
            ),
        ),
        (
            "DeleteIdentityProvider",
            code(
                api.delete_identity_provider()
                    .user_pool_id(&pool)
                    .provider_name("Google")
                    .send()
                    .await,
            ),
        ),
        (
            "ListIdentityProviders",
            code(
                api.list_identity_providers()
                    .user_pool_id(NO_POOL)
                    .send()
                    .await,
            ),
        ),
    ];
    for (op, got) in results {
        assert_eq!(got, "ResourceNotFoundException", "{op}");
    }
}
