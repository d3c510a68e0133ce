//! An identity provider's published keys (a JWKS, RFC 7517): fetched at cold start, kept in
//! memory, fetched again when a token names a key not seen yet (a rotation), at most once per
//! [`KeyTiming::min_refetch`] so that tokens with forged `kid`s cannot make a function hammer the
//! provider (after a failed fetch, once per [`KeyTiming::retry_after_failure`]), and refreshed in
//! the background once older than [`KeyTiming::max_age`] (so that a key the provider withdrew
//! stops being trusted).
//!
//! Each key is kept with the one algorithm it signs with (its `alg`, else the one its type and
//! curve imply); symmetric keys and encryption keys in a set are ignored. The fetch is blocking
//! (ureq, bounded by a timeout) and runs on tokio's blocking pool. Nothing fetched is secret.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;
use ureq::http::Uri;

use super::users::is_asymmetric;

/// The most of a key set (or a discovery document) read: real ones are a few kilobytes.
const BODY_LIMIT: u64 = 256 * 1024;

/// The most keys kept from one set.
const MAX_KEYS: usize = 64;

/// When keys are fetched again, and how long a fetch may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTiming {
    /// The shortest time between two fetches (60 s).
    pub min_refetch: Duration,
    /// The shortest time between two fetches after one failed (5 s): an issuer that was down
    /// is used again soon after it is back.
    pub retry_after_failure: Duration,
    /// Keys older than this are refreshed in the background (1 h).
    pub max_age: Duration,
    /// The longest one fetch may take, body included (3 s); discovery then the set take two.
    pub timeout: Duration,
}

impl Default for KeyTiming {
    fn default() -> Self {
        Self {
            min_refetch: Duration::from_secs(60),
            retry_after_failure: Duration::from_secs(5),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(3),
        }
    }
}

/// Where the keys are published.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The key set's own URL.
    Jwks(String),
    /// OpenID Connect discovery from the issuer: its `jwks_uri`, once the document names the same
    /// issuer.
    Discovery { issuer: String, document: String },
}

/// A URL keys cannot be fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsecureUrl;

impl fmt::Display for InsecureUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("keys are fetched over https (http only on loopback)")
    }
}

impl KeySource {
    /// A key set's URL: https, or http on loopback (tests, a provider on the same machine).
    pub fn jwks(url: &str) -> Result<Self, InsecureUrl> {
        checked_url(url).map(Self::Jwks)
    }

    /// Discovery from an issuer (`https://issuer/.well-known/openid-configuration`).
    pub fn discovery(issuer: &str) -> Result<Self, InsecureUrl> {
        let document = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        checked_url(&document)?;
        Ok(Self::Discovery {
            issuer: issuer.to_owned(),
            document,
        })
    }
}

fn checked_url(url: &str) -> Result<String, InsecureUrl> {
    let uri: Uri = url.trim().parse().map_err(|_| InsecureUrl)?;
    let host = uri.host().unwrap_or_default();
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(url.trim().to_owned()),
        Some("http") if loopback => Ok(url.trim().to_owned()),
        _ => Err(InsecureUrl),
    }
}

/// A public key, and the one algorithm it verifies.
#[derive(Clone)]
pub struct PublicKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// An issuer's keys, shared by every request of a function.
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

struct Inner {
    /// For logs.
    issuer: String,
    source: KeySource,
    timing: KeyTiming,
    agent: ureq::Agent,
    /// The key set's URL, once discovery found it.
    discovered: OnceLock<String>,
    cache: RwLock<Cache>,
    /// Held by the one task fetching, so that a burst of unknown `kid`s makes one fetch.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: Arc<Vec<PublicKey>>,
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
    /// Whether the last fetch failed.
    failed: bool,
}

/// Why keys could not be fetched (logged; nothing of the answer is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Unreachable,
    Timeout,
    Status(u16),
    Malformed(&'static str),
    /// The discovery document names another issuer, or an insecure key set URL.
    Discovery(&'static str),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Unreachable => f.write_str("the issuer cannot be reached"),
            FetchError::Timeout => f.write_str("the issuer did not answer in time"),
            FetchError::Status(status) => write!(f, "the issuer answered with status {status}"),
            FetchError::Malformed(what) => write!(f, "unexpected answer from the issuer: {what}"),
            FetchError::Discovery(what) => write!(f, "OIDC discovery failed: {what}"),
        }
    }
}

