//! Identity providers through the Cognito API (AWS SDK, signed): create, describe, update,
//! list, find by identifier, delete, and linking: a linked upstream identity signs in as the
//! pool user (through the fake Google), and disabling the provider for it undoes the link or
//! disables the user the provider created.

use aws_sdk_cognitoidentityprovider::types::{
    IdentityProviderTypeType, ProviderUserIdentifierType,
};

use crate::cognito_api::{admin, code};
use crate::federation::{client, federate, id_claims};
use crate::support::TestApp;
use crate::support::fake_idp::{CLIENT_ID, CLIENT_SECRET, FakeIdp, FakeUser};

fn upstream(provider: &str, subject: &str) -> ProviderUserIdentifierType {
    ProviderUserIdentifierType::builder()
        .provider_name(provider)
        .provider_attribute_name("Cognito_Subject")
        .provider_attribute_value(subject)
        .build()
}

/// The pool user `username` as a link's destination.
fn pool_user(username: &str) -> ProviderUserIdentifierType {
    ProviderUserIdentifierType::builder()
        .provider_name("Cognito")
        .provider_attribute_value(username)
        .build()
}

/// The `identities` attribute of `username` as AdminGetUser shows it.
async fn identities_of(
    api: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    username: &str,
) -> serde_json::Value {
    let got = api
        .admin_get_user()
        .user_pool_id(pool)
        .username(username)
        .send()
        .await
        .unwrap();
    let identities = got
        .user_attributes()
        .iter()
        .find(|a| a.name() == "identities")
        .and_then(|a| a.value())
        .unwrap();
    serde_json::from_str(identities).unwrap()
}

#[actix_web::test]
async fn providers_are_created_read_changed_listed_and_deleted() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    let made = api
        .create_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Google")
        .provider_type(IdentityProviderTypeType::Google)
        .provider_details("client_id", CLIENT_ID)
        .provider_details("client_secret", CLIENT_SECRET)
        .provider_details("authorize_scopes", "openid email")
        .provider_details("oidc_issuer", fake.issuer())
        .attribute_mapping("email", "email")
        .idp_identifiers("example.org")
        .send()
        .await
        .unwrap();
    let p = made.identity_provider().unwrap();
    assert_eq!(p.provider_type(), Some(&IdentityProviderTypeType::Google));
    let details = p.provider_details().unwrap();
    assert_eq!(details["authorize_scopes"], "openid email");
    assert_eq!(details["client_id"], CLIENT_ID);
    assert!(!details.contains_key("client_secret"), "{details:?}");
    let dup = api
        .create_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Google")
        .provider_type(IdentityProviderTypeType::Google)
        .provider_details("client_id", "x")
        .provider_details("client_secret", "y")
        .send()
        .await;
    assert_eq!(code(dup), "DuplicateProviderException");
    let corp = api
        .create_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Corp")
        .provider_type(IdentityProviderTypeType::Oidc)
        .provider_details("client_id", "corp")
        .provider_details("client_secret", "corp-secret")
        .provider_details("oidc_issuer", fake.issuer())
        .provider_details("authorize_scopes", "openid")
        .send()
        .await
        .unwrap();
    assert_eq!(
        corp.identity_provider()
            .unwrap()
            .provider_details()
            .unwrap()["attributes_request_method"],
        "GET"
    );
    for (kind, name, why) in [
        (IdentityProviderTypeType::Saml, "Okta", "SAML"),
        (IdentityProviderTypeType::Oidc, "No Spaces", "bad name"),
        (IdentityProviderTypeType::Facebook, "Face", "fixed name"),
    ] {
        let refused = api
            .create_identity_provider()
            .user_pool_id(&pool)
            .provider_name(name)
            .provider_type(kind)
            .provider_details("client_id", "x")
            .provider_details("client_secret", "y")
            .send()
            .await;
        assert_eq!(code(refused), "InvalidParameterException", "{why}");
    }
    let unknown_key = api
        .create_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Other")
        .provider_type(IdentityProviderTypeType::Oidc)
        .provider_details("client_id", "x")
        .provider_details("client_secret", "y")
        .provider_details("oidc_issuer", fake.issuer())
        .provider_details("secret_sauce", "z")
        .send()
        .await;
    assert_eq!(code(unknown_key), "InvalidParameterException");

    let first = api
        .list_identity_providers()
        .user_pool_id(&pool)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.providers()[0].provider_name(), Some("Corp"));
    let rest = api
        .list_identity_providers()
        .user_pool_id(&pool)
        .max_results(1)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.providers()[0].provider_name(), Some("Google"));
    assert!(rest.next_token().is_none());

    api.update_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Google")
        .provider_details("authorize_scopes", "openid email profile")
        .send()
        .await
        .unwrap();
    let found = api
        .get_identity_provider_by_identifier()
        .user_pool_id(&pool)
        .idp_identifier("Example.org")
        .send()
        .await
        .unwrap();
    let p = found.identity_provider().unwrap();
    assert_eq!(p.provider_name(), Some("Google"));
    let details = p.provider_details().unwrap();
    assert_eq!(details["authorize_scopes"], "openid email profile");
    assert_eq!(details["client_id"], CLIENT_ID, "kept through the update");
    let none = api
        .get_identity_provider_by_identifier()
        .user_pool_id(&pool)
        .idp_identifier("nowhere.example")
        .send()
        .await;
    assert_eq!(code(none), "ResourceNotFoundException");

    api.delete_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Corp")
        .send()
        .await
        .unwrap();
    let gone = api
        .describe_identity_provider()
        .user_pool_id(&pool)
        .provider_name("Corp")
        .send()
        .await;
    assert_eq!(code(gone), "ResourceNotFoundException");
    let no_pool = api
        .describe_identity_provider()
        .user_pool_id("local_Nope12345")
        .provider_name("Google")
        .send()
        .await;
    assert_eq!(code(no_pool), "ResourceNotFoundException");
}

