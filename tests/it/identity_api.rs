//! The Cognito Identity API (identity pools) driven by the official AWS SDK for Rust
//! (`aws-sdk-cognitoidentity`, endpoint pointed at the test server, SigV4 with keys from
//! `access_keys::create`): pools created, described, changed, listed and deleted; roles and
//! role mappings; `GetId` for guests and for this server's user-pool logins; identities
//! described, listed and deleted; the main errors.

use aws_sdk_cognitoidentity as ci;
use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, CognitoIdentityProvider, MappingRule, MappingRuleMatchType,
    RoleMapping, RoleMappingType, RulesConfigurationType,
};

use crate::cognito_api::{FLOWS, client};
use crate::support::TestApp;

pub(crate) fn identity_sdk(app: &TestApp, key: Option<(&str, &str)>) -> ci::Client {
    let (id, secret) = key.unwrap_or(("AKIAUNSIGNEDTEST0000", "unused"));
    let conf = ci::Config::builder()
        .behavior_version(ci::config::BehaviorVersion::latest())
        .region(ci::config::Region::new("local"))
        .endpoint_url(&app.base)
        .credentials_provider(ci::config::Credentials::new(id, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    ci::Client::from_conf(conf)
}

pub(crate) async fn identity_admin(app: &TestApp) -> ci::Client {
    let k = tessera::cognito::access_keys::create(&app.st, "tests", app.now())
        .await
        .unwrap();
    let secret = k.secret_access_key.expose().to_string();
    identity_sdk(app, Some((&k.key.access_key_id, &secret)))
}

pub(crate) fn code<E: ProvideErrorMetadata, R>(
    r: Result<impl std::fmt::Debug, ci::error::SdkError<E, R>>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

/// The test pool as an identity pool names it: its issuer without the scheme.
pub(crate) fn provider_name(app: &TestApp) -> String {
    app.issuer().split_once("://").unwrap().1.to_string()
}

#[actix_web::test]
async fn identity_pools_and_their_roles_are_managed_through_the_sdk() {
    let app = TestApp::new().await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let made = api
        .create_identity_pool()
        .identity_pool_name("app identities")
        .allow_unauthenticated_identities(true)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(provider_name(&app))
                .client_id(&cid)
                .server_side_token_check(true)
                .build(),
        )
        .open_id_connect_provider_arns(
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        )
        .send()
        .await
        .unwrap();
    let id = made.identity_pool_id().to_string();
    assert!(id.starts_with("local:"), "{id}");
    assert!(made.allow_unauthenticated_identities());
    let described = api
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.identity_pool_name(), "app identities");
    assert_eq!(
        described.cognito_identity_providers()[0].client_id(),
        Some(cid.as_str())
    );
    assert!(
        described.open_id_connect_provider_arns()[0]
            .ends_with(":oidc-provider/token.actions.githubusercontent.com")
    );
    let updated = api
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("renamed")
        .allow_unauthenticated_identities(false)
        .allow_classic_flow(true)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.allow_classic_flow(), Some(true));
    assert!(!updated.allow_unauthenticated_identities());

    let rule = MappingRule::builder()
        .claim("cognito:groups")
        .match_type(MappingRuleMatchType::Contains)
        .value("admins")
        .role_arn("arn:aws:iam::1:role/admin")
        .build()
        .unwrap();
    let mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::AuthenticatedRole)
        .rules_configuration(
            RulesConfigurationType::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let key = format!("{}:{cid}", provider_name(&app));
    api.set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", "arn:aws:iam::1:role/auth")
        .roles("unauthenticated", "arn:aws:iam::1:role/guest")
        .role_mappings(&key, mapping)
        .send()
        .await
        .unwrap();
    let roles = api
        .get_identity_pool_roles()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        roles.roles().unwrap()["authenticated"],
        "arn:aws:iam::1:role/auth"
    );
    let got = &roles.role_mappings().unwrap()[&key];
    assert_eq!(got.r#type(), &RoleMappingType::Rules);
    assert_eq!(
        got.rules_configuration().unwrap().rules()[0].value(),
        "admins"
    );
    let bad_role = api
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("admin", "arn:aws:iam::1:role/x")
        .send()
        .await;
    assert_eq!(code(bad_role), "InvalidParameterException");

    let second = api
        .create_identity_pool()
        .identity_pool_name("second")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    let first_page = api
        .list_identity_pools()
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first_page.identity_pools().len(), 1);
    let rest = api
        .list_identity_pools()
        .max_results(10)
        .next_token(first_page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.identity_pools().len(), 1);
    assert!(rest.next_token().is_none());
    api.delete_identity_pool()
        .identity_pool_id(second.identity_pool_id())
        .send()
        .await
        .unwrap();
    let gone = api
        .describe_identity_pool()
        .identity_pool_id(second.identity_pool_id())
        .send()
        .await;
    assert_eq!(code(gone), "ResourceNotFoundException");

    // The main errors: a bad name, a bad page size, an unsigned or wrongly signed call.
    let bad_name = api
        .create_identity_pool()
        .identity_pool_name("bad/name")
        .allow_unauthenticated_identities(false)
        .send()
        .await;
    assert_eq!(code(bad_name), "InvalidParameterException");
    let bad_page = api.list_identity_pools().max_results(0).send().await;
    assert_eq!(code(bad_page), "InvalidParameterException");
    let stranger = identity_sdk(&app, None)
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await;
    assert_eq!(code(stranger), "UnrecognizedClientException");
}

