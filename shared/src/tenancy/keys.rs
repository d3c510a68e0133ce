//! API keys of server-to-server callers.
//!
//! A key reads `mxk_<tenant>_<32 random letters and digits>`. The tenant in it is only a claim:
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

/// An API key as presented by a caller: the tenant it claims and the hash of the whole key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    tenant: TenantId,
    /// SHA-256 of the whole key, as stored (32 bytes).
    hash: Vec<u8>,
    prefix: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("ApiKey")
            .field("tenant", &self.tenant)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether a bearer credential is meant as an API key (rather than a user's token).
    pub fn looks_like_one(credential: &str) -> bool {
        credential.starts_with(KEY_PREFIX)
    }

    /// Reads a key; `None` when it cannot be one of ours.
    pub fn parse(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(KEY_PREFIX)?;
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
            hash: Sha256::digest(key.as_bytes()).to_vec(),
            prefix: key[..KEY_PREFIX.len() + tenant.len() + 1 + PREFIX_SECRET_CHARS].to_owned(),
        })
    }

    /// A new random key for a tenant: the key text (shown once) and its parsed form.
    pub fn generate(tenant: &TenantId) -> Result<(String, Self), getrandom::Error> {
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
        let text = format!("{KEY_PREFIX}{tenant}_{secret}");
        let key = Self::parse(&text).expect("a generated key parses");
        Ok((text, key))
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// SHA-256 of the whole key, as stored.
    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The hash, as a value a statement can bind.
    pub(super) fn stored_hash(&self) -> &Vec<u8> {
        &self.hash
    }

    /// The first characters of the key (`mxk_macrea_AbCd1`): enough for an operator to tell keys
    /// apart, useless to an attacker.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Reads the prefix of a key as `list-keys` shows it (`mxk_<tenant>_` and five characters of
    /// the secret): its tenant, or `None` when it cannot be one.
    pub fn parse_prefix(prefix: &str) -> Option<TenantId> {
        let rest = prefix.strip_prefix(KEY_PREFIX)?;
        let (tenant, secret_start) = rest.rsplit_once('_')?;
        (secret_start.len() == PREFIX_SECRET_CHARS
            && secret_start.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| TenantId::parse(tenant))
        .flatten()
    }
}

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
    }
}
