//! The key users' secrets are sealed with (`scheduler::secrets`).

use clap::Args;
use scheduler::secrets::{Keyring, parse_key};

use super::{AppEnv, ConfigError};

/// Used only in development when SECRETS_KEY is unset, so that `make dev` works without
/// configuration. Public: never for real values.
pub const DEVELOPMENT_KEY: &str =
    "6465762d6f6e6c792d63726f6e6f70732d736563726574732d6b65792d303030";

/// SECRETS_KEY and the keys it replaced.
#[derive(Debug, Clone, Args)]
pub struct SecretsConfig {
    /// Key that seals users' secrets: 64 hex characters (`openssl rand -hex 32`).
    /// Required outside development.
    #[arg(long, env = "SECRETS_KEY", value_name = "SECRETS_KEY")]
    pub secrets_key: Option<String>,
    /// Keys SECRETS_KEY replaced, comma-separated: they still open values sealed before,
    /// until `cronops rotate-secrets` seals them again under SECRETS_KEY.
    #[arg(
        long,
        env = "SECRETS_PREVIOUS_KEYS",
        value_name = "SECRETS_PREVIOUS_KEYS"
    )]
    pub secrets_previous_keys: Option<String>,
}

impl SecretsConfig {
    /// The keyring, or what is wrong with the keys.
    pub fn keyring(&self, env: AppEnv) -> Result<Keyring, ConfigError> {
        let current = match self.secrets_key.as_deref().map(str::trim) {
            Some(key) if !key.is_empty() => key,
            _ if env == AppEnv::Development => DEVELOPMENT_KEY,
            _ => {
                return Err(ConfigError {
                    variable: "SECRETS_KEY",
                    problem:
                        "must be set outside development (64 hex characters: openssl rand -hex 32)"
                            .into(),
                });
            }
        };
        if env == AppEnv::Production && current == DEVELOPMENT_KEY {
            return Err(ConfigError {
                variable: "SECRETS_KEY",
                problem: "is the public development key: set your own in production".into(),
            });
        }
        let current = parse_key(current).map_err(|problem| ConfigError {
            variable: "SECRETS_KEY",
            problem,
        })?;
        let previous = self
            .secrets_previous_keys
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(parse_key)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| ConfigError {
                variable: "SECRETS_PREVIOUS_KEYS",
                problem,
            })?;
        Ok(Keyring::new(&current, &previous))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: Option<&str>, previous: Option<&str>) -> SecretsConfig {
        SecretsConfig {
            secrets_key: key.map(str::to_owned),
            secrets_previous_keys: previous.map(str::to_owned),
        }
    }

    #[test]
    fn only_development_runs_without_a_key_and_keys_are_checked() {
        assert!(config(None, None).keyring(AppEnv::Development).is_ok());
        for env in [AppEnv::Test, AppEnv::Production] {
            let refused = config(None, None).keyring(env).unwrap_err();
            assert_eq!(refused.variable, "SECRETS_KEY");
        }
        let public = config(Some(DEVELOPMENT_KEY), None).keyring(AppEnv::Production);
        assert!(
            public
                .unwrap_err()
                .problem
                .contains("public development key")
        );
        let short = config(Some("abcd"), None)
            .keyring(AppEnv::Test)
            .unwrap_err();
        assert!(short.problem.contains("64 hex"), "{}", short.problem);
        let key = "ab".repeat(32);
        let bad_previous = config(Some(&key), Some(&format!("{key}, zz"))).keyring(AppEnv::Test);
        assert_eq!(bad_previous.unwrap_err().variable, "SECRETS_PREVIOUS_KEYS");
        let ring = config(Some(&key), Some(&"cd".repeat(32)))
            .keyring(AppEnv::Test)
            .unwrap();
        assert_eq!(ring.current_id().len(), 16);
    }
}