impl KeySet {
    /// Keys of `issuer` from `source`, not fetched yet.
    pub fn new(issuer: &str, source: KeySource, timing: KeyTiming) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timing.timeout))
            .http_status_as_error(false)
            // A redirect could lead anywhere; providers publish their keys at a fixed address.
            .max_redirects(0)
            .build()
            .new_agent();
        Self {
            inner: Arc::new(Inner {
                issuer: issuer.to_owned(),
                source,
                timing,
                agent,
                discovered: OnceLock::new(),
                cache: RwLock::new(Cache::default()),
                fetching: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The first fetch, at cold start. A failure is logged, not fatal: the function still serves
    /// API keys and other issuers, and the keys are fetched again when a token needs them.
    pub async fn fetch_at_start(&self) {
        self.refetch().await;
    }

    /// How many keys are held now.
    pub fn len(&self) -> usize {
        self.cache().keys.len()
    }

    /// Whether no key is held (none fetched yet, or the set had none usable).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key a token's `kid` names (a token without `kid` is accepted only when the set holds
    /// one key), fetching the set again (rate-limited) when it is not known.
    pub async fn find(&self, kid: Option<&str>) -> Option<PublicKey> {
        let (found, stale) = self.lookup(kid);
        if found.is_some() {
            if stale {
                self.refresh_in_background();
            }
            return found;
        }
        self.refetch().await;
        self.lookup(kid).0
    }

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key held for `kid`, and whether the keys are due for a refresh.
    fn lookup(&self, kid: Option<&str>) -> (Option<PublicKey>, bool) {
        let cache = self.cache();
        let found = match kid {
            Some(kid) => cache
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid)),
            None if cache.keys.len() == 1 => cache.keys.first(),
            None => None,
        };
        let stale = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.inner.timing.max_age);
        (found.cloned(), stale)
    }

    fn refresh_in_background(&self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let keys = self.clone();
            runtime.spawn(async move { keys.refetch().await });
        }
    }

    /// Fetches the set again unless a fetch was tried within `min_refetch` (`retry_after_failure`
    /// when it failed; then the keys held stay as they are). A failed fetch keeps the keys held.
    async fn refetch(&self) {
        let _fetching = self.inner.fetching.lock().await;
        let too_soon = {
            let cache = self.cache();
            let timing = &self.inner.timing;
            let interval = if cache.failed {
                timing.min_refetch.min(timing.retry_after_failure)
            } else {
                timing.min_refetch
            };
            cache.tried_at.is_some_and(|at| at.elapsed() < interval)
        };
        if too_soon {
            return;
        }
        self.inner
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .tried_at = Some(Instant::now());
        let inner = self.inner.clone();
        let fetched = tokio::task::spawn_blocking(move || inner.fetch())
            .await
            .unwrap_or(Err(FetchError::Unreachable));
        let mut cache = self
            .inner
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.failed = fetched.is_err();
        match fetched {
            Ok(keys) => {
                tracing::info!(issuer = %self.inner.issuer, keys = keys.len(), "issuer keys fetched");
                cache.keys = Arc::new(keys);
                cache.fetched_at = Some(Instant::now());
            }
            Err(error) => {
                tracing::warn!(issuer = %self.inner.issuer, %error, "issuer keys not fetched");
            }
        }
    }
}

impl Inner {
    /// The usable keys of the set, fetched now (blocking).
    fn fetch(&self) -> Result<Vec<PublicKey>, FetchError> {
        let url = match &self.source {
            KeySource::Jwks(url) => url.clone(),
            KeySource::Discovery { issuer, document } => match self.discovered.get() {
                Some(url) => url.clone(),
                None => {
                    let url = self.discover(issuer, document)?;
                    self.discovered.get_or_init(|| url).clone()
                }
            },
        };
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<Value>,
        }
        let set: Set = serde_json::from_slice(&self.get(&url)?)
            .map_err(|_| FetchError::Malformed("not a key set"))?;
        // A key this system cannot use (another curve, a symmetric key) is skipped, not fatal.
        Ok(set
            .keys
            .into_iter()
            .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
            .filter_map(|jwk| public_key(&jwk))
            .take(MAX_KEYS)
            .collect())
    }

    /// The key set's URL that the issuer's discovery document gives.
    fn discover(&self, issuer: &str, document: &str) -> Result<String, FetchError> {
        #[derive(Deserialize)]
        struct Configuration {
            issuer: String,
            jwks_uri: String,
        }
        let configuration: Configuration = serde_json::from_slice(&self.get(document)?)
            .map_err(|_| FetchError::Malformed("not an OpenID configuration"))?;
        // OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
        if configuration.issuer != issuer {
            return Err(FetchError::Discovery("the document names another issuer"));
        }
        checked_url(&configuration.jwks_uri)
            .map_err(|_| FetchError::Discovery("jwks_uri is not an https URL"))
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(transport_error)?;
        match response.status().as_u16() {
            200 => response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()
                .map_err(transport_error),
            status => Err(FetchError::Status(status)),
        }
    }
}

