//! The application and `tessera serve`: the route table (JSON endpoints from `http`, hosted
//! pages from `ui`), and the server that opens the stores, makes sure a pool exists, keeps
//! caches fresh, and serves until Ctrl-C or SIGTERM, letting in-flight requests finish.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{App, HttpServer, Resource, Scope, middleware, web};

use crate::config::{Config, redact_url};
use crate::error::Error;
use crate::http::{MAX_BODY, cors, discovery, error as api_error, health, logging, oauth};
use crate::login::Form;
use crate::pools;
use crate::state::{AppState, Deps};
use crate::ui;

/// Builds the application: used by `serve` and by tests, which build as many as they like.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(
            web::FormConfig::default()
                .limit(MAX_BODY)
                .error_handler(api_error::form_error),
        )
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY)
                .error_handler(api_error::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(api_error::query_error))
        .app_data(web::PathConfig::default().error_handler(api_error::path_error))
        .wrap(logging::Edge)
        // The Cognito user-pool API (AWS JSON 1.1) at the root, as an SDK's endpoint URL.
        .service(resource("/", "/").route(web::post().to(crate::http::cognito::endpoint)))
        .service(resource("/healthz", "/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "/readyz").route(web::get().to(health::readyz)))
        // The identity issuer (identity pools' tokens) before the pools: `identity` is never
        // a pool id.
        .service(
            resource(
                "/identity/.well-known/openid-configuration",
                "/identity/.well-known/openid-configuration",
            )
            .route(web::get().to(discovery::identity_configuration)),
        )
        .service(
            resource(
                "/identity/.well-known/jwks.json",
                "/identity/.well-known/jwks.json",
            )
            .route(web::get().to(discovery::identity_jwks)),
        )
        .service(pool_scope())
        .default_service(web::to(api_error::not_found))
}

/// Everything under a pool's issuer, `/{pool_id}/...`: one named resource per path (the name is
/// the route label of the metrics, read back without building a string), and a method the path
/// does not take is 405.
fn pool_scope() -> Scope {
    let get = web::get;
    let post = web::post;
    let scope = web::scope("/{pool_id}")
        .service(
            resource(
                "/.well-known/openid-configuration",
                "/:pool_id/.well-known/openid-configuration",
            )
            .route(get().to(discovery::openid_configuration)),
        )
        .service(
            resource("/.well-known/jwks.json", "/:pool_id/.well-known/jwks.json")
                .route(get().to(discovery::jwks)),
        )
        .service(
            browser_callable("/oauth2/token", "/:pool_id/oauth2/token")
                .route(post().to(oauth::token_endpoint)),
        )
        .service(
            resource("/oauth2/introspect", "/:pool_id/oauth2/introspect")
                .route(post().to(oauth::introspect_endpoint)),
        )
        .service(
            browser_callable("/oauth2/revoke", "/:pool_id/oauth2/revoke")
                .route(post().to(oauth::revoke_endpoint)),
        )
        .service(
            browser_callable("/oauth2/userInfo", "/:pool_id/oauth2/userInfo")
                .route(get().to(oauth::userinfo_endpoint))
                .route(post().to(oauth::userinfo_endpoint)),
        )
        .service(
            resource("/oauth2/authorize", "/:pool_id/oauth2/authorize")
                .route(get().to(ui::authorize))
                .route(post().to(ui::authorize)),
        )
        .service(
            resource("/account", "/:pool_id/account")
                .route(get().to(ui::account))
                .route(post().to(ui::account)),
        )
        .service(
            resource("/logout", "/:pool_id/logout")
                .route(get().to(ui::logout))
                .route(post().to(ui::logout)),
        )
        .service(
            resource("/oauth2/idpresponse", "/:pool_id/oauth2/idpresponse")
                .route(get().to(ui::idp_response)),
        );
    HOSTED_FORMS
        .iter()
        .fold(scope, |scope, &(path, label, form)| {
            let page = match form {
                Form::SignUp => get().to(ui::signup_page),
                Form::Forgot => get().to(ui::forgot_page),
                _ => get().to(ui::tx_page),
            };
            scope.service(
                resource(path, label)
                    .route(post().to(ui::form_handler(form)))
                    .route(page),
            )
        })
}

/// An endpoint browser apps call (CORS): answers preflights, and allowed origins get
/// `Access-Control-Allow-Origin` on its answers.
fn browser_callable(
    path: &str,
    label: &str,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    resource(path, label)
        .route(web::route().method(Method::OPTIONS).to(cors::preflight))
        .wrap(middleware::from_fn(cors::answer))
}

/// A resource named by its route label; other methods are 405.
fn resource(path: &str, label: &str) -> Resource {
    web::resource(path)
        .name(label)
        .default_service(web::to(api_error::method_not_allowed))
}

/// The hosted forms: each path shows a page on GET (its transaction's, or the sign-up and
/// forgot-password start pages) and answers one step on POST.
const HOSTED_FORMS: &[(&str, &str, Form)] = &[
    ("/login", "/:pool_id/login", Form::Password),
    ("/newPassword", "/:pool_id/newPassword", Form::NewPassword),
    ("/signup", "/:pool_id/signup", Form::SignUp),
    ("/confirm", "/:pool_id/confirm", Form::Confirm),
    ("/forgotPassword", "/:pool_id/forgotPassword", Form::Forgot),
    (
        "/confirmForgotPassword",
        "/:pool_id/confirmForgotPassword",
        Form::Reset,
    ),
    ("/mfa", "/:pool_id/mfa", Form::Mfa),
    ("/mfaSetup", "/:pool_id/mfaSetup", Form::MfaSetup),
    ("/consent", "/:pool_id/consent", Form::Consent),
    ("/federate", "/:pool_id/federate", Form::Federate),
];

/// Starts the server and returns when it has shut down.
pub async fn serve(mut config: Config) -> Result<(), Error> {
    // Bind first: a busy port fails fast, and with port 0 the public URL gets the real port.
    let listener = std::net::TcpListener::bind(config.bind)
        .map_err(|e| Error::Startup(format!("cannot listen on {}: {e}", config.bind)))?;
    let bind = listener
        .local_addr()
        .map_err(|e| Error::Startup(format!("cannot listen on {}: {e}", config.bind)))?;
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{bind}"));
    }
    // Every thread started from here on inherits the request threads' policy: the request
    // workers and their blocking pools, and also what starts while the stores open (the
    // main runtime's blocking threads, which run the audit writer's and other background
    // SQL, the connection pool's helpers). The argon2 workers go back to the OS default.
    if let Err(e) = crate::sched::apply_to_this_thread(config.thread_scheduling) {
        tracing::warn!(error = %e, "cannot set the request threads' scheduling policy");
    }
    let (app, report) = AppState::open(config, Deps::default()).await?;
    tracing::info!(
        database = %redact_url(&app.config.database_url),
        kv = %redact_url(&app.config.redis_url),
        migrations_applied = report.applied.len(),
        "stores ready"
    );
    if let Some(p) = pools::ensure_default(&app, app.clock.now()).await? {
        tracing::info!(pool = %p.id, "created pool \"default\"");
    }
    for p in pools::list(&app).await? {
        println!(
            "pool {} ({}): issuer {}/{}",
            p.name,
            p.id,
            app.config.public_base(),
            p.id
        );
    }
    let delay = app.config.key_activation_delay_secs;
    if delay < discovery::CACHE_SECONDS {
        // A new key must be in every cached JWKS before it signs: the cache lifetime follows.
        tracing::warn!(
            key_activation_delay_secs = delay,
            "key activation delay below the JWKS cache lifetime ({} s): JWKS max-age lowered to {delay} s",
            discovery::CACHE_SECONDS
        );
    }
    let metrics = serve_metrics(&app)?;
    let refresher = tokio::spawn(refresh_caches(app.clone()));
    let housekeeper = tokio::spawn(crate::housekeeping::run_forever(app.clone()));
    let trimmer = tokio::spawn(crate::heap::return_freed_forever());
    let app_state = app.clone();
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let server = HttpServer::new(move || build_app(app_state.for_worker()))
        .workers(workers)
        .max_connections(app.config.connections_per_worker(workers))
        // A request whose client has gone (its connection read EOF) is dropped at its next
        // `.await`, as hyper does by default, rather than run to its end (actix's default):
        // the password check it queued is skipped, so a burst that gave up, or a flood that
        // never reads its answers, costs no hashing. Writes that must not be cut in two run in
        // `Background::finish`, and a sign-in attempt dropped while its check waits gives the
        // account's lockout count back (see `accounts::signin`).
        .h1_allow_half_closed(false)
        .shutdown_timeout(15)
        .listen(listener)
        .map_err(|e| Error::Startup(format!("cannot listen on {bind}: {e}")))?;
    println!(
        "listening on http://{bind} (public URL {})",
        app.config.public_base()
    );
    let result = server.run().await;
    if let Some(m) = metrics {
        m.stop(true).await;
    }
    refresher.abort();
    housekeeper.abort();
    trimmer.abort();
    // Mail queued by the last requests still goes out (bounded by the mailer's own timeout).
    if tokio::time::timeout(Duration::from_secs(15), app.background.idle())
        .await
        .is_err()
    {
        tracing::warn!("shut down with background work unfinished");
    }
    // The last requests' audit rows (one statement's write at most, each batch bounded).
    if tokio::time::timeout(Duration::from_secs(15), app.audit.flush())
        .await
        .is_err()
    {
        tracing::warn!("shut down with audit rows unwritten");
    }
    tracing::info!("shut down");
    result.map_err(|e| Error::Startup(format!("server error: {e}")))
}

