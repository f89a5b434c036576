//! The HTTP edge: route table, JSON error mapping, request logging, and the thin handlers.

mod body;
mod discovery;
mod error;
mod health;
mod logging;
mod oauth;
mod pool_ctx;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

pub use body::Body;
pub use error::ApiError;
pub use pool_ctx::PoolCtx;

use crate::state::AppState;

use body::MAX_BODY;

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
                .error_handler(error::form_error),
        )
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY)
                .error_handler(error::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .wrap(actix_web::middleware::from_fn(logging::log_request))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(
            web::scope("/{pool_id}")
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
                .route("/oauth2/authorize", web::get().to(crate::ui::authorize))
                .route("/oauth2/authorize", web::post().to(crate::ui::authorize))
                .route("/login", web::get().to(crate::ui::show))
                .route("/login", web::post().to(crate::ui::login))
                .route("/forgotPassword", web::get().to(crate::ui::forgot_page))
                .route("/forgotPassword", web::post().to(crate::ui::forgot))
                .route("/confirmForgotPassword", web::get().to(crate::ui::show))
                .route("/confirmForgotPassword", web::post().to(crate::ui::reset))
                .route("/signup", web::get().to(crate::ui::signup_page))
                .route("/signup", web::post().to(crate::ui::signup))
                .route("/confirm", web::get().to(crate::ui::show))
                .route("/confirm", web::post().to(crate::ui::confirm))
                .route("/newPassword", web::get().to(crate::ui::show))
                .route("/newPassword", web::post().to(crate::ui::new_password))
                .route("/consent", web::get().to(crate::ui::show))
                .route("/consent", web::post().to(crate::ui::consent))
                .route("/mfa", web::get().to(crate::ui::show))
                .route("/mfa", web::post().to(crate::ui::mfa))
                .route("/mfaSetup", web::get().to(crate::ui::show))
                .route("/mfaSetup", web::post().to(crate::ui::mfa_setup))
                .route("/account", web::get().to(crate::ui::account))
                .route("/account", web::post().to(crate::ui::account))
                .route("/logout", web::get().to(crate::ui::logout))
                .route("/logout", web::post().to(crate::ui::logout))
                .route("/oauth2/token", web::route().to(error::method_not_allowed))
                .route(
                    "/oauth2/introspect",
                    web::route().to(error::method_not_allowed),
                )
                .route("/oauth2/revoke", web::route().to(error::method_not_allowed))
                .route(
                    "/oauth2/userInfo",
                    web::route().to(error::method_not_allowed),
                )
                .route(
                    "/oauth2/authorize",
                    web::route().to(error::method_not_allowed),
                )
                .route("/login", web::route().to(error::method_not_allowed))
                .route("/newPassword", web::route().to(error::method_not_allowed))
                .route("/signup", web::route().to(error::method_not_allowed))
                .route(
                    "/forgotPassword",
                    web::route().to(error::method_not_allowed),
                )
                .route(
                    "/confirmForgotPassword",
                    web::route().to(error::method_not_allowed),
                )
                .route("/confirm", web::route().to(error::method_not_allowed))
                .route("/consent", web::route().to(error::method_not_allowed))
                .route("/account", web::route().to(error::method_not_allowed))
                .route("/mfa", web::route().to(error::method_not_allowed))
                .route("/mfaSetup", web::route().to(error::method_not_allowed))
                .route("/logout", web::route().to(error::method_not_allowed)),
        )
        .default_service(web::to(error::not_found))
}
