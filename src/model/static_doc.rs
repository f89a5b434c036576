//! A document served as stored bytes (discovery, JWKS) with its entity tag, computed once.

use bytes::Bytes;

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
