//! The HTTP client for upstream identity providers: connect and total timeouts, no redirects
//! (an open redirect upstream must not become a request from us), a response size cap, and
//! https only except on loopback. A slow or broken provider costs one sign-in a clear error,
//! never a worker.

use std::time::Duration;

use openidconnect::http::{self, HeaderValue};
use url::{Host, Url};

use super::FederationError;

/// The largest upstream response read (discovery, JWKS, token, profile).
pub const MAX_RESPONSE: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One shared client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
}

impl Upstream {
    /// A client whose calls each end after `total` (connecting gets at most 5 s of it).
    pub fn new(total: Duration) -> Result<Self, FederationError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(total))
            .timeout(total)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FederationError::Upstream(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// Sends one request and reads at most [`MAX_RESPONSE`] bytes of the answer.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, FederationError> {
        let url = Url::parse(&request.uri().to_string())
            .map_err(|e| FederationError::Upstream(format!("bad upstream URL: {e}")))?;
        check_url(&url)?;
        let (parts, body) = request.into_parts();
        let mut req = self.client.request(parts.method, url.clone()).body(body);
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        let mut res = req.send().await.map_err(|e| upstream_error(&url, &e))?;
        let mut out = http::Response::builder().status(res.status());
        if let Some(ct) = res.headers().get(reqwest::header::CONTENT_TYPE) {
            let ct = HeaderValue::from_bytes(ct.as_bytes()).unwrap_or(HeaderValue::from_static(""));
            out = out.header(http::header::CONTENT_TYPE, ct);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| upstream_error(&url, &e))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(FederationError::Upstream(format!(
                    "{} answered more than {MAX_RESPONSE} bytes",
                    origin(&url)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        out.body(body)
            .map_err(|e| FederationError::Upstream(e.to_string()))
    }

    /// A GET returning JSON (profile APIs), with an optional bearer token.
    pub async fn get_json(
        &self,
        url: &Url,
        bearer: Option<&str>,
    ) -> Result<serde_json::Value, FederationError> {
        let mut req =
            http::Request::get(url.as_str()).header(http::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Vec::new())
            .map_err(|e| FederationError::Upstream(e.to_string()))?;
        json_of(url, self.send(req).await?)
    }

    /// A form POST whose answer is read whatever its status or type (an STS's XML): the
    /// status and the body.
    pub async fn post_form_raw(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), FederationError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = http::Request::post(url.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.into_bytes())
            .map_err(|e| FederationError::Upstream(e.to_string()))?;
        let res = self.send(req).await?;
        Ok((res.status().as_u16(), res.into_body()))
    }

    /// A form POST returning JSON (token endpoints).
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<serde_json::Value, FederationError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = http::Request::post(url.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body.into_bytes())
            .map_err(|e| FederationError::Upstream(e.to_string()))?;
        json_of(url, self.send(req).await?)
    }
}

/// The JSON body of a successful answer; anything else names the host and the status only.
fn json_of(url: &Url, res: http::Response<Vec<u8>>) -> Result<serde_json::Value, FederationError> {
    if !res.status().is_success() {
        return Err(FederationError::Upstream(format!(
            "{} answered HTTP {}",
            origin(url),
            res.status().as_u16()
        )));
    }
    serde_json::from_slice(res.body())
        .map_err(|_| FederationError::Upstream(format!("{} answered no JSON", origin(url))))
}

/// Upstream URLs are https, or http on loopback (local development and tests).
pub fn check_url(url: &Url) -> Result<(), FederationError> {
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(FederationError::Config(format!(
            "upstream URL {} must be https (http only on loopback)",
            origin(url)
        ))),
    }
}

/// `scheme://host[:port]`: what an error may say about an upstream URL (never its query,
/// which can hold codes or tokens).
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn upstream_error(url: &Url, e: &reqwest::Error) -> FederationError {
    let what = if e.is_timeout() {
        "did not answer in time"
    } else if e.is_connect() {
        "could not be reached"
    } else {
        "failed"
    };
    FederationError::Upstream(format!("{} {what}", origin(url)))
}
