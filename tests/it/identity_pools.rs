//! Identity pools: the CLI creates, shows, changes, lists and deletes them (the real binary,
//! both backends), refusing what Cognito refuses; identities and their logins in the store
//! (one login per provider per identity, one identity per login, merges); `GetId`'s engine
//! with this server's user-pool ID tokens (verified, audience, server-side check, guests,
//! a guest keeping its id when it signs in, merges).

use std::collections::BTreeMap;

use tessera::identity::IdentityError;
use tessera::identity::identities::{get_id, settle, verify};
use tessera::model::identity_pool::UserPoolProvider;
use tessera::store::sql::identity_pools::{self as rows, IdentityPool, Login};

use crate::cli::Cli;
use crate::support::TestApp;

#[test]
fn identity_pools_are_managed_from_the_cli() {
    let cli = Cli::new();
    let pool = cli.ok(&["pool", "create", "--name", "users", "--json"]);
    let pool_id = pool["id"].as_str().unwrap().to_string();
    let client = cli.ok(&[
        "client",
        "create",
        "--pool",
        &pool_id,
        "--name",
        "app",
        "--public",
        "--redirect-uri",
        "https://app.example/cb",
        "--json",
    ]);
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let user_pool = format!("{pool_id}:{client_id}");
    let made = cli.ok(&[
        "identity-pool",
        "create",
        "--name",
        "app identities",
        "--allow-unauthenticated",
        "true",
        "--login-provider",
        "accounts.google.com=123.apps.googleusercontent.com",
        "--user-pool",
        &user_pool,
        "--oidc-issuer",
        "https://token.actions.githubusercontent.com=sts.amazonaws.com",
        "--developer-provider",
        "login.example",
        "--role",
        "authenticated=arn:aws:iam::1:role/auth",
        "--role",
        "unauthenticated=arn:aws:iam::1:role/guest",
        "--json",
    ]);
    let id = made["id"].as_str().unwrap().to_string();
    assert!(tessera::identity::well_formed_id(&id), "{id}");
    assert!(id.starts_with("local:"), "{id}");
    let s = &made["settings"];
    assert_eq!(s["allow_unauthenticated"], true);
    assert_eq!(s["allow_classic_flow"], false);
    let provider = s["user_pools"][0]["provider_name"].as_str().unwrap();
    assert!(provider.ends_with(&format!("/{pool_id}")), "{provider}");
    assert!(!provider.contains("://"), "{provider}");
    assert_eq!(s["user_pools"][0]["server_side_token_check"], true);

    let mappings = format!(
        r#"{{"{provider}:{client_id}": {{"Type": "Rules", "AmbiguousRoleResolution": "AuthenticatedRole",
            "RulesConfiguration": {{"Rules": [{{"Claim": "cognito:groups", "MatchType": "Contains",
                "Value": "admins", "RoleARN": "arn:aws:iam::1:role/admin"}}]}}}}}}"#
    );
    let changed = cli.ok(&[
        "identity-pool",
        "update",
        &id,
        "--role-mappings",
        &mappings,
        "--allow-classic-flow",
        "true",
        "--json",
    ]);
    assert_eq!(changed["settings"]["allow_classic_flow"], true);
    assert_eq!(changed["settings"]["allow_unauthenticated"], true, "kept");
    assert_eq!(
        changed["settings"]["role_mappings"][format!("{provider}:{client_id}")]["RulesConfiguration"]
            ["Rules"][0]["MatchType"],
        "Contains"
    );
    assert_eq!(
        cli.ok(&["identity-pool", "show", &id, "--json"])["name"],
        "app identities"
    );
    let second = cli.ok(&["identity-pool", "create", "--name", "other", "--json"]);
    let first_page = cli.ok(&["identity-pool", "list", "--limit", "1", "--json"]);
    assert_eq!(first_page.as_array().unwrap().len(), 1);
    let after = first_page[0]["id"].as_str().unwrap();
    let next = cli.ok(&["identity-pool", "list", "--after", after, "--json"]);
    assert_eq!(next.as_array().unwrap().len(), 1);
    assert_ne!(next[0]["id"], first_page[0]["id"]);

    // What Cognito refuses is refused with a message.
    let refused = [
        (
            vec!["--login-provider", "example.com=x"],
            "SupportedLoginProviders",
        ),
        (
            vec!["--role", "admin=arn"],
            "authenticated or unauthenticated",
        ),
        (vec!["--role-mappings", "{not json"], "--role-mappings"),
        (
            vec![
                "--role-mappings",
                r#"{"k": {"Type": "Rules", "AmbiguousRoleResolution": "Deny", "RulesConfiguration": {"Rules": []}}}"#,
            ],
            "1 to 25 rules",
        ),
        (
            vec!["--user-pool", "local_Nope12345:abc"],
            "local_Nope12345",
        ),
        (vec!["--oidc-issuer", "not a url=x"], "issuer"),
        (vec!["--oidc-issuer", "https://issuer.example"], "CLIENT_ID"),
        (
            vec!["--developer-provider", "other.example"],
            "cannot be changed",
        ),
    ];
    for (flags, why) in refused {
        let mut args = vec!["identity-pool", "update", id.as_str()];
        args.extend(flags.iter().copied());
        let err = cli.fails(&args, &[]);
        assert!(err.contains(why), "{flags:?}: {err}");
    }
    assert!(
        cli.fails(&["identity-pool", "create", "--name", "bad/name"], &[])
            .contains("IdentityPoolName")
    );
    cli.ok(&[
        "identity-pool",
        "delete",
        second["id"].as_str().unwrap(),
        "--json",
    ]);
    let gone = cli.fails(
        &["identity-pool", "show", second["id"].as_str().unwrap()],
        &[],
    );
    assert!(gone.contains("does not exist"), "{gone}");
    assert!(
        cli.fails(&["identity-pool", "show", "no-such-id"], &[])
            .contains("does not exist")
    );

    // The broker and principal tags, and the identity issuer's keys.
    let brokered = cli.ok(&[
        "identity-pool",
        "update",
        &id,
        "--sts-endpoint",
        "https://sts.example.com",
        "--credentials-seconds",
        "900",
        "--principal-tags",
        "login.example=team:custom:team,client:aud",
        "--json",
    ]);
    assert_eq!(
        brokered["settings"]["broker"]["sts_endpoint"],
        "https://sts.example.com"
    );
    assert_eq!(brokered["settings"]["broker"]["duration_seconds"], 900);
    assert_eq!(
        brokered["settings"]["principal_tags"]["login.example"]["tags"]["team"],
        "custom:team"
    );
    let short = cli.fails(
        &[
            "identity-pool",
            "update",
            &id,
            "--credentials-seconds",
            "60",
        ],
        &[],
    );
    assert!(short.contains("900 to 43200"), "{short}");
    let rotated = cli.ok(&["identity-pool", "keys", "rotate", "--now", "--json"]);
    let kid = rotated["kid"].as_str().unwrap().to_string();
    let listed = cli.ok(&["identity-pool", "keys", "list", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    );
    let revoked = cli.ok(&["identity-pool", "keys", "revoke", &kid, "--json"]);
    assert_eq!(revoked["kid"], kid.as_str());
    assert!(
        revoked["replaced_by"]["kid"].is_string(),
        "the signer was revoked: a new one signs"
    );
}