fn transport_error(error: ureq::Error) -> FetchError {
    match error {
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => FetchError::Malformed("too large"),
        _ => FetchError::Unreachable,
    }
}

/// A published key this system can verify with, and its one algorithm: the `alg` it states (when
/// it fits the key's type), else the one its type implies. Encryption keys, symmetric keys and
/// curves the crate does not verify give `None`.
fn public_key(jwk: &Jwk) -> Option<PublicKey> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let stated = match jwk.common.key_algorithm {
        Some(alg) => Some(Algorithm::from_str(&alg.to_string()).ok()?),
        None => None,
    };
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match stated {
            None => Algorithm::RS256,
            Some(
                alg @ (Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512),
            ) => alg,
            Some(_) => return None,
        },
        AlgorithmParameters::EllipticCurve(params) => {
            let implied = match params.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            if stated.is_some_and(|alg| alg != implied) {
                return None;
            }
            implied
        }
        AlgorithmParameters::OctetKeyPair(params) => {
            if params.curve != EllipticCurve::Ed25519
                || stated.is_some_and(|alg| alg != Algorithm::EdDSA)
            {
                return None;
            }
            Algorithm::EdDSA
        }
        // A symmetric key is a shared secret: never taken from a public key set.
        _ => return None,
    };
    debug_assert!(is_asymmetric(algorithm));
    Some(PublicKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(value: Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn each_key_gets_the_one_algorithm_its_type_allows() {
        let rsa = serde_json::json!({"kty": "RSA", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXbw", "e": "AQAB"});
        let rsa_key = public_key(&jwk(rsa.clone())).unwrap();
        assert_eq!(
            (rsa_key.kid.as_deref(), rsa_key.algorithm),
            (Some("r"), Algorithm::RS256)
        );
        let mut ps = rsa.clone();
        ps["alg"] = "PS256".into();
        assert_eq!(public_key(&jwk(ps)).unwrap().algorithm, Algorithm::PS256);
        // An RSA key that says it is for ES256 or HS256, or for encryption, is not used.
        for (field, value) in [("alg", "ES256"), ("alg", "HS256"), ("use", "enc")] {
            let mut odd = rsa.clone();
            odd[field] = value.into();
            assert!(public_key(&jwk(odd)).is_none(), "{field}={value}");
        }
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "e",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert_eq!(public_key(&jwk(ec)).unwrap().algorithm, Algorithm::ES256);
        let oct = serde_json::json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0", "alg": "HS256"});
        assert!(public_key(&jwk(oct)).is_none());
    }

    #[test]
    fn keys_come_over_https_or_from_loopback() {
        assert!(KeySource::jwks("https://idp.example.com/.well-known/jwks.json").is_ok());
        assert!(KeySource::jwks("http://127.0.0.1:8080/jwks").is_ok());
        assert!(KeySource::jwks("http://localhost/jwks").is_ok());
        for bad in [
            "http://idp.example.com/jwks",
            "ftp://x/jwks",
            "jwks.json",
            "",
        ] {
            assert_eq!(KeySource::jwks(bad).unwrap_err(), InsecureUrl, "{bad}");
        }
        match KeySource::discovery("https://idp.example.com/tenant/").unwrap() {
            KeySource::Discovery { document, .. } => assert_eq!(
                document,
                "https://idp.example.com/tenant/.well-known/openid-configuration"
            ),
            KeySource::Jwks(_) => unreachable!(),
        }
    }
}