#[actix_web::test]
async fn get_id_gives_guests_and_user_pool_logins_stable_identities() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    app.user("bob", "bob@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let provider = provider_name(&app);
    let pool = api
        .create_identity_pool()
        .identity_pool_name("ids")
        .allow_unauthenticated_identities(true)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(&provider)
                .client_id(&cid)
                .server_side_token_check(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let pool_id = pool.identity_pool_id().to_string();
    let guest = public
        .get_id()
        .identity_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    let guest_id = guest.identity_id().unwrap().to_string();
    let user_api = crate::cognito_api::sdk(&app, None);
    let token = crate::cognito_admin::password_sign_in(&user_api, &cid, "alice")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let signed_in = || {
        public
            .get_id()
            .identity_pool_id(&pool_id)
            .logins(&provider, &token)
            .send()
    };
    let alice = signed_in()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    assert_ne!(alice, guest_id);
    assert_eq!(
        signed_in().await.unwrap().identity_id(),
        Some(alice.as_str())
    );
    let described = api
        .describe_identity()
        .identity_id(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(described.logins(), std::slice::from_ref(&provider));
    let listed = api
        .list_identities()
        .identity_pool_id(&pool_id)
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.identities().len(), 2);

    // Refused: a token of a provider the pool does not trust, a forged token, an unknown pool.
    let untrusted = public
        .get_id()
        .identity_pool_id(&pool_id)
        .logins("accounts.google.com", &token)
        .send()
        .await;
    assert_eq!(code(untrusted), "NotAuthorizedException");
    let forged = public
        .get_id()
        .identity_pool_id(&pool_id)
        .logins(&provider, format!("{token}x"))
        .send()
        .await;
    assert_eq!(code(forged), "NotAuthorizedException");
    let unknown = public
        .get_id()
        .identity_pool_id("local:00000000-0000-4000-8000-000000000000")
        .send()
        .await;
    assert_eq!(code(unknown), "ResourceNotFoundException");

    let deleted = api
        .delete_identities()
        .identity_ids_to_delete(&guest_id)
        .identity_ids_to_delete("local:00000000-0000-4000-8000-000000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.unprocessed_identity_ids().len(), 1);
    let gone = api.describe_identity().identity_id(&guest_id).send().await;
    assert_eq!(code(gone), "ResourceNotFoundException");

    // A pool without guests refuses GetId without a login. (UpdateIdentityPool takes the whole
    // pool, as in Cognito: what it leaves out is cleared.)
    api.update_identity_pool()
        .identity_pool_id(&pool_id)
        .identity_pool_name("ids")
        .allow_unauthenticated_identities(false)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(&provider)
                .client_id(&cid)
                .server_side_token_check(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let no_guests = public.get_id().identity_pool_id(&pool_id).send().await;
    assert_eq!(code(no_guests), "NotAuthorizedException");

    // UnlinkIdentity: the caller proves the identity with its own login; another identity's
    // id is refused; once unlinked, the login makes a new identity.
    let bob_token = crate::cognito_admin::password_sign_in(&user_api, &cid, "bob")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let bob = public
        .get_id()
        .identity_pool_id(&pool_id)
        .logins(&provider, &bob_token)
        .send()
        .await
        .unwrap();
    let wrong = public
        .unlink_identity()
        .identity_id(bob.identity_id().unwrap())
        .logins(&provider, &token)
        .logins_to_remove(&provider)
        .send()
        .await;
    assert_eq!(code(wrong), "NotAuthorizedException");
    public
        .unlink_identity()
        .identity_id(&alice)
        .logins(&provider, &token)
        .logins_to_remove(&provider)
        .send()
        .await
        .unwrap();
    let described = api
        .describe_identity()
        .identity_id(&alice)
        .send()
        .await
        .unwrap();
    assert!(described.logins().is_empty());
    let again = signed_in()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    assert_ne!(again, alice);
}

/// Unsigned calls are counted per address before any work: a flood is told to slow down.
#[actix_web::test]
async fn unsigned_calls_are_limited_per_address() {
    let app = TestApp::new().await;
    let public = identity_sdk(&app, None);
    let unknown = "local:00000000-0000-4000-8000-000000000000";
    for _ in 0..120 {
        let r = public.get_open_id_token().identity_id(unknown).send().await;
        assert_eq!(code(r), "ResourceNotFoundException");
    }
    let r = public.get_open_id_token().identity_id(unknown).send().await;
    assert_eq!(code(r), "TooManyRequestsException");
}