#[actix_web::test]
async fn an_identity_has_one_login_per_provider_and_merges_keep_every_login() {
    let app = TestApp::new().await;
    let pool = tessera::identity::create(
        &app.st,
        "ids",
        tessera::model::IdentityPoolSettings::default(),
        app.now(),
    )
    .await
    .unwrap();
    let (a, b) = (
        tessera::identity::new_id(&app.st),
        tessera::identity::new_id(&app.st),
    );
    let google = |s: &str| Login {
        provider: "accounts.google.com".into(),
        subject: s.into(),
    };
    let dev = |s: &str| Login {
        provider: "login.example".into(),
        subject: s.into(),
    };
    let (p, now) = (pool.id.clone(), app.now());
    let (a2, b2) = (a.clone(), b.clone());
    let outcome = app
        .st
        .sql
        .transaction(move |c| {
            rows::create_identity(c, &p, &a2, Some(&google("g1")), now)?;
            rows::create_identity(c, &p, &b2, Some(&dev("d1")), now)?;
            Ok(())
        })
        .await;
    outcome.unwrap();
    let (p, a2) = (pool.id.clone(), a.clone());
    // A second Google login on the same identity, or the same login on another identity: no.
    let second = app
        .st
        .sql
        .run(move |c| rows::link(c, &p, &a2, &google("g2"), now))
        .await;
    assert!(second.is_err());
    let (p, b2) = (pool.id.clone(), b.clone());
    let taken = app
        .st
        .sql
        .run(move |c| rows::link(c, &p, &b2, &google("g1"), now))
        .await;
    assert!(taken.is_err());
    let p = pool.id.clone();
    let owner = app
        .st
        .sql
        .run(move |c| rows::owner_of(c, &p, &dev("d1")))
        .await
        .unwrap();
    assert_eq!(owner.as_deref(), Some(b.as_str()));
    // Merging b into a keeps both logins on a; b is gone.
    let (p, a2, b2) = (pool.id.clone(), a.clone(), b.clone());
    app.st
        .sql
        .transaction(move |c| rows::merge(c, &p, &b2, &a2, now))
        .await
        .unwrap();
    let (p, a2) = (pool.id.clone(), a.clone());
    let merged = app
        .st
        .sql
        .run(move |c| rows::find_identity(c, &p, &a2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merged.logins, vec![google("g1"), dev("d1")]);
    let (p, b2) = (pool.id.clone(), b.clone());
    let gone = app
        .st
        .sql
        .run(move |c| rows::find_identity(c, &p, &b2))
        .await
        .unwrap();
    assert!(gone.is_none());
    // Deleting the pool takes its identities and logins along.
    tessera::identity::delete(&app.st, &pool.id).await.unwrap();
    let p = pool.id.clone();
    let left = app
        .st
        .sql
        .run(move |c| rows::owner_of(c, &p, &google("g1")))
        .await
        .unwrap();
    assert!(left.is_none());
}

/// An identity pool trusting `client_id` of the test pool.
async fn trusting(app: &TestApp, client_id: &str, guests: bool) -> (IdentityPool, String) {
    let key = app
        .issuer()
        .split_once("://")
        .map(|(_, rest)| rest.to_string())
        .unwrap();
    let settings = tessera::model::IdentityPoolSettings {
        allow_unauthenticated: guests,
        user_pools: vec![UserPoolProvider {
            provider_name: key.clone(),
            client_id: client_id.to_string(),
            server_side_token_check: true,
        }],
        ..Default::default()
    };
    let pool = tessera::identity::create(&app.st, "ids", settings, app.now())
        .await
        .unwrap();
    (pool, key)
}

#[actix_web::test]
async fn get_id_finds_one_stable_identity_per_verified_login() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    app.user("bob", "bob@example.com").await;
    let (cid, _) = crate::cognito_api::client(&app, true, crate::cognito_api::FLOWS).await;
    let (other, _) = crate::cognito_api::client(&app, true, crate::cognito_api::FLOWS).await;
    let api = crate::cognito_api::sdk(&app, None);
    let id_token = |client: String, who: &'static str| {
        let api = api.clone();
        async move {
            crate::cognito_admin::password_sign_in(&api, &client, who)
                .await
                .id_token()
                .unwrap()
                .to_string()
        }
    };
    let (pool, key) = trusting(&app, &cid, false).await;
    let get = |token: String| {
        let logins: BTreeMap<String, String> = [(key.clone(), token)].into();
        let (st, pool, now) = (&app.st, &pool, app.now());
        async move { get_id(st, pool, &logins, now).await }
    };
    let alice = id_token(cid.clone(), "alice").await;
    let first = get(alice.clone()).await.unwrap();
    assert!(tessera::identity::well_formed_id(&first));
    assert_eq!(
        get(id_token(cid.clone(), "alice").await).await.unwrap(),
        first
    );
    let bob = get(id_token(cid.clone(), "bob").await).await.unwrap();
    assert_ne!(bob, first);

    // Refused: a token for a client the pool does not trust, a forged one, an unknown
    // provider, no login in a pool without guests.
    let refused = |r: Result<String, IdentityError>| match r {
        Err(IdentityError::NotAuthorized(m)) => m,
        other => panic!("expected NotAuthorized, got {other:?}"),
    };
    let m = refused(get(id_token(other.clone(), "alice").await).await);
    assert!(m.contains("audience"), "{m}");
    let mut forged = alice.clone();
    forged.pop();
    refused(get(forged).await);
    let stranger: BTreeMap<String, String> =
        [("accounts.google.com".to_string(), alice.clone())].into();
    let m = refused(get_id(&app.st, &pool, &stranger, app.now()).await);
    assert!(m.contains("not from a supported provider"), "{m}");
    refused(get_id(&app.st, &pool, &BTreeMap::new(), app.now()).await);

    // ServerSideTokenCheck: after a global sign-out the same (unexpired) token is refused.
    let access = crate::cognito_admin::password_sign_in(&api, &cid, "alice").await;
    api.global_sign_out()
        .access_token(access.access_token().unwrap())
        .send()
        .await
        .unwrap();
    let m = refused(get(alice).await);
    assert!(m.contains("signed out"), "{m}");
}

