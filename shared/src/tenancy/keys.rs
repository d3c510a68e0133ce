//! API keys of server-to-server callers, and the tokens Green-API presents to the WhatsApp webhook.
//!
//! A key reads `mxk_<tenant>_<32 random letters and digits>`, a webhook token the same with
//! `mxw_`. The tenant in it is only a claim:
//! the key is verified by the database (`max_authorize_key`) in the same transaction as the work
//! it authorises. Only the key's SHA-256 is ever stored.

use std::fmt;

use sha2::{Digest, Sha256};

use super::TenantId;

const KEY_PREFIX: &str = "mxk_";
const SECRET_LEN: usize = 32;
/// How many characters of the secret a key's prefix shows.
pub const PREFIX_SECRET_CHARS: usize = 5;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The key written in the sample requests of `events/`, for tenant `macrea`. It is public, so it
/// works only where an operator registers it on purpose (`max-local create-key --events-fixture`,
/// and the tests): never in production.
pub const EVENTS_FIXTURE_KEY: &str = "mxk_macrea_EventsFixtureKeyNotForProduction";

/// The webhook token written in the Green-API sample requests of `events/` (tenant `macrea`, for
/// the instance [`EVENTS_FIXTURE_INSTANCE`]): public, like [`EVENTS_FIXTURE_KEY`].
pub const EVENTS_FIXTURE_WEBHOOK_TOKEN: &str = "mxw_macrea_WebhookFixtureTokenNotProduction";
/// The Green-API instance of the sample notifications of `events/`.
pub const EVENTS_FIXTURE_INSTANCE: i64 = 1101000001;

/// A secret that names its tenant, as a caller presents it: an API key (`mxk_...`) or a webhook
/// token (`mxw_...`). Only its SHA-256 is stored; the tenant in it is only a claim, which the
/// database checks with the hash.
#[derive(Clone, PartialEq, Eq)]
struct TenantSecret {
    tenant: TenantId,
    /// SHA-256 of the whole secret, as stored (32 bytes).
    hash: Vec<u8>,
    prefix: String,
}

impl fmt::Debug for TenantSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret itself.
        f.debug_struct("TenantSecret")
            .field("tenant", &self.tenant)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TenantSecret {
    /// Reads `<kind><tenant>_<secret>`; `None` when it cannot be one.
    fn parse(kind: &str, text: &str) -> Option<Self> {
        let rest = text.strip_prefix(kind)?;
        if rest.len() < SECRET_LEN + 2 || !rest.is_char_boundary(rest.len() - SECRET_LEN - 1) {
            return None;
        }
        let (tenant, secret) = rest.split_at(rest.len() - SECRET_LEN - 1);
        let secret = secret.strip_prefix('_')?;
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Self {
            tenant: TenantId::parse(tenant)?,
            hash: Sha256::digest(text.as_bytes()).to_vec(),
            prefix: text[..kind.len() + tenant.len() + 1 + PREFIX_SECRET_CHARS].to_owned(),
        })
    }

    /// A new random secret of a kind for a tenant: its text (shown once) and its parsed form.
    fn generate(kind: &str, tenant: &TenantId) -> Result<(String, Self), getrandom::Error> {
        let mut secret = String::with_capacity(SECRET_LEN);
        let mut buf = [0u8; 64];
        while secret.len() < SECRET_LEN {
            getrandom::fill(&mut buf)?;
            // Rejection sampling keeps every letter equally likely: 248 = 4 * 62.
            secret.extend(
                buf.iter()
                    .filter(|b| **b < 248)
                    .map(|b| ALPHABET[usize::from(*b % 62)] as char)
                    .take(SECRET_LEN - secret.len()),
            );
        }
        let text = format!("{kind}{tenant}_{secret}");
        let parsed = Self::parse(kind, &text).expect("a generated secret parses");
        Ok((text, parsed))
    }

    /// Reads a prefix as operators see it (`<kind><tenant>_` and five characters of the secret):
    /// its tenant, or `None` when it cannot be one.
    fn parse_prefix(kind: &str, prefix: &str) -> Option<TenantId> {
        let rest = prefix.strip_prefix(kind)?;
        let (tenant, secret_start) = rest.rsplit_once('_')?;
        (secret_start.len() == PREFIX_SECRET_CHARS
            && secret_start.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| TenantId::parse(tenant))
        .flatten()
    }
}

/// What starts a webhook token (an API key starts with [`KEY_PREFIX`]).
const WEBHOOK_TOKEN_PREFIX: &str = "mxw_";

