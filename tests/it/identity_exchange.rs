//! RFC 8693 token exchange at a user pool's token endpoint into an identity pool: each subject
//! token type (an ID token, a JWT, a social access token with `subject_issuer`) and each error.

use serde_json::Value;
use tessera::clients::ClientSpec;
use tessera::model::client::GrantType;

use crate::cognito_admin::password_sign_in;
use crate::cognito_api::{FLOWS, client};
use crate::identity_api::{identity_admin, identity_sdk, provider_name};
use crate::identity_tokens::change_settings;
use crate::identity_tokens::{ADMIN_ROLE, pool_for, verified};
use crate::support::TestApp;
use crate::support::fake_idp::{CLIENT_ID, FakeIdp};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A client of the test pool that may exchange tokens (and sign in through the API).
async fn exchanging_client(app: &TestApp) -> String {
    let spec = ClientSpec {
        name: "exchanger".into(),
        public: true,
        redirect_uris: vec!["https://app.example/cb".into()],
        explicit_auth_flows: FLOWS.iter().map(|f| f.to_string()).collect(),
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ],
        ..Default::default()
    };
    tessera::clients::create(&app.st, &app.pool.id, spec, app.now())
        .await
        .unwrap()
        .client
        .client_id
        .to_string()
}

#[actix_web::test]
async fn rfc8693_exchanges_a_trusted_token_for_the_identity_token() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let cid = exchanging_client(&app).await;
    let (plain, _) = client(&app, true, FLOWS).await;
    let api = identity_admin(&app).await;
    let pool = pool_for(&app, &api, &cid).await;
    let token = password_sign_in(&crate::cognito_api::sdk(&app, None), &cid, "alice")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let endpoint = format!("{}/oauth2/token", app.issuer());
    let exchange = |client_id: String, extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_string(),
            ),
            ("client_id", client_id),
            ("subject_token", token.clone()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token".to_string(),
            ),
            ("audience", pool.clone()),
        ];
        for (k, v) in extra {
            form.retain(|(name, _)| *name != k);
            if !v.is_empty() {
                form.push((k, v));
            }
        }
        let req = app.http.post(&endpoint).form(&form);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = exchange(cid.clone(), vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:id_token"
    );
    assert_eq!(body["token_type"], "N_A");
    assert_eq!(body["expires_in"], 600);
    let c = verified(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(c["aud"], pool.as_str());
    assert_eq!(c["role"], ADMIN_ROLE);
    let same = identity_sdk(&app, None)
        .get_id()
        .identity_pool_id(&pool)
        .logins(provider_name(&app), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        same.identity_id(),
        c["sub"].as_str(),
        "one identity, either door"
    );

    let error = |r: (u16, Value)| (r.0, r.1["error"].as_str().unwrap_or("").to_string());
    assert_eq!(
        error(exchange(plain.clone(), vec![]).await),
        (400, "unauthorized_client".into())
    );
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (
            vec![(
                "audience",
                "local:00000000-0000-4000-8000-000000000000".into(),
            )],
            "invalid_target",
        ),
        (vec![("audience", String::new())], "invalid_request"),
        (
            vec![("subject_token", format!("{token}x"))],
            "invalid_grant",
        ),
        (vec![("subject_token", "not-a-jwt".into())], "invalid_grant"),
        (
            vec![("subject_token_type", "urn:x".into())],
            "invalid_request",
        ),
        (vec![("actor_token", token.clone())], "invalid_request"),
        (
            vec![("resource", "https://api.example".into())],
            "invalid_target",
        ),
        (
            vec![(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token".into(),
            )],
            "invalid_request",
        ),
    ];
    for (extra, want) in cases {
        let shown = format!("{extra:?}");
        let (status, got) = error(exchange(cid.clone(), extra).await);
        assert_eq!((status, got.as_str()), (400, want), "{shown}");
    }
    // An identity pool that does not list this client does not take its exchanges.
    let other = pool_for(&app, &api, &plain).await;
    let (status, got) = error(exchange(cid.clone(), vec![("audience", other)]).await);
    assert_eq!((status, got.as_str()), (400, "invalid_target"));
    let discovery: Value = app
        .get(&format!(
            "/{}/.well-known/openid-configuration",
            app.pool.id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "urn:ietf:params:oauth:grant-type:token-exchange")
    );
}

/// One exchange by `client_id` with `form` (grant type and client added).
async fn exchange(app: &TestApp, client_id: &str, form: &[(&str, String)]) -> (u16, Value) {
    let mut all = vec![
        ("grant_type", GRANT.to_string()),
        ("client_id", client_id.to_string()),
    ];
    all.extend(form.iter().cloned());
    let res = app
        .http
        .post(format!("{}/oauth2/token", app.issuer()))
        .form(&all)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[actix_web::test]
async fn a_jwt_or_a_social_access_token_can_be_the_subject() {
    use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
    let idp = FakeIdp::start().await;
    let fb = format!("{}/fb", idp.base);
    let app = TestApp::builder()
        .config(move |c| c.facebook_graph_url = fb)
        .build()
        .await;
    let cid = exchanging_client(&app).await;
    let api = identity_admin(&app).await;
    let pool = api
        .create_identity_pool()
        .identity_pool_name("exchange")
        .allow_unauthenticated_identities(false)
        .allow_classic_flow(true)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(provider_name(&app))
                .client_id(&cid)
                .build(),
        )
        .supported_login_providers("graph.facebook.com", CLIENT_ID)
        .open_id_connect_provider_arns(idp.issuer())
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_string();
    change_settings(&app, &pool, |s| {
        s.openid_audiences
            .insert(idp.issuer(), vec![CLIENT_ID.to_string()]);
    })
    .await;

    let (status, body) = exchange(
        &app,
        &cid,
        &[
            ("subject_token", idp.id_token_for_app()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:jwt".into(),
            ),
            ("audience", pool.clone()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let c = verified(&app, body["access_token"].as_str().unwrap()).await;
    let key = idp.issuer().split_once("://").unwrap().1.to_string();
    assert_eq!(c["login_provider"], key.as_str());

    let social = |issuer: Option<&str>| {
        let mut form = vec![
            ("subject_token", idp.access_token_for_app()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token".to_string(),
            ),
            ("audience", pool.clone()),
        ];
        if let Some(i) = issuer {
            form.push(("subject_issuer", i.to_string()));
        }
        form
    };
    let (status, body) = exchange(&app, &cid, &social(Some("graph.facebook.com"))).await;
    assert_eq!(status, 200, "{body}");
    let c = verified(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(c["login_provider"], "graph.facebook.com");
    let by_api = identity_sdk(&app, None)
        .get_id()
        .identity_pool_id(&pool)
        .logins("graph.facebook.com", idp.access_token_for_app())
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_api.identity_id(),
        c["sub"].as_str(),
        "one identity, either door"
    );
    let (status, body) = exchange(&app, &cid, &social(None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = exchange(&app, &cid, &social(Some("www.amazon.com"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
}
