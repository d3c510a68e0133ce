//! A fake OpenID Connect provider on loopback, as Cognito, Supabase Auth, Auth0 or Keycloak
//! publish themselves: a discovery document (`/.well-known/openid-configuration`, naming its
//! `issuer` and `jwks_uri` as OpenID Connect Discovery 1.0 section 3 requires) and a key set
//! (`/jwks`, RFC 7517: `{"keys": [{"kty", "kid", "alg", "use": "sig", "n", "e" | "crv", "x",
//! "y"}]}`) whose keys a test rotates. It counts the key set's fetches and can be taken down.
//!
//! [`TestKey`]s sign its tokens: RSA (2048 bits) and P-256 keys generated with openssl for these
//! tests only (`testing/keys/*.der`); nothing else trusts them.

use std::sync::{Arc, Mutex, MutexGuard};

use hyper::Request;
use hyper::body::Incoming;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::loopback::{Answer, LoopbackServer, answer};

/// A private key of the tests, with the `kid` and algorithm it is published under.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
}

impl TestKey {
    /// The first RSA key (RS256).
    pub fn rsa(kid: &str) -> Self {
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_der(include_bytes!("keys/rsa-1.der")),
        )
    }

    /// Another RSA key (RS256), for rotations.
    pub fn other_rsa(kid: &str) -> Self {
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_der(include_bytes!("keys/rsa-2.der")),
        )
    }

    /// A P-256 key (ES256).
    pub fn ec(kid: &str) -> Self {
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(include_bytes!("keys/ec-p256.der")),
        )
    }

    fn new(kid: &str, algorithm: Algorithm, encoding: EncodingKey) -> Self {
        Self {
            kid: kid.to_owned(),
            algorithm,
            encoding,
        }
    }

    /// The public key as its provider publishes it.
    pub fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, self.algorithm).expect("public key");
        jwk.common.key_id = Some(self.kid.clone());
        let mut value = serde_json::to_value(jwk).expect("jwk");
        value["use"] = "sig".into();
        value
    }

    /// A token of these claims signed with this key, its header naming the key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.algorithm, Some(&self.kid), claims)
    }

    /// A token signed with this key under another header (another algorithm of the key's family,
    /// another `kid` or none).
    pub fn sign_as(&self, algorithm: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signed")
    }

    /// The classic forgery: a token whose header says HS256 and names this key, its HMAC keyed
    /// with the public key as published (which a verifier that lets the token choose the
    /// algorithm would accept).
    pub fn forge_hs256(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let public = self.jwk().to_string();
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .expect("signed")
    }
}

/// A running fake provider; stops when dropped.
pub struct FakeIssuer {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
}

struct State {
    /// The `issuer` the discovery document names (its own URL unless a test says otherwise).
    issuer: String,
    keys: Vec<Value>,
    jwks_fetches: usize,
    discovery_fetches: usize,
    down: bool,
}

impl FakeIssuer {
    /// A provider publishing `keys`.
    pub fn start(keys: &[&TestKey]) -> Self {
        let state = Arc::new(Mutex::new(State {
            issuer: String::new(),
            keys: keys.iter().map(|key| key.jwk()).collect(),
            jwks_fetches: 0,
            discovery_fetches: 0,
            down: false,
        }));
        let served = state.clone();
        let server = LoopbackServer::start(move |req| handle(served.clone(), req));
        let fake = Self { server, state };
        fake.state().issuer = fake.issuer();
        fake
    }

    /// Its issuer identifier (`iss`): its base URL.
    pub fn issuer(&self) -> String {
        self.server.url()
    }

    /// Its key set's URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.server.url())
    }

    /// Publishes these keys from now on (a rotation).
    pub fn publish(&self, keys: &[&TestKey]) {
        self.state().keys = keys.iter().map(|key| key.jwk()).collect();
    }

    /// Publishes this key set as written (keys of other kinds, malformed ones).
    pub fn publish_raw(&self, keys: Vec<Value>) {
        self.state().keys = keys;
    }

    /// Makes the discovery document name another issuer.
    pub fn claim_to_be(&self, issuer: &str) {
        self.state().issuer = issuer.to_owned();
    }

    /// Answers every request with a 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state().jwks_fetches
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_fetches(&self) -> usize {
        self.state().discovery_fetches
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let mut state = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if state.down {
        return answer(503, "");
    }
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/.well-known/openid-configuration") => {
            state.discovery_fetches += 1;
            let base = req
                .headers()
                .get("host")
                .and_then(|host| host.to_str().ok())
                .map(|host| format!("http://{host}"))
                .unwrap_or_default();
            let document = json!({
                "issuer": state.issuer,
                "jwks_uri": format!("{base}/jwks"),
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            });
            answer(200, &document.to_string())
        }
        ("GET", "/jwks") => {
            state.jwks_fetches += 1;
            answer(200, &json!({ "keys": state.keys }).to_string())
        }
        _ => answer(404, ""),
    }
}