macro_rules! tenant_secret {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(TenantSecret);

        impl $name {
            /// Whether a credential is meant as one of these (rather than something else).
            pub fn looks_like_one(credential: &str) -> bool {
                credential.starts_with($kind)
            }

            /// Reads one; `None` when it cannot be one of ours.
            pub fn parse(text: &str) -> Option<Self> {
                TenantSecret::parse($kind, text).map(Self)
            }

            /// A new random one for a tenant: the text (shown once) and its parsed form.
            pub fn generate(tenant: &TenantId) -> Result<(String, Self), getrandom::Error> {
                TenantSecret::generate($kind, tenant).map(|(text, secret)| (text, Self(secret)))
            }

            pub fn tenant(&self) -> &TenantId {
                &self.0.tenant
            }

            /// SHA-256 of the whole text, as stored.
            pub fn hash(&self) -> &[u8] {
                &self.0.hash
            }

            /// The first characters (`mxk_macrea_AbCd1`): enough for an operator to tell them
            /// apart, useless to an attacker.
            pub fn prefix(&self) -> &str {
                &self.0.prefix
            }

            /// Reads a prefix as operators see it: its tenant, or `None` when it cannot be one.
            pub fn parse_prefix(prefix: &str) -> Option<TenantId> {
                TenantSecret::parse_prefix($kind, prefix)
            }
        }
    };
}

tenant_secret!(
    /// An API key of a server-to-server caller, as presented.
    ApiKey,
    KEY_PREFIX
);

impl ApiKey {
    /// The hash, as a value a statement can bind.
    pub(super) fn stored_hash(&self) -> &Vec<u8> {
        &self.0.hash
    }
}

tenant_secret!(
    /// The token Green-API presents to the WhatsApp webhook (`webhookUrlToken`), bound to one
    /// tenant and one Green-API instance: `mxw_<tenant>_<32 random letters and digits>`.
    WebhookToken,
    WEBHOOK_TOKEN_PREFIX
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_its_tenant_and_hash() {
        let tenant = TenantId::parse("macrea").unwrap();
        let (text, key) = ApiKey::generate(&tenant).unwrap();
        assert!(text.starts_with("mxk_macrea_"));
        assert_eq!(text.len(), "mxk_macrea_".len() + SECRET_LEN);
        let parsed = ApiKey::parse(&text).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.tenant().as_str(), "macrea");
        assert_eq!(parsed.prefix(), &text[..16]);
        assert_eq!(ApiKey::parse_prefix(parsed.prefix()), Some(tenant));
    }

    #[test]
    fn two_generated_keys_differ() {
        let tenant = TenantId::parse("t1").unwrap();
        assert_ne!(
            ApiKey::generate(&tenant).unwrap().0,
            ApiKey::generate(&tenant).unwrap().0
        );
    }

    #[test]
    fn tenants_with_underscores_are_read_from_the_right() {
        let text = format!("mxk_acme_sales_{}", "a".repeat(SECRET_LEN));
        assert_eq!(
            ApiKey::parse(&text).unwrap().tenant().as_str(),
            "acme_sales"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let secret = "a".repeat(SECRET_LEN);
        for bad in [
            String::new(),
            "mxk_".into(),
            format!("mxk_{secret}"),
            format!("mxk__{secret}"),
            format!("mxk_Macrea_{secret}"),
            format!("xxx_macrea_{secret}"),
            format!("mxk_macrea_{}", "a".repeat(SECRET_LEN - 1)),
            format!("mxk_macrea_{}!", "a".repeat(SECRET_LEN - 1)),
            format!("mxk_macréa_{secret}"),
        ] {
            assert!(ApiKey::parse(&bad).is_none(), "{bad:?} should not parse");
        }
        for bad in [
            "mxk_macrea_abc",
            "mxk_macrea",
            "macrea_abcde",
            "mxk_Macrea_abcde",
        ] {
            assert!(ApiKey::parse_prefix(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_key_never_shows_in_debug_output() {
        let (text, key) = ApiKey::generate(&TenantId::parse("macrea").unwrap()).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&text[16..]), "{shown}");
        let (text, token) = WebhookToken::generate(&TenantId::parse("macrea").unwrap()).unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains(&text[16..]), "{shown}");
    }

    #[test]
    fn webhook_tokens_and_api_keys_are_told_apart() {
        let tenant = TenantId::parse("macrea").unwrap();
        let (text, token) = WebhookToken::generate(&tenant).unwrap();
        assert!(text.starts_with("mxw_macrea_"));
        assert_eq!(WebhookToken::parse(&text), Some(token.clone()));
        assert_eq!(
            WebhookToken::parse_prefix(token.prefix()),
            Some(tenant.clone())
        );
        assert!(ApiKey::parse(&text).is_none());
        let (key, _) = ApiKey::generate(&tenant).unwrap();
        assert!(WebhookToken::parse(&key).is_none());
    }
}