#[actix_web::test]
async fn a_guest_who_signs_in_keeps_an_identity_and_a_second_owner_merges() {
    let app = TestApp::new().await;
    app.user("alice", "alice@example.com").await;
    let (cid, _) = crate::cognito_api::client(&app, true, crate::cognito_api::FLOWS).await;
    let api = crate::cognito_api::sdk(&app, None);
    let (pool, key) = trusting(&app, &cid, true).await;
    let guest = get_id(&app.st, &pool, &BTreeMap::new(), app.now())
        .await
        .unwrap();
    let another_guest = get_id(&app.st, &pool, &BTreeMap::new(), app.now())
        .await
        .unwrap();
    assert_ne!(guest, another_guest);
    let token = crate::cognito_admin::password_sign_in(&api, &cid, "alice")
        .await
        .id_token()
        .unwrap()
        .to_string();
    let logins: BTreeMap<String, String> = [(key, token)].into();
    let verified = verify(&app.st, &pool, &logins, app.now()).await.unwrap();
    // The cached guest id gains the login: the same identity, now authenticated.
    let kept = settle(&app.st, &pool, Some(&guest), &verified, false, app.now())
        .await
        .unwrap();
    assert_eq!(kept, guest);
    assert_eq!(
        get_id(&app.st, &pool, &logins, app.now()).await.unwrap(),
        guest
    );
    // Another guest presenting the same login merges into the login's identity.
    let merged = settle(
        &app.st,
        &pool,
        Some(&another_guest),
        &verified,
        false,
        app.now(),
    )
    .await
    .unwrap();
    assert_eq!(merged, guest);
    let (p, g) = (pool.id.clone(), another_guest.clone());
    let gone = app
        .st
        .sql
        .run(move |c| rows::find_identity(c, &p, &g))
        .await
        .unwrap();
    assert!(gone.is_none(), "the merged identity is gone");
    let unknown = settle(
        &app.st,
        &pool,
        Some("local:0000"),
        &verified,
        false,
        app.now(),
    )
    .await;
    assert!(
        matches!(unknown, Err(IdentityError::NoIdentity(_))),
        "{unknown:?}"
    );
}
