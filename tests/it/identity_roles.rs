//! Roles from the user pool's groups: a group's RoleArn puts `cognito:roles` and
//! `cognito:preferred_role` in its members' ID tokens, and an identity pool's `Token` mapping
//! takes the preferred one (`CustomRoleArn` any of them); without a role and with `Deny`, no
//! credentials. Through the AWS SDKs for both APIs, the broker against the fake STS.

use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, CognitoIdentityProvider, RoleMapping, RoleMappingType,
};
use serde_json::Value;
use tessera::model::identity_pool::Broker;

use crate::cognito_admin::password_sign_in;
use crate::cognito_api::{FLOWS, admin, client};
use crate::identity_api::{code, identity_admin, identity_sdk, provider_name};
use crate::identity_tokens::change_settings;
use crate::support::TestApp;
use crate::support::fake_sts::{FakeSts, Trust};

const READER: &str = "arn:aws:iam::1:role/reader";
const WRITER: &str = "arn:aws:iam::1:role/writer";

fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[actix_web::test]
async fn token_mappings_take_the_roles_of_the_users_groups() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    app.user("bob", "bob@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let pools = admin(&app).await;
    let pool_id = app.pool.id.to_string();
    for (group, role, precedence) in [("writers", WRITER, 1), ("readers", READER, 2)] {
        pools
            .create_group()
            .user_pool_id(&pool_id)
            .group_name(group)
            .role_arn(role)
            .precedence(precedence)
            .send()
            .await
            .unwrap();
        pools
            .admin_add_user_to_group()
            .user_pool_id(&pool_id)
            .group_name(group)
            .username("alice")
            .send()
            .await
            .unwrap();
    }
    let got = pools
        .get_group()
        .user_pool_id(&pool_id)
        .group_name("writers")
        .send()
        .await
        .unwrap();
    assert_eq!(got.group().unwrap().role_arn(), Some(WRITER));
    let user_api = crate::cognito_api::sdk(&app, None);
    let alice = password_sign_in(&user_api, &cid, "alice").await;
    let alice_token = alice.id_token().unwrap().to_string();
    let c = claims_of(&alice_token);
    assert_eq!(c["cognito:preferred_role"], WRITER);
    assert_eq!(c["cognito:roles"], serde_json::json!([WRITER, READER]));

    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let provider = provider_name(&app);
    let pool = api
        .create_identity_pool()
        .identity_pool_name("by group")
        .allow_unauthenticated_identities(false)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(&provider)
                .client_id(&cid)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_string();
    api.set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", "arn:aws:iam::1:role/default")
        .role_mappings(
            format!("{provider}:{cid}"),
            RoleMapping::builder()
                .r#type(RoleMappingType::Token)
                .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let sts = FakeSts::start(&format!("{}/identity", app.base)).await;
    for role in [READER, WRITER] {
        sts.role(
            role,
            Trust {
                aud: pool.clone(),
                authenticated_only: false,
            },
        );
    }
    change_settings(&app, &pool, |s| {
        s.broker = Some(Broker {
            sts_endpoint: sts.url.clone(),
            ..Broker::default()
        });
    })
    .await;

    let id_of = |token: String| {
        let public = &public;
        let (pool, provider) = (pool.clone(), provider.clone());
        async move {
            public
                .get_id()
                .identity_pool_id(pool)
                .logins(provider, token)
                .send()
                .await
                .unwrap()
                .identity_id()
                .unwrap()
                .to_string()
        }
    };
    let alice_id = id_of(alice_token.clone()).await;
    let credentials = |custom: Option<&'static str>| {
        public
            .get_credentials_for_identity()
            .identity_id(&alice_id)
            .logins(&provider, &alice_token)
            .set_custom_role_arn(custom.map(str::to_string))
            .send()
    };
    credentials(None).await.unwrap();
    assert_eq!(
        sts.calls().pop().unwrap().form["RoleArn"],
        WRITER,
        "the preferred role"
    );
    credentials(Some(READER)).await.unwrap();
    assert_eq!(
        sts.calls().pop().unwrap().form["RoleArn"],
        READER,
        "another of her roles"
    );
    let foreign = credentials(Some("arn:aws:iam::1:role/default")).await;
    assert_eq!(code(foreign), "NotAuthorizedException");

    // Bob is in no group: his token names no role, and the mapping says Deny.
    let bob_token = password_sign_in(&user_api, &cid, "bob")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let bob_id = id_of(bob_token.clone()).await;
    let denied = public
        .get_credentials_for_identity()
        .identity_id(&bob_id)
        .logins(&provider, &bob_token)
        .send()
        .await;
    assert_eq!(code(denied), "NotAuthorizedException");
}
