//! A relying party we did not write (the `openidconnect` crate) and a cookie-keeping "browser"
//! that fills in the hosted pages, for driving the authorization code flow end to end.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use tessera::clients::ClientSpec;
use url::Url;

use super::TestApp;

pub type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub const REDIRECT: &str = "http://127.0.0.1/cb";
pub const PASSWORD: &str = "correct horse battery";

/// A registered client and its RP-side handle.
pub struct OidcClient {
    pub rp: Rp,
    pub id: String,
    pub secret: Option<String>,
    pub http: openidconnect::reqwest::Client,
}

/// One authorization request in flight, as the RP remembers it.
pub struct Started {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// Where the browser ended up after the hosted pages.
#[derive(Debug)]
pub enum Landed {
    /// At the client's redirect URI, with these query parameters.
    Client(Url),
    /// Still on one of our pages.
    Page { status: u16, body: String },
}

impl Landed {
    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Landed::Client(u) => u
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            Landed::Page { .. } => None,
        }
    }

    pub fn code(&self) -> String {
        self.param("code")
            .unwrap_or_else(|| panic!("no code: {self:?}"))
    }
}

pub fn spec(name: &str) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        redirect_uris: vec![REDIRECT.into()],
        logout_uris: vec!["http://127.0.0.1/bye".into()],
        first_party: true,
        ..Default::default()
    }
}

/// Reads `name="X" value="..."` from a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page: {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_string()
}

impl TestApp {
    /// Creates a user with [`PASSWORD`].
    pub async fn user(&self, username: &str, email: &str) -> tessera::store::sql::users::User {
        let spec = tessera::accounts::NewUserSpec {
            username: username.into(),
            email: Some(email.into()),
            password: tessera::ids::Secret::new(PASSWORD),
            attributes: [("given_name".to_string(), "Al".to_string())].into(),
            temporary_password: false,
            self_signup: false,
        };
        tessera::accounts::create(&self.st, &self.pool, spec, self.now())
            .await
            .unwrap()
    }

    /// Registers a client and discovers the provider with `openidconnect`.
    pub async fn oidc_client(&self, spec: ClientSpec) -> OidcClient {
        let created = tessera::clients::create(&self.st, &self.pool.id, spec, self.now())
            .await
            .unwrap();
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .pool_idle_timeout(crate::support::CLIENT_IDLE)
            .build()
            .unwrap();
        let meta =
            CoreProviderMetadata::discover_async(IssuerUrl::new(self.issuer()).unwrap(), &http)
                .await
                .unwrap();
        let id = created.client.client_id.to_string();
        let secret = created.client_secret.map(|s| s.expose().to_string());
        let rp = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(id.clone()),
            secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        OidcClient {
            rp,
            id,
            secret,
            http,
        }
    }

    /// A fresh browser (own cookie jar, no redirects followed).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(crate::support::CLIENT_IDLE)
            .build()
            .unwrap()
    }

    /// Follows redirects within Tessera until the browser lands at the client or on a page.
    pub async fn follow(
        &self,
        browser: &reqwest::Client,
        mut res: reqwest::Response,
    ) -> (Landed, Option<String>) {
        loop {
            let status = res.status().as_u16();
            if status != 302 && status != 303 {
                let body = res.text().await.unwrap();
                return (Landed::Page { status, body }, None);
            }
            let loc = res.headers()["location"].to_str().unwrap().to_string();
            let url = if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                loc
            };
            if !url.starts_with(&self.base) {
                return (Landed::Client(Url::parse(&url).unwrap()), None);
            }
            res = browser.get(&url).send().await.unwrap();
        }
    }

    /// Opens `url`, signs in as `username` if asked, allows consent if asked.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        url: &str,
        username: &str,
        password: &str,
    ) -> Landed {
        let res = browser.get(url).send().await.unwrap();
        let (mut landed, _) = self.follow(browser, res).await;
        for _ in 0..3 {
            let Landed::Page { status: 200, body } = &landed else {
                return landed;
            };
            let (path, form) = if body.contains("name=\"password\"") {
                let f = [
                    ("tx", hidden(body, "tx")),
                    ("csrf", hidden(body, "csrf")),
                    ("username", username.into()),
                    ("password", password.into()),
                ];
                ("login", f.to_vec())
            } else if body.contains("value=\"allow\"") {
                (
                    "consent",
                    [
                        ("tx", hidden(body, "tx")),
                        ("csrf", hidden(body, "csrf")),
                        ("decision", "allow".into()),
                    ]
                    .to_vec(),
                )
            } else {
                return landed;
            };
            let res = browser
                .post(format!("{}/{}/{path}", self.base, self.pool.id))
                .form(&form)
                .send()
                .await
                .unwrap();
            landed = self.follow(browser, res).await.0;
        }
        landed
    }
}

impl OidcClient {
    /// An authorization URL with state, nonce and PKCE, scopes `openid email profile
    /// offline_access` (a refresh token comes only with the last, OIDC Core §11).
    pub fn start(&self) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        Started {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    pub async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<openidconnect::core::CoreTokenResponse, String> {
        self.rp
            .exchange_code(AuthorizationCode::new(code.into()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                other => format!("{other:?}"),
            })
    }
}

pub fn base64_part(jwt: &str, i: usize) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(i).unwrap())
        .unwrap()
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn basic(c: &crate::support::rp::OidcClient) -> String {
    use base64::Engine;
    let raw = format!("{}:{}", c.id, c.secret.clone().unwrap_or_default());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}
