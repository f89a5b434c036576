//! `tessera serve`: open the stores, make sure a pool exists, keep caches fresh, serve HTTP
//! until Ctrl-C or SIGTERM, letting in-flight requests finish.

use std::time::Duration;

use actix_web::HttpServer;

use crate::config::{Config, redact_url};
use crate::error::Error;
use crate::http::build_app;
use crate::pools;
use crate::state::{AppState, Deps};

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
    let (st, report) = AppState::open(config, Deps::default()).await?;
    tracing::info!(
        database = %redact_url(&st.config.database_url),
        kv = %redact_url(&st.config.redis_url),
        migrations_applied = report.applied.len(),
        "stores ready"
    );
    if let Some(p) = pools::ensure_default(&st, st.clock.now()).await? {
        tracing::info!(pool = %p.id, "created pool \"default\"");
    }
    for p in pools::list(&st).await? {
        println!(
            "pool {} ({}): issuer {}/{}",
            p.name,
            p.id,
            st.config.public_base(),
            p.id
        );
    }
    let refresher = tokio::spawn(refresh_caches(st.clone()));
    let app_state = st.clone();
    let server = HttpServer::new(move || build_app(app_state.clone()))
        .shutdown_timeout(15)
        .listen(listener)
        .map_err(|e| Error::Startup(format!("cannot listen on {bind}: {e}")))?;
    println!(
        "listening on http://{bind} (public URL {})",
        st.config.public_base()
    );
    let result = server.run().await;
    refresher.abort();
    tracing::info!("shut down");
    result.map_err(|e| Error::Startup(format!("server error: {e}")))
}

/// Polls pool versions so changes made by the CLI or another instance reach this one.
async fn refresh_caches(st: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(st.config.cache_refresh_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match st.pools.refresh(&st).await {
            Ok(r) if r.reloaded > 0 => tracing::info!(pools = r.reloaded, "reloaded changed pools"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pool cache refresh failed"),
        }
    }
}
