//! Identity pools: the CLI creates, shows, changes, lists and deletes them (the real binary,
//! both backends), refusing what Cognito refuses; identities and their logins in the store
//! (one login per provider per identity, one identity per login, merges).

use tessera::store::sql::identity_pools::{self as rows, Login};

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
        "https://token.actions.githubusercontent.com",
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
            "Rules": [{{"Claim": "cognito:groups", "MatchType": "Contains", "Value": "admins",
                        "RoleARN": "arn:aws:iam::1:role/admin"}}]}}}}"#
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
        changed["settings"]["role_mappings"][format!("{provider}:{client_id}")]["Rules"][0]["MatchType"],
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
                r#"{"k": {"Type": "Rules", "AmbiguousRoleResolution": "Deny", "Rules": []}}"#,
            ],
            "1 to 25 rules",
        ),
        (
            vec!["--user-pool", "local_Nope12345:abc"],
            "local_Nope12345",
        ),
        (vec!["--oidc-issuer", "not a url"], "issuer"),
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
