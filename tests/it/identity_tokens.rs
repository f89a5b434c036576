//! Identity tokens and what they buy, driven by the AWS SDK (`aws-sdk-cognitoidentity`) and
//! plain HTTP: the identity issuer's discovery and JWKS (rotated and revoked), `GetOpenIdToken`
//! for guests and user-pool logins (role rules, `amr`), developer tokens and
//! `LookupDeveloperIdentity`, principal tags, the credentials broker against a fake STS that
//! verifies tokens as AWS does, OpenID, Facebook and Amazon logins.

use std::collections::BTreeMap;

use aws_sdk_cognitoidentity as ci;
use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, CognitoIdentityProvider, MappingRule, MappingRuleMatchType,
    RoleMapping, RoleMappingType, RulesConfigurationType,
};
use serde_json::{Map, Value};
use tessera::keys::{self, Owner};
use tessera::model::identity_pool::Broker;

use crate::cognito_admin::password_sign_in;
use crate::cognito_api::{FLOWS, client};
use crate::identity_api::{code, identity_admin, identity_sdk, provider_name};
use crate::support::TestApp;
use crate::support::fake_sts::{FakeSts, Trust};

const AUTH_ROLE: &str = "arn:aws:iam::1:role/auth";
const GUEST_ROLE: &str = "arn:aws:iam::1:role/guest";
pub(crate) const ADMIN_ROLE: &str = "arn:aws:iam::1:role/admin";

/// The claims of an identity token, verified against the issuer's published JWKS.
pub(crate) async fn verified(app: &TestApp, token: &str) -> Map<String, Value> {
    let jwks: Value = app
        .get("/identity/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kid = josekit::jwt::decode_header(token)
        .unwrap()
        .claim("kid")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's key is published");
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let v = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &v).unwrap();
    payload.claims_set().clone()
}

/// Changes identity pool `pool`'s settings as `f` says (what the API cannot set: the broker,
/// OpenID client ids), through the identity service.
pub(crate) async fn change_settings(
    app: &TestApp,
    pool: &str,
    f: impl FnOnce(&mut tessera::model::IdentityPoolSettings),
) {
    let p = tessera::identity::find(&app.st, pool).await.unwrap();
    let mut s = p.settings.clone();
    f(&mut s);
    tessera::identity::update(&app.st, pool, &p.name, s, app.now())
        .await
        .unwrap();
}

/// An identity pool trusting the test pool's client `cid`, with guests, the basic flow, default
/// roles and a rule giving alice the admin role.
pub(crate) async fn pool_for(app: &TestApp, api: &ci::Client, cid: &str) -> String {
    let provider = provider_name(app);
    let made = api
        .create_identity_pool()
        .identity_pool_name("tokens")
        .allow_unauthenticated_identities(true)
        .allow_classic_flow(true)
        .developer_provider_name("login.example")
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(&provider)
                .client_id(cid)
                .server_side_token_check(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = made.identity_pool_id().to_string();
    let rule = MappingRule::builder()
        .claim("email")
        .match_type(MappingRuleMatchType::Equals)
        .value("alice@example.com")
        .role_arn(ADMIN_ROLE)
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
    api.set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH_ROLE)
        .roles("unauthenticated", GUEST_ROLE)
        .role_mappings(format!("{provider}:{cid}"), mapping)
        .send()
        .await
        .unwrap();
    id
}

