//! `Body`: the raw request body, bounded; too large or broken bodies are JSON errors (actix's
//! own `Bytes` extractor answers those in plain text).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::StreamExt;

use super::ApiError;

/// Largest body any endpoint reads.
pub const MAX_BODY: usize = 64 * 1024;

pub struct Body(pub Bytes);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        Box::pin(async move {
            let mut buf = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|_| ApiError::invalid_request("the request body could not be read"))?;
                if buf.len() + chunk.len() > MAX_BODY {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "invalid_request",
                        "the request body is too large",
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(Body(buf.freeze()))
        })
    }
}
