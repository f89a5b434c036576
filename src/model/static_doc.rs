//! A document served as stored bytes (discovery, JWKS) with its entity tag, computed once, and
//! the slot that keeps one until the instant it stops being right.

use std::sync::RwLock;

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// A document served as stored bytes, with its entity tag (a digest of the bytes, quoted).
#[derive(Debug, Clone)]
pub struct StaticDoc {
    pub body: Bytes,
    /// The quoted entity tag, as bytes a response header can share without a copy.
    pub etag: Bytes,
}

impl StaticDoc {
    pub fn new(body: Bytes) -> Self {
        let digest = crate::crypto::sha256_hex(&body);
        let etag = Bytes::from(format!("\"{}\"", &digest[..32]));
        Self { body, etag }
    }
}

/// One cached document, rebuilt when first asked for and again once `until` has passed (a
/// signing key changes status then: JWKS and discovery list what the keys are at an instant).
#[derive(Debug, Default)]
pub struct DocSlot(RwLock<Option<(StaticDoc, Option<DateTime<Utc>>)>>);

impl DocSlot {
    /// The document at `now`; `build` gives the bytes and the instant they stop being right.
    pub fn get(
        &self,
        now: DateTime<Utc>,
        build: impl FnOnce() -> (Bytes, Option<DateTime<Utc>>),
    ) -> StaticDoc {
        if let Ok(c) = self.0.read()
            && let Some((doc, until)) = c.as_ref()
            && until.is_none_or(|u| now < u)
        {
            return doc.clone();
        }
        let (body, until) = build();
        let doc = StaticDoc::new(body);
        if let Ok(mut c) = self.0.write() {
            *c = Some((doc.clone(), until));
        }
        doc
    }
}