#[actix_web::test]
async fn a_linked_identity_signs_in_as_the_user_until_the_provider_is_disabled_for_it() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    let alice = app.user("alice", "alice@example.com").await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    crate::federation::provider(&app, &fake, tessera::model::ProviderKind::Google, None).await;
    let subject = fake.user().subject;
    let link = |subject: &str, username: &str| {
        api.admin_link_provider_for_user()
            .user_pool_id(&pool)
            .destination_user(pool_user(username))
            .source_user(upstream("Google", subject))
            .send()
    };
    assert_eq!(
        code(link(&subject, "nobody").await),
        "UserNotFoundException"
    );
    let wrong_provider = api
        .admin_link_provider_for_user()
        .user_pool_id(&pool)
        .destination_user(pool_user("alice"))
        .source_user(upstream("Facebook", &subject))
        .send()
        .await;
    assert_eq!(code(wrong_provider), "ResourceNotFoundException");
    link(&subject, "alice").await.unwrap();
    assert_eq!(
        code(link(&subject, "alice").await),
        "InvalidParameterException"
    );
    let identities = identities_of(&api, &pool, "alice").await;
    assert_eq!(identities[0]["userId"], subject.as_str());

    // The Google identity now signs in as alice.
    let c = client(&app, &["Google"]).await;
    let started = c.start();
    let landed = federate(&app, &fake, &app.browser(), &started.url, "Google").await;
    let claims = id_claims(&c, started, &landed).await;
    assert_eq!(claims["sub"], alice.sub.as_str());

    // Disabling the provider for that identity removes the link; alice keeps her password.
    api.admin_disable_provider_for_user()
        .user_pool_id(&pool)
        .user(upstream("Google", &subject))
        .send()
        .await
        .unwrap();
    let got = api
        .admin_get_user()
        .user_pool_id(&pool)
        .username("alice")
        .send()
        .await
        .unwrap();
    assert!(got.enabled());
    assert!(
        !got.user_attributes()
            .iter()
            .any(|a| a.name() == "identities")
    );
    let again = api
        .admin_disable_provider_for_user()
        .user_pool_id(&pool)
        .user(upstream("Google", &subject))
        .send()
        .await;
    assert_eq!(code(again), "UserNotFoundException");

    // A user the provider created is disabled instead: the identity cannot sign in.
    fake.set_user(FakeUser {
        subject: "2000002".into(),
        email: Some("gus@example.com".into()),
        ..fake.user()
    });
    let started = c.start();
    let landed = federate(&app, &fake, &app.browser(), &started.url, "Google").await;
    assert!(landed.param("code").is_some(), "{landed:?}");
    api.admin_disable_provider_for_user()
        .user_pool_id(&pool)
        .user(upstream("Google", "2000002"))
        .send()
        .await
        .unwrap();
    let gus = api
        .admin_get_user()
        .user_pool_id(&pool)
        .username("Google_2000002")
        .send()
        .await
        .unwrap();
    assert!(!gus.enabled());
    let started = c.start();
    let landed = federate(&app, &fake, &app.browser(), &started.url, "Google").await;
    assert!(landed.param("code").is_none(), "{landed:?}");
    let bad_attribute = api
        .admin_disable_provider_for_user()
        .user_pool_id(&pool)
        .user(
            ProviderUserIdentifierType::builder()
                .provider_name("Google")
                .provider_attribute_name("email")
                .provider_attribute_value("gus@example.com")
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(bad_attribute), "InvalidParameterException");
}

/// A user holds at most five linked identities, however many links arrive at once: the count
/// and the link are one transaction, so a parallel burst cannot slip past the limit between
/// a check and a write.
#[actix_web::test]
async fn a_burst_of_links_stops_at_five_linked_identities() {
    let (app, fake) = (TestApp::new().await, FakeIdp::start().await);
    app.user("alice", "alice@example.com").await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    crate::federation::provider(&app, &fake, tessera::model::ProviderKind::Google, None).await;
    let links = (0..12).map(|n| {
        api.admin_link_provider_for_user()
            .user_pool_id(&pool)
            .destination_user(pool_user("alice"))
            .source_user(upstream("Google", &format!("30000{n:02}")))
            .send()
    });
    let answers = futures_util::future::join_all(links).await;
    let linked = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(linked, 5, "links that succeeded");
    for refused in answers.into_iter().filter(|a| a.is_err()) {
        assert_eq!(code(refused), "LimitExceededException");
    }
    let identities = identities_of(&api, &pool, "alice").await;
    assert_eq!(identities.as_array().map(Vec::len), Some(5));
}

/// A link whose user was deleted since it was looked up writes nothing and says the user is
/// gone, rather than failing on the foreign key (an internal error) or leaving a dangling
/// link.
#[actix_web::test]
async fn a_limited_link_to_a_user_deleted_meanwhile_writes_nothing() {
    use tessera::store::StoreError;
    use tessera::store::sql::federation;
    let app = TestApp::new().await;
    let (pool, now) = (app.pool.id.clone(), app.now());
    let p = pool.clone();
    let linked = app
        .st
        .sql
        .run(move |c| federation::link_at_most(c, &p, ("Google", "4000001"), "gone", 5, now))
        .await;
    assert!(
        matches!(linked, Err(StoreError::NotFound("user"))),
        "{linked:?}"
    );
    let found = app
        .st
        .sql
        .run(move |c| federation::find_link(c, &pool, "Google", "4000001"))
        .await
        .unwrap();
    assert!(found.is_none());
}