#[actix_web::test]
async fn the_identity_issuer_publishes_discovery_and_rotates_its_keys() {
    let app = TestApp::new().await;
    let res = app.get("/identity/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let doc: Value = res.json().await.unwrap();
    let issuer = format!("{}/identity", app.base);
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(
        doc["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json").as_str()
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    let again = app
        .http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let keys_of = || async {
        let jwks: Value = app
            .get("/identity/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let first = keys_of().await;
    assert_eq!(first.len(), 1);
    let new = keys::rotate_for(&app.st, Owner::Identity, app.now(), true)
        .await
        .unwrap();
    assert_eq!(keys_of().await, [first[0].clone(), new.kid.to_string()]);
    keys::revoke_for(&app.st, Owner::Identity, &first[0], app.now())
        .await
        .unwrap();
    assert_eq!(keys_of().await, [new.kid.to_string()]);
    // A pool's keys are not the issuer's, and a pool's JWKS does not list the issuer's.
    let pool_jwks: Value = app
        .get(&format!("/{}/.well-known/jwks.json", app.pool.id))
        .await
        .json()
        .await
        .unwrap();
    assert!(!pool_jwks.to_string().contains(new.kid.as_str()));
}

#[actix_web::test]
async fn open_id_tokens_for_guests_and_signed_in_users() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    app.user("bob", "bob@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let pool = pool_for(&app, &api, &cid).await;
    let provider = provider_name(&app);

    let guest = public
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let guest_id = guest.identity_id().unwrap().to_string();
    let got = public
        .get_open_id_token()
        .identity_id(&guest_id)
        .send()
        .await
        .unwrap();
    assert_eq!(got.identity_id(), Some(guest_id.as_str()));
    let c = verified(&app, got.token().unwrap()).await;
    assert_eq!(c["iss"], format!("{}/identity", app.base).as_str());
    assert_eq!(c["sub"], guest_id.as_str());
    assert_eq!(c["aud"], pool.as_str());
    assert_eq!(c["amr"], serde_json::json!(["unauthenticated"]));
    assert_eq!(c["auth_type"], "unauthenticated");
    assert_eq!(c["token_use"], "identity");
    assert_eq!(c["role"], GUEST_ROLE);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert!(c.get("login_provider").is_none() && c.get("jti").is_some());

    let user_api = crate::cognito_api::sdk(&app, None);
    let mut ids = BTreeMap::new();
    for name in ["alice", "bob"] {
        let token = password_sign_in(&user_api, &cid, name)
            .await
            .id_token()
            .unwrap()
            .to_string();
        let id = public
            .get_id()
            .identity_pool_id(&pool)
            .logins(&provider, &token)
            .send()
            .await
            .unwrap()
            .identity_id()
            .unwrap()
            .to_string();
        let got = public
            .get_open_id_token()
            .identity_id(&id)
            .logins(&provider, &token)
            .send()
            .await
            .unwrap();
        let c = verified(&app, got.token().unwrap()).await;
        assert_eq!(c["auth_type"], "authenticated");
        assert_eq!(c["login_provider"], provider.as_str());
        let amr: Vec<String> = serde_json::from_value(c["amr"].clone()).unwrap();
        assert_eq!(amr[..2], ["authenticated".to_string(), provider.clone()]);
        assert!(
            amr[2].starts_with(&format!("{provider}:CognitoSignIn:")),
            "{amr:?}"
        );
        ids.insert(name, (id, token, c["role"].as_str().unwrap().to_string()));
    }
    assert_eq!(
        ids["alice"].2, ADMIN_ROLE,
        "the rule on email gives alice admin"
    );
    assert_eq!(
        ids["bob"].2, AUTH_ROLE,
        "no rule matches bob: the authenticated role"
    );

    // An authenticated identity needs its login; another's login does not prove it.
    let (alice_id, alice_token, _) = ids["alice"].clone();
    let (bob_id, _, _) = ids["bob"].clone();
    let bare = public
        .get_open_id_token()
        .identity_id(&alice_id)
        .send()
        .await;
    assert_eq!(code(bare), "NotAuthorizedException");
    let stolen = public
        .get_open_id_token()
        .identity_id(&bob_id)
        .logins(&provider, &alice_token)
        .send()
        .await;
    assert_eq!(code(stolen), "NotAuthorizedException");
    let unknown = public
        .get_open_id_token()
        .identity_id("local:00000000-0000-4000-8000-000000000009")
        .send()
        .await;
    assert_eq!(code(unknown), "ResourceNotFoundException");
    // A guest who signs in with a login another identity owns merges into it.
    let merged = public
        .get_open_id_token()
        .identity_id(&guest_id)
        .logins(&provider, &alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(merged.identity_id(), Some(alice_id.as_str()));
    let events = tessera::audit::list(&app.st, &app.pool.id, None, 100)
        .await
        .unwrap();
    let merge = events
        .iter()
        .find(|e| e.kind == "identities_merged")
        .expect("the user pool records the merge");
    assert!(merge.detail.contains(&guest_id), "{}", merge.detail);

    // With the basic flow off, tokens are not handed to clients.
    change_settings(&app, &pool, |s| {
        s.allow_classic_flow = false;
    })
    .await;
    let off = public
        .get_open_id_token()
        .identity_id(&alice_id)
        .logins(&provider, &alice_token)
        .send()
        .await;
    assert_eq!(code(off), "InvalidParameterException");
    // Refused before anything is linked or merged: a guest stays a guest.
    let another_guest = public
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let another_guest = another_guest.identity_id().unwrap().to_string();
    let refused = public
        .get_open_id_token()
        .identity_id(&another_guest)
        .logins(&provider, &alice_token)
        .send()
        .await;
    assert_eq!(code(refused), "InvalidParameterException");
    let still = api
        .describe_identity()
        .identity_id(&another_guest)
        .send()
        .await
        .unwrap();
    assert!(still.logins().is_empty(), "{still:?}");
}

#[actix_web::test]
async fn developer_tokens_are_vouched_for_by_a_signed_backend() {
    let app = TestApp::new().await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let pool = pool_for(&app, &api, &cid).await;
    let issue = |user: &str, seconds: i64| {
        api.get_open_id_token_for_developer_identity()
            .identity_pool_id(&pool)
            .logins("login.example", user)
            .principal_tags("team", "blue")
            .token_duration(seconds)
            .send()
    };
    let first = issue("user-1", 3600).await.unwrap();
    let id = first.identity_id().unwrap().to_string();
    let c = verified(&app, first.token().unwrap()).await;
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(c["auth_type"], "authenticated");
    let guid = pool.split_once(':').unwrap().1;
    assert_eq!(
        c["amr"][2],
        format!("login.example:local:{guid}:user-1").as_str()
    );
    let tags = &c["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(tags["team"], serde_json::json!(["blue"]));
    assert_eq!(tags["auth_type"], serde_json::json!(["authenticated"]));
    assert_eq!(
        issue("user-1", 60).await.unwrap().identity_id(),
        Some(id.as_str()),
        "the same developer user keeps its identity"
    );
    let found = api
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(found.identity_id(), Some(id.as_str()));
    assert_eq!(found.developer_user_identifier_list(), ["user-1"]);
    assert_eq!(code(issue("user-2", 0).await), "InvalidParameterException");
    assert_eq!(
        code(issue("user-2", 86_401).await),
        "InvalidParameterException"
    );
    let unsigned = identity_sdk(&app, None)
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("login.example", "user-3")
        .send()
        .await;
    assert_eq!(code(unsigned), "UnrecognizedClientException");
    let missing = api
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("nobody")
        .send()
        .await;
    assert_eq!(code(missing), "ResourceNotFoundException");
}

#[actix_web::test]
async fn the_broker_trades_identity_tokens_for_credentials_and_guests_stay_guests() {
    let app = TestApp::new().await;
    app.user("bob", "bob@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let pool = pool_for(&app, &api, &cid).await;
    let provider = provider_name(&app);
    let guest = public
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let guest_id = guest.identity_id().unwrap().to_string();
    let no_broker = public
        .get_credentials_for_identity()
        .identity_id(&guest_id)
        .send()
        .await;
    assert_eq!(code(no_broker), "InvalidIdentityPoolConfigurationException");

    let sts = FakeSts::start(&format!("{}/identity", app.base)).await;
    let trust = |authenticated_only| Trust {
        aud: pool.clone(),
        authenticated_only,
    };
    sts.role(AUTH_ROLE, trust(true));
    sts.role(GUEST_ROLE, trust(false));
    // The tags claim (with auth_type) is what lets the STS tell guests from users.
    let tags = api
        .set_principal_tag_attribute_map()
        .identity_pool_id(&pool)
        .identity_provider_name(&provider)
        .use_defaults(true)
        .send()
        .await
        .unwrap();
    assert!(tags.use_defaults().unwrap_or_default());
    let got = api
        .get_principal_tag_attribute_map()
        .identity_pool_id(&pool)
        .identity_provider_name(&provider)
        .send()
        .await
        .unwrap();
    assert!(got.use_defaults().unwrap_or_default());
    let stranger = api
        .set_principal_tag_attribute_map()
        .identity_pool_id(&pool)
        .identity_provider_name("accounts.google.com")
        .use_defaults(true)
        .send()
        .await;
    assert_eq!(code(stranger), "InvalidParameterException");
    let with_broker = |sts_endpoint: String| async {
        change_settings(&app, &pool, |s| {
            s.broker = Some(Broker {
                sts_endpoint,
                guest_session_policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
                ..Broker::default()
            });
        })
        .await;
    };
    with_broker(sts.url.clone()).await;

    let token = password_sign_in(&crate::cognito_api::sdk(&app, None), &cid, "bob")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let bob = public
        .get_id()
        .identity_pool_id(&pool)
        .logins(&provider, &token)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    let creds = public
        .get_credentials_for_identity()
        .identity_id(&bob)
        .logins(&provider, &token)
        .send()
        .await
        .unwrap();
    let c = creds.credentials().unwrap();
    assert!(c.access_key_id().unwrap().starts_with("ASIAFAKE"));
    assert_eq!(c.secret_key(), Some("fake-secret"));
    assert_eq!(
        c.session_token(),
        Some(format!("session-of-{bob}").as_str())
    );
    let last = sts.calls().pop().unwrap();
    assert_eq!(last.form["RoleArn"], AUTH_ROLE);
    assert_eq!(last.form["RoleSessionName"], "CognitoIdentityCredentials");
    assert!(!last.form.contains_key("Policy"), "no scope-down for users");
    let claims = last.claims.unwrap();
    assert_eq!(claims["role"], AUTH_ROLE);
    assert_eq!(
        claims["https://aws.amazon.com/tags"]["principal_tags"]["client"],
        serde_json::json!([cid])
    );

    // A developer's identity token is itself the login of the enhanced flow.
    let dev = api
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("login.example", "dev-1")
        .send()
        .await
        .unwrap();
    let dev_id = dev.identity_id().unwrap().to_string();
    let dev_creds = public
        .get_credentials_for_identity()
        .identity_id(&dev_id)
        .logins("cognito-identity.amazonaws.com", dev.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        dev_creds.credentials().unwrap().session_token(),
        Some(format!("session-of-{dev_id}").as_str())
    );
    assert_eq!(sts.calls().pop().unwrap().form["RoleArn"], AUTH_ROLE);
    let not_yours = public
        .get_credentials_for_identity()
        .identity_id(&bob)
        .logins("cognito-identity.amazonaws.com", dev.token().unwrap())
        .send()
        .await;
    assert_eq!(code(not_yours), "NotAuthorizedException");

    let guest_creds = public
        .get_credentials_for_identity()
        .identity_id(&guest_id)
        .send()
        .await
        .unwrap();
    assert!(guest_creds.credentials().unwrap().access_key_id().is_some());
    let last = sts.calls().pop().unwrap();
    assert_eq!(last.form["RoleArn"], GUEST_ROLE);
    assert!(
        last.form.contains_key("Policy"),
        "guests get the scope-down policy"
    );
    // A guest cannot ask for the authenticated role, and the STS refuses guest tokens for it.
    let custom = public
        .get_credentials_for_identity()
        .identity_id(&guest_id)
        .custom_role_arn(AUTH_ROLE)
        .send()
        .await;
    assert_eq!(code(custom), "NotAuthorizedException");
    api.set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", AUTH_ROLE)
        .roles("unauthenticated", AUTH_ROLE)
        .send()
        .await
        .unwrap();
    let misconfigured = public
        .get_credentials_for_identity()
        .identity_id(&guest_id)
        .send()
        .await;
    assert_eq!(
        code(misconfigured),
        "InvalidIdentityPoolConfigurationException"
    );
    assert_eq!(sts.calls().pop().unwrap().form["RoleArn"], AUTH_ROLE);

    // An STS that does not answer is the STS's failure, said as such.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    with_broker(dead).await;
    let down = public
        .get_credentials_for_identity()
        .identity_id(&bob)
        .logins(&provider, &token)
        .send()
        .await;
    assert_eq!(code(down), "ExternalServiceException");
}

#[actix_web::test]
async fn logins_from_another_openid_provider_are_verified_against_its_keys() {
    use crate::support::fake_idp::{CLIENT_ID, FakeIdp, Fault};
    let app = TestApp::new().await;
    let idp = FakeIdp::start().await;
    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let made = api
        .create_identity_pool()
        .identity_pool_name("oidc")
        .allow_unauthenticated_identities(false)
        .allow_classic_flow(true)
        .open_id_connect_provider_arns(idp.issuer())
        .send()
        .await
        .unwrap();
    let pool = made.identity_pool_id().to_string();
    let key = idp.issuer().split_once("://").unwrap().1.to_string();
    let get_id = |token: String| {
        public
            .get_id()
            .identity_pool_id(&pool)
            .logins(&key, token)
            .send()
    };
    // Cognito keeps an OpenID provider's client ids on the IAM provider; here they are the
    // pool's, and without them every login is refused.
    let unset = get_id(idp.id_token_for_app()).await;
    assert_eq!(code(unset), "InvalidIdentityPoolConfigurationException");
    change_settings(&app, &pool, |s| {
        s.openid_audiences
            .insert(idp.issuer(), vec![CLIENT_ID.to_string()]);
    })
    .await;

    let token = idp.id_token_for_app();
    let id = get_id(token.clone())
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    assert_eq!(
        get_id(idp.id_token_for_app()).await.unwrap().identity_id(),
        Some(id.as_str()),
        "the same subject keeps its identity"
    );
    let got = public
        .get_open_id_token()
        .identity_id(&id)
        .logins(&key, &token)
        .send()
        .await
        .unwrap();
    let c = verified(&app, got.token().unwrap()).await;
    let subject = idp.user().subject;
    assert_eq!(
        c["amr"],
        serde_json::json!(["authenticated", key, format!("{key}:OIDC:{subject}")])
    );
    // The provider rotates its key: the new one is fetched.
    idp.rotate_key();
    assert_eq!(
        get_id(idp.id_token_for_app()).await.unwrap().identity_id(),
        Some(id.as_str())
    );
    for fault in [
        Fault::WrongAudience,
        Fault::Expired,
        Fault::BadSignature,
        Fault::AlgNone,
        Fault::UnknownKid,
    ] {
        idp.set_fault(fault);
        let refused = get_id(idp.id_token_for_app()).await;
        assert_eq!(code(refused), "NotAuthorizedException", "{fault:?}");
    }
    // Tokens with made-up key ids make us fetch the provider's keys at most once a half-minute.
    let fetched = idp.jwks_fetches();
    for _ in 0..3 {
        let refused = get_id(idp.id_token_for_app()).await;
        assert_eq!(code(refused), "NotAuthorizedException");
    }
    assert_eq!(
        idp.jwks_fetches(),
        fetched,
        "no fetch within the half-minute"
    );
    app.clock.advance(chrono::TimeDelta::seconds(31));
    let refused = get_id(idp.id_token_for_app()).await;
    assert_eq!(code(refused), "NotAuthorizedException");
    assert_eq!(idp.jwks_fetches(), fetched + 1, "one fetch after it");
}

#[actix_web::test]
async fn facebook_and_amazon_access_tokens_are_checked_with_their_apis() {
    use crate::support::fake_idp::{CLIENT_ID, FakeIdp};
    let idp = FakeIdp::start().await;
    let (fb, amzn) = (format!("{}/fb", idp.base), format!("{}/amzn", idp.base));
    let app = TestApp::builder()
        .config(move |c| {
            c.facebook_graph_url = fb;
            c.amazon_api_url = amzn;
        })
        .build()
        .await;
    let api = identity_admin(&app).await;
    let public = identity_sdk(&app, None);
    let made = api
        .create_identity_pool()
        .identity_pool_name("social")
        .allow_unauthenticated_identities(false)
        .supported_login_providers("graph.facebook.com", CLIENT_ID)
        .supported_login_providers("www.amazon.com", "amzn1.application.fake")
        .send()
        .await
        .unwrap();
    let pool = made.identity_pool_id().to_string();
    let get_id = |key: &'static str, token: String| {
        public
            .get_id()
            .identity_pool_id(&pool)
            .logins(key, token)
            .send()
    };
    let fb_id = get_id("graph.facebook.com", idp.access_token_for_app())
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    assert_eq!(
        get_id("graph.facebook.com", idp.access_token_for_app())
            .await
            .unwrap()
            .identity_id(),
        Some(fb_id.as_str()),
        "the same Facebook user keeps the identity"
    );
    let amzn_id = get_id("www.amazon.com", idp.access_token_for_app())
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    assert_ne!(
        amzn_id, fb_id,
        "one login per provider: Amazon's user is another identity"
    );
    let described = api
        .describe_identity()
        .identity_id(&amzn_id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.logins(), ["www.amazon.com"]);
    for key in ["graph.facebook.com", "www.amazon.com"] {
        let forged = get_id(key, "not-a-token".into()).await;
        assert_eq!(code(forged), "NotAuthorizedException", "{key}");
    }
    // A token of another app is refused: the pool names another Facebook app.
    change_settings(&app, &pool, |s| {
        s.supported_login_providers
            .insert("graph.facebook.com".into(), "another-app".into());
    })
    .await;
    let other_app = get_id("graph.facebook.com", idp.access_token_for_app()).await;
    assert_eq!(code(other_app), "NotAuthorizedException");
}
