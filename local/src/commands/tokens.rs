//! `create-token`: dashboard users' tokens, signed with the local secret.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::config::{Config, TokenSecret};
use shared::tenancy::{MIN_JWT_SECRET_BYTES, UserClaims};

use super::{Error, duration_arg, tenant_arg};

/// The secret that signs and verifies dashboard tokens locally: `JWT_SECRET`, or a random one
/// kept in `~/.max-local/jwt-secret` (created on first use), so that `serve` and `create-token`
/// agree.
pub fn secret(config: &Config) -> Result<Vec<u8>, Error> {
    match &config.tokens.secret {
        Some(TokenSecret::Value(secret)) if secret.expose().len() < MIN_JWT_SECRET_BYTES => {
            Err(Error::new(format!(
                "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long"
            )))
        }
        Some(TokenSecret::Value(secret)) => Ok(secret.expose().clone()),
        Some(TokenSecret::SecretArn(_)) => {
            Err(Error::new("max-local reads JWT_SECRET, not JWT_SECRET_ARN"))
        }
        None => kept_secret(),
    }
}

fn kept_secret() -> Result<Vec<u8>, Error> {
    let home = std::env::var_os("HOME")
        .ok_or_else(|| Error::new("set JWT_SECRET (or HOME, to keep a local one)"))?;
    let dir = Path::new(&home).join(".max-local");
    let path = dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read(&path)
        && secret.len() >= MIN_JWT_SECRET_BYTES
    {
        return Ok(secret);
    }
    let mut random = [0u8; 48];
    getrandom::fill(&mut random).map_err(|error| Error::new(error.to_string()))?;
    let secret = URL_SAFE_NO_PAD.encode(random).into_bytes();
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&path)?, &secret)
    };
    match write() {
        Ok(()) => Ok(secret),
        // Created meanwhile by another max-local: use that one.
        Err(_) => std::fs::read(&path).map_err(|error| {
            Error::new(format!(
                "cannot keep the local JWT secret in {}: {error}",
                path.display()
            ))
        }),
    }
}

/// A signed token for a user of a tenant, valid for `ttl`, with the audience and issuer the
/// configuration requires.
pub fn user_token(
    secret: &[u8],
    config: &Config,
    tenant: &str,
    user: &str,
    ttl: Duration,
) -> Result<String, Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| Error::new(error.to_string()))?
        .as_secs();
    UserClaims {
        sub: user.to_owned(),
        tenant: tenant.to_owned(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        scope: None,
        aud: config.tokens.audience.clone(),
        iss: config.tokens.issuer.clone(),
    }
    .sign(secret)
    .map_err(|error| Error::new(format!("cannot sign the token: {error}")))
}

pub fn create(tenant: &str, user: &str, ttl: &str, config: &Config) -> Result<(), Error> {
    let tenant = tenant_arg(tenant)?;
    let user = user.trim();
    if user.is_empty() || user.len() > 200 {
        return Err(Error::new("the user must be 1 to 200 characters"));
    }
    let ttl = duration_arg(ttl, "ttl")?;
    if ttl.as_secs() == 0 {
        return Err(Error::new(
            "invalid ttl: a token must be valid for at least a second",
        ));
    }
    let token = user_token(&secret(config)?, config, tenant.as_str(), user, ttl)?;
    println!(
        "Token for user {user} of tenant {tenant}, valid for {} (send it as Authorization: Bearer <token>):",
        humantime::format_duration(ttl)
    );
    println!("{token}");
    Ok(())
}
