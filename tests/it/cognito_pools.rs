//! Pools and app clients through the Cognito API (AWS SDK, signed): a pool made, described,
//! listed, changed and deleted; a client with a generated secret that then signs a user in
//! with SECRET_HASH; client updates, listing and deletion; refused settings.

use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, ExplicitAuthFlowsType, OAuthFlowType, PasswordPolicyType, UserPoolMfaType,
    UserPoolPolicyType, UsernameAttributeType,
};

use crate::cognito_api::{admin, code, sdk, secret_hash};
use crate::support::TestApp;
use crate::support::rp::PASSWORD;

#[actix_web::test]
async fn pools_and_clients_are_managed_through_the_api() {
    let app = TestApp::new().await;
    let api = admin(&app).await;
    let policy = PasswordPolicyType::builder()
        .minimum_length(12)
        .require_numbers(true)
        .build();
    let made = api
        .create_user_pool()
        .pool_name(crate::support::unique_name("api-pool"))
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(policy)
                .build(),
        )
        .mfa_configuration(UserPoolMfaType::Optional)
        .username_attributes(UsernameAttributeType::Email)
        .send()
        .await
        .unwrap();
    let pool = made.user_pool().unwrap();
    let pool_id = pool.id().unwrap().to_string();
    assert!(pool_id.starts_with("local_"), "{pool_id}");
    assert_eq!(pool.mfa_configuration(), Some(&UserPoolMfaType::Optional));
    let described = api
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    let pp = described
        .user_pool()
        .unwrap()
        .policies()
        .unwrap()
        .password_policy()
        .unwrap();
    assert_eq!(pp.minimum_length(), Some(12));
    assert!(pp.require_numbers());
    let listed = api.list_user_pools().max_results(60).send().await.unwrap();
    assert!(
        listed
            .user_pools()
            .iter()
            .any(|p| p.id() == Some(pool_id.as_str()))
    );
    let mfa = api
        .get_user_pool_mfa_config()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    assert_eq!(mfa.mfa_configuration(), Some(&UserPoolMfaType::Optional));
    api.set_user_pool_mfa_config()
        .user_pool_id(&pool_id)
        .mfa_configuration(UserPoolMfaType::Off)
        .send()
        .await
        .unwrap();

    let implicit = api
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name("bad")
        .allowed_o_auth_flows(OAuthFlowType::Implicit)
        .callback_urls("https://app.example/cb")
        .send()
        .await;
    assert_eq!(code(implicit), "InvalidParameterException");
    let created = api
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name("backend")
        .generate_secret(true)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .unwrap();
    let c = created.user_pool_client().unwrap();
    let cid = c.client_id().unwrap().to_string();
    let secret = c.client_secret().unwrap().to_string();
    let described = api
        .describe_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&cid)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.user_pool_client().unwrap().client_secret(),
        Some(secret.as_str())
    );

    // The new pool and client work end to end: a user signs in with SECRET_HASH.
    let user = api
        .admin_create_user()
        .user_pool_id(&pool_id)
        .username("erin@example.com")
        .temporary_password("Temporary-pass-12")
        .send()
        .await
        .unwrap();
    let name = user.user().unwrap().username().unwrap().to_string();
    api.admin_set_user_password()
        .user_pool_id(&pool_id)
        .username(&name)
        .password(format!("{PASSWORD} 1"))
        .permanent(true)
        .send()
        .await
        .unwrap();
    let signed_in = sdk(&app, None)
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "erin@example.com")
        .auth_parameters("PASSWORD", format!("{PASSWORD} 1"))
        .auth_parameters(
            "SECRET_HASH",
            secret_hash(&secret, "erin@example.com", &cid),
        )
        .send()
        .await
        .unwrap();
    assert!(
        signed_in
            .authentication_result()
            .unwrap()
            .refresh_token()
            .is_some()
    );

    api.update_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&cid)
        .client_name("renamed")
        .send()
        .await
        .unwrap();
    let clients = api
        .list_user_pool_clients()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = clients
        .user_pool_clients()
        .iter()
        .filter_map(|c| c.client_name())
        .collect();
    assert_eq!(names, ["renamed"]);
    api.delete_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&cid)
        .send()
        .await
        .unwrap();
    let gone = api
        .describe_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&cid)
        .send()
        .await;
    assert_eq!(code(gone), "ResourceNotFoundException");

    api.delete_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    let gone = api.describe_user_pool().user_pool_id(&pool_id).send().await;
    assert_eq!(code(gone), "ResourceNotFoundException");
    let bad = api.list_user_pools().max_results(0).send().await;
    assert_eq!(code(bad), "InvalidParameterException");
}