/// Serves `/metrics` on `metrics_bind` (its own address, so it need not be public); `None`
/// when it is `off`.
fn serve_metrics(app: &AppState) -> Result<Option<actix_web::dev::ServerHandle>, Error> {
    let Some(addr) = app.config.metrics_addr().map_err(Error::Startup)? else {
        return Ok(None);
    };
    let cannot =
        |e: std::io::Error| Error::Startup(format!("cannot listen on {addr} for metrics: {e}"));
    let listener = std::net::TcpListener::bind(addr).map_err(cannot)?;
    let bound = listener.local_addr().map_err(cannot)?;
    let state = app.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/metrics", web::get().to(crate::http::metrics::metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .map_err(cannot)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    println!("metrics on http://{bound}/metrics");
    Ok(Some(handle))
}

/// Polls pool versions so changes made by the CLI or another instance reach this one.
async fn refresh_caches(app: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(app.config.cache_refresh_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let refreshed = app.pools.refresh(&app).await;
        let issuer = app.identity_keys.refresh(&app).await;
        if let Err(e) = &issuer {
            tracing::warn!(error = %e, "identity issuer keys refresh failed");
        }
        app.metrics
            .cache_refresh(refreshed.is_ok() && issuer.is_ok());
        match refreshed {
            Ok(r) if r.reloaded > 0 => tracing::info!(pools = r.reloaded, "reloaded changed pools"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pool cache refresh failed"),
        }
    }
}
