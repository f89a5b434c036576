//! The application and `tessera serve`: the route table (JSON endpoints from `http`, hosted
//! pages from `ui`), and the server that opens the stores, makes sure a pool exists, keeps
//! caches fresh, and serves until Ctrl-C or SIGTERM, letting in-flight requests finish.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, Scope, middleware, web};

use crate::config::{Config, redact_url};
use crate::error::Error;
use crate::http::{MAX_BODY, discovery, error as api_error, health, logging, oauth};
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
    // Served over https (the public URL says so): browsers must never use plain http again.
    let https = state.config.public_base().starts_with("https://");
    let hsts = middleware::DefaultHeaders::new().add((
        "Strict-Transport-Security",
        "max-age=63072000; includeSubDomains",
    ));
    App::new()
        .wrap(middleware::Condition::new(https, hsts))
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
        .wrap(actix_web::middleware::from_fn(logging::log_request))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(pool_scope())
        .default_service(web::to(api_error::not_found))
}

/// Everything under a pool's issuer, `/{pool_id}/...`.
fn pool_scope() -> Scope {
    let scope = web::scope("/{pool_id}")
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::openid_configuration),
        )
        .route("/.well-known/jwks.json", web::get().to(discovery::jwks))
        .route("/oauth2/token", web::post().to(oauth::token_endpoint))
        .route(
            "/oauth2/introspect",
            web::post().to(oauth::introspect_endpoint),
        )
        .route("/oauth2/revoke", web::post().to(oauth::revoke_endpoint))
        .route("/oauth2/userInfo", web::get().to(oauth::userinfo_endpoint))
        .route("/oauth2/userInfo", web::post().to(oauth::userinfo_endpoint))
        .route("/oauth2/authorize", web::get().to(ui::authorize))
        .route("/oauth2/authorize", web::post().to(ui::authorize))
        .route("/signup", web::get().to(ui::signup_page))
        .route("/forgotPassword", web::get().to(ui::forgot_page))
        .route("/account", web::get().to(ui::account))
        .route("/account", web::post().to(ui::account))
        .route("/logout", web::get().to(ui::logout))
        .route("/logout", web::post().to(ui::logout))
        .route("/oauth2/idpresponse", web::get().to(ui::idp_response));
    let scope = HOSTED_FORMS.iter().fold(scope, |scope, &(path, form)| {
        scope
            .route(path, web::post().to(ui::form_handler(form)))
            .route(path, web::get().to(ui::tx_page))
    });
    // Anything else on a known path is 405 (an unknown path falls through to 404).
    KNOWN_PATHS.iter().fold(scope, |scope, path| {
        scope.route(path, web::route().to(api_error::method_not_allowed))
    })
}

/// The hosted forms: each path shows its transaction's page on GET and answers one step on
/// POST (`/signup` and `/forgotPassword` have their own GET pages, registered first).
const HOSTED_FORMS: &[(&str, Form)] = &[
    ("/login", Form::Password),
    ("/newPassword", Form::NewPassword),
    ("/signup", Form::SignUp),
    ("/confirm", Form::Confirm),
    ("/forgotPassword", Form::Forgot),
    ("/confirmForgotPassword", Form::Reset),
    ("/mfa", Form::Mfa),
    ("/mfaSetup", Form::MfaSetup),
    ("/consent", Form::Consent),
    ("/federate", Form::Federate),
];

const KNOWN_PATHS: &[&str] = &[
    "/oauth2/token",
    "/oauth2/introspect",
    "/oauth2/revoke",
    "/oauth2/userInfo",
    "/oauth2/authorize",
    "/login",
    "/newPassword",
    "/signup",
    "/forgotPassword",
    "/confirmForgotPassword",
    "/confirm",
    "/consent",
    "/account",
    "/mfa",
    "/mfaSetup",
    "/logout",
    "/federate",
    "/oauth2/idpresponse",
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
    let metrics = serve_metrics(&app)?;
    let refresher = tokio::spawn(refresh_caches(app.clone()));
    let housekeeper = tokio::spawn(crate::housekeeping::run_forever(app.clone()));
    let app_state = app.clone();
    let server = HttpServer::new(move || build_app(app_state.clone()))
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
    // Mail queued by the last requests still goes out (bounded by the mailer's own timeout).
    if tokio::time::timeout(Duration::from_secs(15), app.background.idle())
        .await
        .is_err()
    {
        tracing::warn!("shut down with background work unfinished");
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
        app.metrics.cache_refresh(refreshed.is_ok());
        match refreshed {
            Ok(r) if r.reloaded > 0 => tracing::info!(pools = r.reloaded, "reloaded changed pools"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pool cache refresh failed"),
        }
    }
}
