//! Groups through the Cognito API (AWS SDK, signed): create, get, update, list, membership,
//! the group in the user's tokens, and the errors for a missing or duplicate group.

use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use base64::Engine;

use crate::cognito_api::{admin, client, code};
use crate::support::TestApp;
use crate::support::rp::PASSWORD;

#[actix_web::test]
async fn groups_are_managed_and_reach_the_tokens() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    let made = api
        .create_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .description("People who edit")
        .precedence(2)
        .send()
        .await
        .unwrap();
    assert_eq!(made.group().unwrap().precedence(), Some(2));
    let dup = api
        .create_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .send()
        .await;
    assert_eq!(code(dup), "GroupExistsException");
    api.update_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .precedence(1)
        .send()
        .await
        .unwrap();
    let got = api
        .get_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .send()
        .await
        .unwrap();
    assert_eq!(got.group().unwrap().precedence(), Some(1));
    assert_eq!(got.group().unwrap().description(), Some("People who edit"));
    api.admin_add_user_to_group()
        .user_pool_id(&pool)
        .username("alice")
        .group_name("editors")
        .send()
        .await
        .unwrap();
    let of = api
        .admin_list_groups_for_user()
        .user_pool_id(&pool)
        .username("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        of.groups()
            .iter()
            .filter_map(|g| g.group_name())
            .collect::<Vec<_>>(),
        ["editors"]
    );
    let members = api
        .list_users_in_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .send()
        .await
        .unwrap();
    assert_eq!(
        members
            .users()
            .iter()
            .filter_map(|u| u.username())
            .collect::<Vec<_>>(),
        ["alice"]
    );

    // The group is in the access token the API issues.
    let (cid, _) = client(&app, true, &["ALLOW_USER_PASSWORD_AUTH"]).await;
    let signed_in = crate::cognito_api::sdk(&app, None)
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap();
    let access = signed_in
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap()
        .to_string();
    let payload = access.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["cognito:groups"], serde_json::json!(["editors"]));
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["client_id"], cid.as_str());

    api.admin_remove_user_from_group()
        .user_pool_id(&pool)
        .username("alice")
        .group_name("editors")
        .send()
        .await
        .unwrap();
    let none = api
        .admin_list_groups_for_user()
        .user_pool_id(&pool)
        .username("alice")
        .send()
        .await
        .unwrap();
    assert!(none.groups().is_empty());
    api.delete_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .send()
        .await
        .unwrap();
    let gone = api
        .get_group()
        .user_pool_id(&pool)
        .group_name("editors")
        .send()
        .await;
    assert_eq!(code(gone), "ResourceNotFoundException");
    let listed = api.list_groups().user_pool_id(&pool).send().await.unwrap();
    assert!(listed.groups().is_empty());
    let nobody = api
        .admin_add_user_to_group()
        .user_pool_id(&pool)
        .username("nobody")
        .group_name("editors")
        .send()
        .await;
    assert_eq!(code(nobody), "ResourceNotFoundException");
}
