//! The Cognito user-pool API driven by the official AWS SDK for Rust (endpoint pointed at the
//! test server, SigV4 with keys from `access_keys::create`): sign-up and confirmation,
//! password sign-in and refresh, SECRET_HASH, MFA and new-password challenges, GetUser and
//! GlobalSignOut, the admin lifecycle, ListUsers, and the signature checks.

use aws_sdk_cognitoidentityprovider as cip;
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, ChallengeNameType};
use base64::Engine;
use hmac::Mac;
use tessera::clients::ClientSpec;
use tessera::model::MfaMode;

use crate::support::TestApp;
use crate::support::rp::PASSWORD;

pub(crate) fn sdk(app: &TestApp, key: Option<(&str, &str)>) -> cip::Client {
    let (id, secret) = key.unwrap_or(("AKIAUNSIGNEDTEST0000", "unused"));
    let conf = cip::Config::builder()
        .behavior_version(cip::config::BehaviorVersion::latest())
        .region(cip::config::Region::new("local"))
        .endpoint_url(&app.base)
        .credentials_provider(cip::config::Credentials::new(
            id, secret, None, None, "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    cip::Client::from_conf(conf)
}

/// An admin SDK client with a fresh access key.
pub(crate) async fn admin(app: &TestApp) -> cip::Client {
    let k = tessera::cognito::access_keys::create(&app.st, "tests", app.now())
        .await
        .unwrap();
    let secret = k.secret_access_key.expose().to_string();
    sdk(app, Some((&k.key.access_key_id, &secret)))
}

pub(crate) async fn client(
    app: &TestApp,
    public: bool,
    flows: &[&str],
) -> (String, Option<String>) {
    let spec = ClientSpec {
        name: "api".into(),
        public,
        redirect_uris: vec!["https://app.example/cb".into()],
        explicit_auth_flows: flows.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    };
    let c = tessera::clients::create(&app.st, &app.pool.id, spec, app.now())
        .await
        .unwrap();
    (
        c.client.client_id.to_string(),
        c.client_secret.map(|s| s.expose().to_string()),
    )
}

pub(crate) fn code<E: ProvideErrorMetadata, R>(
    r: Result<impl std::fmt::Debug, cip::error::SdkError<E, R>>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

pub(crate) fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(username.as_bytes());
    m.update(client_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

pub(crate) const FLOWS: &[&str] = &["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"];

#[actix_web::test]
async fn sign_up_confirm_sign_in_refresh_and_global_sign_out() {
    let app = TestApp::new().await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let email = AttributeType::builder()
        .name("email")
        .value("bo@example.com")
        .build()
        .unwrap();
    let up = api
        .sign_up()
        .client_id(&cid)
        .username("bo")
        .password(PASSWORD)
        .user_attributes(email)
        .send()
        .await
        .unwrap();
    assert!(!up.user_confirmed());
    assert_eq!(
        up.code_delivery_details().unwrap().attribute_name(),
        Some("email")
    );
    let password_auth = || {
        api.initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", "bo")
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
    };
    assert_eq!(code(password_auth().await), "UserNotConfirmedException");
    let wrong = api
        .confirm_sign_up()
        .client_id(&cid)
        .username("bo")
        .confirmation_code("000000")
        .send()
        .await;
    assert_eq!(code(wrong), "CodeMismatchException");
    let sent = app.last_code("bo@example.com").await.unwrap();
    api.confirm_sign_up()
        .client_id(&cid)
        .username("bo")
        .confirmation_code(sent)
        .send()
        .await
        .unwrap();
    let dup = api
        .sign_up()
        .client_id(&cid)
        .username("bo")
        .password(PASSWORD)
        .send()
        .await;
    assert_eq!(code(dup), "UsernameExistsException");

    let result = password_auth().await.unwrap();
    let tokens = result.authentication_result().unwrap();
    let access = tokens.access_token().unwrap().to_string();
    assert!(tokens.id_token().is_some());
    let me = api.get_user().access_token(&access).send().await.unwrap();
    assert_eq!(me.username(), "bo");
    assert!(
        me.user_attributes()
            .iter()
            .any(|a| a.name() == "email" && a.value() == Some("bo@example.com"))
    );

    let bad = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "bo")
        .auth_parameters("PASSWORD", "not the password")
        .send()
        .await;
    assert_eq!(code(bad), "NotAuthorizedException");

    let refreshed = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .auth_parameters("REFRESH_TOKEN", tokens.refresh_token().unwrap())
        .send()
        .await
        .unwrap();
    let new_access = refreshed
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap()
        .to_string();
    api.get_user()
        .access_token(&new_access)
        .send()
        .await
        .unwrap();

    // The clock moves on a second: the sign-out covers tokens issued up to now.
    app.clock.advance(chrono::TimeDelta::seconds(1));
    api.global_sign_out()
        .access_token(&new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(api.get_user().access_token(&access).send().await),
        "NotAuthorizedException"
    );
    let userinfo = app
        .http
        .get(format!("{}/oauth2/userInfo", app.issuer()))
        .bearer_auth(&new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    let again = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .auth_parameters(
            "REFRESH_TOKEN",
            refreshed
                .authentication_result()
                .unwrap()
                .refresh_token()
                .unwrap(),
        )
        .send()
        .await;
    assert_eq!(code(again), "NotAuthorizedException");
    // A flow the client did not enable.
    let (srp_only, _) = client(&app, true, &["ALLOW_USER_SRP_AUTH"]).await;
    let off = api
        .initiate_auth()
        .client_id(&srp_only)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "bo")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await;
    assert_eq!(code(off), "InvalidParameterException");
}

#[actix_web::test]
async fn a_client_with_a_secret_needs_the_secret_hash() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, secret) = client(&app, false, FLOWS).await;
    let secret = secret.unwrap();
    assert!(
        secret.chars().all(|c| c.is_ascii_alphanumeric()),
        "{secret}"
    );
    let api = sdk(&app, None);
    let auth = |hash: Option<String>| {
        let mut r = api
            .initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", "alice")
            .auth_parameters("PASSWORD", PASSWORD);
        if let Some(h) = hash {
            r = r.auth_parameters("SECRET_HASH", h);
        }
        r.send()
    };
    assert_eq!(code(auth(None).await), "NotAuthorizedException");
    assert_eq!(
        code(auth(Some(secret_hash("wrong", "alice", &cid))).await),
        "NotAuthorizedException"
    );
    let ok = auth(Some(secret_hash(&secret, "alice", &cid)))
        .await
        .unwrap();
    assert!(ok.authentication_result().unwrap().access_token().is_some());
    // A rotated secret replaces the old one at once.
    let rotated = tessera::clients::rotate_secret(&app.st, &app.pool.id, &cid, app.now())
        .await
        .unwrap();
    let fresh = rotated.client_secret.unwrap().expose().to_string();
    assert_ne!(fresh, secret);
    assert_eq!(
        code(auth(Some(secret_hash(&secret, "alice", &cid))).await),
        "NotAuthorizedException"
    );
    auth(Some(secret_hash(&fresh, "alice", &cid)))
        .await
        .unwrap();
    let missing = api
        .initiate_auth()
        .client_id("nosuchclient")
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .send()
        .await;
    assert_eq!(code(missing), "ResourceNotFoundException");
}

#[actix_web::test]
async fn an_enrolled_user_answers_the_software_token_challenge() {
    let mut app = TestApp::new().await;
    app.settings(|s| s.mfa = MfaMode::Optional).await;
    let alice = app.user("alice", "alice@example.com").await;
    let pool = app.pool.id.clone();
    let e =
        tessera::mfa::begin_enrollment(&app.st, &pool, "p", alice.sub.as_str(), "alice", app.now())
            .await
            .unwrap();
    let first = tessera::mfa::code_at(&e.secret_base32, app.now()).unwrap();
    tessera::mfa::confirm_enrollment(&app.st, &pool, alice.sub.as_str(), &first, app.now())
        .await
        .unwrap();
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let start = || {
        api.initiate_auth()
            .client_id(&cid)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", "alice")
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
    };
    let c = start().await.unwrap();
    assert_eq!(
        c.challenge_name(),
        Some(&ChallengeNameType::SoftwareTokenMfa)
    );
    assert!(c.authentication_result().is_none());
    let respond = |session: String, code: String| {
        api.respond_to_auth_challenge()
            .client_id(&cid)
            .challenge_name(ChallengeNameType::SoftwareTokenMfa)
            .session(session)
            .challenge_responses("USERNAME", "alice")
            .challenge_responses("SOFTWARE_TOKEN_MFA_CODE", code)
            .send()
    };
    let wrong = respond(c.session().unwrap().to_string(), "000000".into()).await;
    assert_eq!(code(wrong), "CodeMismatchException");
    // A session is used once, right or wrong.
    let now_code = tessera::mfa::code_at(&e.secret_base32, app.now()).unwrap();
    let reused = respond(c.session().unwrap().to_string(), now_code.clone()).await;
    assert_eq!(code(reused), "NotAuthorizedException");
    let c = start().await.unwrap();
    let done = respond(c.session().unwrap().to_string(), now_code)
        .await
        .unwrap();
    assert!(done.authentication_result().unwrap().id_token().is_some());
}

#[actix_web::test]
async fn admin_calls_need_a_valid_signature() {
    let app = TestApp::new().await;
    let pool = app.pool.id.to_string();
    let get = |api: cip::Client| {
        let pool = pool.clone();
        async move {
            api.admin_get_user()
                .user_pool_id(pool)
                .username("nobody")
                .send()
                .await
        }
    };
    assert_eq!(
        code(get(sdk(&app, None)).await),
        "UnrecognizedClientException"
    );
    let k = tessera::cognito::access_keys::create(&app.st, "t", app.now())
        .await
        .unwrap();
    let wrong = sdk(&app, Some((&k.key.access_key_id, "not the secret")));
    assert_eq!(code(get(wrong).await), "InvalidSignatureException");
    let right = sdk(
        &app,
        Some((&k.key.access_key_id, k.secret_access_key.expose())),
    );
    assert_eq!(code(get(right).await), "UserNotFoundException");
    // Unsigned: a plain POST without Authorization.
    let res = app
        .http
        .post(&app.base)
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.AdminGetUser",
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(format!(r#"{{"UserPoolId":"{pool}","Username":"x"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    // Unknown operation and a body that is not JSON: Cognito's errors, not a 500.
    for (target, body, kind) in [
        (
            "AWSCognitoIdentityProviderService.Frobnicate",
            "{}",
            "UnknownOperationException",
        ),
        (
            "AWSCognitoIdentityProviderService.SignUp",
            "not json",
            "SerializationException",
        ),
        (
            "AWSCognitoIdentityProviderService.SignUp",
            "{}",
            "InvalidParameterException",
        ),
    ] {
        let res = app
            .http
            .post(&app.base)
            .header("x-amz-target", target)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{target}");
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["__type"], kind, "{v}");
    }
}

#[actix_web::test]
async fn the_admin_lifecycle_and_list_users() {
    let app = TestApp::new().await;
    let api = admin(&app).await;
    let pool = app.pool.id.to_string();
    let (cid, _) = client(&app, true, &["ALLOW_ADMIN_USER_PASSWORD_AUTH"]).await;
    let created = api
        .admin_create_user()
        .user_pool_id(&pool)
        .username("carol")
        .temporary_password("Temporary-pass-1")
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value("carol@example.com")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.user().unwrap().user_status().unwrap().as_str(),
        "FORCE_CHANGE_PASSWORD"
    );
    assert!(
        app.mails()
            .await
            .iter()
            .any(|m| m.to == "carol@example.com")
    );
    let again = api
        .admin_create_user()
        .user_pool_id(&pool)
        .username("carol")
        .send()
        .await;
    assert_eq!(code(again), "UsernameExistsException");
    let start = |pw: &'static str| {
        api.admin_initiate_auth()
            .user_pool_id(&pool)
            .client_id(&cid)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", "carol")
            .auth_parameters("PASSWORD", pw)
            .send()
    };
    let c = start("Temporary-pass-1").await.unwrap();
    assert_eq!(
        c.challenge_name(),
        Some(&ChallengeNameType::NewPasswordRequired)
    );
    let done = api
        .respond_to_auth_challenge()
        .client_id(&cid)
        .challenge_name(ChallengeNameType::NewPasswordRequired)
        .session(c.session().unwrap())
        .challenge_responses("USERNAME", "carol")
        .challenge_responses("NEW_PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap();
    assert!(
        done.authentication_result()
            .unwrap()
            .access_token()
            .is_some()
    );
    let got = api
        .admin_get_user()
        .user_pool_id(&pool)
        .username("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(got.user_status().unwrap().as_str(), "CONFIRMED");
    api.admin_disable_user()
        .user_pool_id(&pool)
        .username("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(code(start(PASSWORD).await), "NotAuthorizedException");
    api.admin_enable_user()
        .user_pool_id(&pool)
        .username("carol")
        .send()
        .await
        .unwrap();
    start(PASSWORD).await.unwrap();

    for name in ["dave", "dan", "erin"] {
        api.admin_create_user()
            .user_pool_id(&pool)
            .username(name)
            .message_action(cip::types::MessageActionType::Suppress)
            .send()
            .await
            .unwrap();
    }
    let d = api
        .list_users()
        .user_pool_id(&pool)
        .filter("username ^= \"da\"")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = d.users().iter().filter_map(|u| u.username()).collect();
    assert_eq!(names, ["dan", "dave"]);
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = api
            .list_users()
            .user_pool_id(&pool)
            .limit(2)
            .set_pagination_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.users().len() <= 2);
        seen.extend(
            page.users()
                .iter()
                .filter_map(|u| u.username().map(str::to_string)),
        );
        token = page.pagination_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["carol", "dan", "dave", "erin"]);
    let bad = api
        .list_users()
        .user_pool_id(&pool)
        .filter("shoe_size = \"9\"")
        .send()
        .await;
    assert_eq!(code(bad), "InvalidParameterException");
    api.admin_delete_user()
        .user_pool_id(&pool)
        .username("erin")
        .send()
        .await
        .unwrap();
    let gone = api
        .admin_get_user()
        .user_pool_id(&pool)
        .username("erin")
        .send()
        .await;
    assert_eq!(code(gone), "UserNotFoundException");
    let no_pool = api
        .list_users()
        .user_pool_id("local_NoSuchPoo")
        .send()
        .await;
    assert_eq!(code(no_pool), "ResourceNotFoundException");

    // An administrator's reset: RESET_REQUIRED, a code mailed, the password no longer works.
    api.admin_reset_user_password()
        .user_pool_id(&pool)
        .username("carol")
        .send()
        .await
        .unwrap();
    assert!(app.last_code("carol@example.com").await.is_some());
    assert_eq!(
        code(start(PASSWORD).await),
        "PasswordResetRequiredException"
    );
    let no_mail = api
        .admin_reset_user_password()
        .user_pool_id(&pool)
        .username("dan")
        .send()
        .await;
    assert_eq!(code(no_mail), "InvalidParameterException");
    api.admin_update_user_attributes()
        .user_pool_id(&pool)
        .username("dan")
        .user_attributes(
            AttributeType::builder()
                .name("given_name")
                .value("Dan")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dan = api
        .admin_get_user()
        .user_pool_id(&pool)
        .username("dan")
        .send()
        .await
        .unwrap();
    assert!(
        dan.user_attributes()
            .iter()
            .any(|a| a.name() == "given_name" && a.value() == Some("Dan"))
    );
    api.admin_delete_user_attributes()
        .user_pool_id(&pool)
        .username("dan")
        .user_attribute_names("given_name")
        .send()
        .await
        .unwrap();
    let dan = api
        .admin_get_user()
        .user_pool_id(&pool)
        .username("dan")
        .send()
        .await
        .unwrap();
    assert!(
        !dan.user_attributes()
            .iter()
            .any(|a| a.name() == "given_name")
    );
}

#[actix_web::test]
async fn a_user_deletes_an_attribute_and_then_their_account() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let signed_in = api
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
    api.delete_user_attributes()
        .access_token(&access)
        .user_attribute_names("given_name")
        .send()
        .await
        .unwrap();
    let me = api.get_user().access_token(&access).send().await.unwrap();
    assert!(
        !me.user_attributes()
            .iter()
            .any(|a| a.name() == "given_name")
    );
    api.delete_user()
        .access_token(&access)
        .send()
        .await
        .unwrap();
    assert!(
        tessera::accounts::find(&app.st, &app.pool.id, "alice")
            .await
            .is_err()
    );
    assert_eq!(
        code(api.get_user().access_token(&access).send().await),
        "NotAuthorizedException"
    );
}

#[actix_web::test]
async fn forgot_password_and_confirm() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = client(&app, true, FLOWS).await;
    let api = sdk(&app, None);
    let sent = api
        .forgot_password()
        .client_id(&cid)
        .username("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.code_delivery_details()
            .unwrap()
            .delivery_medium()
            .unwrap()
            .as_str(),
        "EMAIL"
    );
    let code_sent = app.last_code("alice@example.com").await.unwrap();
    let wrong = api
        .confirm_forgot_password()
        .client_id(&cid)
        .username("alice")
        .confirmation_code("000000")
        .password("Another-pass-2")
        .send()
        .await;
    assert_eq!(code(wrong), "CodeMismatchException");
    api.confirm_forgot_password()
        .client_id(&cid)
        .username("alice")
        .confirmation_code(code_sent)
        .password("Another-pass-2")
        .send()
        .await
        .unwrap();
    let ok = api
        .initiate_auth()
        .client_id(&cid)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", "Another-pass-2")
        .send()
        .await
        .unwrap();
    assert!(ok.authentication_result().is_some());
    // An unknown user gets the same kind of answer (no user enumeration).
    api.forgot_password()
        .client_id(&cid)
        .username("nobody")
        .send()
        .await
        .unwrap();
}
