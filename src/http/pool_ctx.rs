//! `PoolCtx`: the extractor that resolves `/{pool_id}` to the cached pool once per request;
//! an unknown pool is a JSON 404 for every endpoint under it.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::ApiError;
use crate::pools::PoolRuntime;
use crate::state::AppState;

/// The pool named by the request path.
pub struct PoolCtx(pub Arc<PoolRuntime>);

impl FromRequest for PoolCtx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = req
            .app_data::<web::Data<AppState>>()
            .zip(req.match_info().get("pool_id"))
            .and_then(|(app, id)| app.pools.get(id));
        ready(
            found
                .map(PoolCtx)
                .ok_or_else(|| ApiError::not_found("unknown user pool")),
        )
    }
}
