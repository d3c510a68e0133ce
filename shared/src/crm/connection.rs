//! Where each tenant's EspoCRM is and its API key: secrets, read where the configuration says
//! and never logged nor shown.
//!
//! - In the cloud, `CRM_SECRET_PREFIX`: the Secrets Manager secret `{prefix}{tenant}`.
//! - Locally, `CRM_SECRETS_FILE`: a JSON file `{"<tenant>": {...}, ...}`;
//! - or `ESPO_URL` and `ESPO_API_KEY` (the platform's own names), for the one tenant a command
//!   names.
//!
//! Each holds `{"url": "https://crm.example.com", "apiKey": "...", "countryCode": "33"}`
//! (`countryCode`, optional, completes national numbers such as `06 12 34 56 78`).

use std::path::PathBuf;

use serde::Deserialize;

use super::sync::Connection;
use crate::config::{ConfigError, Secret};
use crate::tenancy::TenantId;

/// Where the connections are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connections {
    SecretsManager { prefix: String },
    File(PathBuf),
    Environment,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    url: String,
    api_key: String,
    #[serde(default)]
    country_code: Option<String>,
}

impl From<Stored> for Connection {
    fn from(stored: Stored) -> Self {
        Connection {
            url: stored.url,
            api_key: Secret::new(stored.api_key),
            country_code: stored
                .country_code
                .filter(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())),
        }
    }
}

impl Connections {
    /// What the environment names: `CRM_SECRET_PREFIX`, else `CRM_SECRETS_FILE`, else the
    /// `ESPO_*` variables.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(vars: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name| vars(name).filter(|value| !value.is_empty());
        if let Some(prefix) = set("CRM_SECRET_PREFIX") {
            Connections::SecretsManager { prefix }
        } else if let Some(path) = set("CRM_SECRETS_FILE") {
            Connections::File(PathBuf::from(path))
        } else {
            Connections::Environment
        }
    }

    /// The connection of a tenant; `None` when the tenant has none.
    pub async fn of(&self, tenant: &TenantId) -> Result<Option<Connection>, ConfigError> {
        match self {
            Connections::SecretsManager { prefix } => {
                let client = crate::secrets::client().await;
                let id = format!("{prefix}{tenant}");
                match crate::secrets::fetch(&client, &id, "CRM_SECRET_PREFIX").await {
                    Ok(text) => serde_json::from_str::<Stored>(&text)
                        .map(|stored| Some(stored.into()))
                        .map_err(|_| ConfigError::Invalid("CRM_SECRET_PREFIX")),
                    Err(_) => Ok(None),
                }
            }
            Connections::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|_| ConfigError::Invalid("CRM_SECRETS_FILE"))?;
                let mut all: std::collections::HashMap<String, Stored> =
                    serde_json::from_str(&text)
                        .map_err(|_| ConfigError::Invalid("CRM_SECRETS_FILE"))?;
                Ok(all.remove(tenant.as_str()).map(Connection::from))
            }
            Connections::Environment => {
                let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
                Ok(match (var("ESPO_URL"), var("ESPO_API_KEY")) {
                    (Some(url), Some(api_key)) => Some(
                        Stored {
                            url,
                            api_key,
                            country_code: var("ESPO_COUNTRY_CODE"),
                        }
                        .into(),
                    ),
                    _ => None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_where_the_connections_are() {
        let from = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Connections::from_vars(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        assert_eq!(
            from(&[
                ("CRM_SECRET_PREFIX", "max/espocrm/"),
                ("CRM_SECRETS_FILE", "x")
            ]),
            Connections::SecretsManager {
                prefix: "max/espocrm/".to_owned()
            }
        );
        assert_eq!(
            from(&[("CRM_SECRETS_FILE", "/etc/max/crm.json")]),
            Connections::File(PathBuf::from("/etc/max/crm.json"))
        );
        assert_eq!(from(&[]), Connections::Environment);
    }

    #[tokio::test]
    async fn a_file_holds_each_tenants_connection_and_the_key_never_shows() {
        let path = std::env::temp_dir().join(format!("max-crm-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"acme": {"url": "https://crm.acme.test", "apiKey": "k-123-secret", "countryCode": "33"}}"#,
        )
        .unwrap();
        let connections = Connections::File(path.clone());
        let acme = connections
            .of(&TenantId::parse("acme").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(acme.url, "https://crm.acme.test");
        assert_eq!(acme.api_key.expose(), "k-123-secret");
        assert_eq!(acme.country_code.as_deref(), Some("33"));
        assert!(!format!("{acme:?}").contains("k-123"));
        assert!(!format!("{acme:?}").contains("acme.test"));
        let other = connections.of(&TenantId::parse("other").unwrap()).await;
        assert!(matches!(other, Ok(None)));
        std::fs::remove_file(&path).unwrap();
    }
}
