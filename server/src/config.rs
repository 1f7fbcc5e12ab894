//! Configuration: embedded defaults, then a TOML file, then `TRADEPLANE_*`
//! environment variables, then command-line flags. A bad value fails at
//! start with a message naming the key and where it came from.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    orders::config::ExchangesConfig,
    pipelines::config::PipelinesConfig,
    security::config::{SecurityConfig, WebhookConfig},
    signals::config::SignalsConfig,
    store::config::StoreConfig,
    telemetry::config::{LogConfig, TelemetryConfig},
};

/// The whole server configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port.
    pub grpc_listen: SocketAddr,
    /// HTTP listen address (webhooks, /metrics, /healthz, /readyz).
    pub http_listen: SocketAddr,
    /// Where the SQLite database and generated secrets live.
    pub data_dir: PathBuf,
    /// `sqlite://…`; empty means `<data_dir>/tradeplane.db`.
    pub database_url: String,
    /// Whether gRPC server reflection is served.
    pub reflection: bool,
    /// How long shutdown waits for in-flight calls and streams.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// How long the listeners stay open after shutdown begins, answering
    /// `/readyz` 503 and readiness NOT_SERVING, so that a load balancer
    /// stops sending before connections are refused.
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    pub webhook: WebhookConfig,
    pub signals: SignalsConfig,
    pub store: StoreConfig,
    pub security: SecurityConfig,
    pub tls: crate::security::tls::TlsConfig,
    pub exchanges: ExchangesConfig,
    pub pipelines: PipelinesConfig,
    pub limits: crate::edge::EdgeConfig,
    pub notify: crate::notify::config::NotifyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            reflection: true,
            shutdown_timeout: Duration::from_secs(10),
            drain_delay: Duration::ZERO,
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            webhook: WebhookConfig::default(),
            signals: SignalsConfig::default(),
            store: StoreConfig::default(),
            security: SecurityConfig::default(),
            tls: Default::default(),
            exchanges: Default::default(),
            pipelines: Default::default(),
            limits: Default::default(),
            notify: Default::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the layer below in place.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    pub config: Option<PathBuf>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
}

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration key `{key}` (from {origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
}

/// Environment variables with a short name; any other key is reachable as
/// `TRADEPLANE_<SECTION>__<KEY>`, e.g. `TRADEPLANE_SIGNALS__MAX_AGE=10m`.
const ENV_ALIASES: &[(&str, &str)] = &[
    ("TRADEPLANE_GRPC_LISTEN", "grpc_listen"),
    ("TRADEPLANE_HTTP_LISTEN", "http_listen"),
    ("TRADEPLANE_DATA_DIR", "data_dir"),
    ("TRADEPLANE_DATABASE_URL", "database_url"),
    ("TRADEPLANE_WEBHOOK_PASSPHRASE", "webhook.passphrase"),
    ("TRADEPLANE_WEBHOOK_HMAC_SECRET", "webhook.hmac_secret"),
    ("TRADEPLANE_ADMIN_KEY", "security.admin_key"),
    ("TRADEPLANE_BINANCE_API_KEY", "exchanges.binance.api_key"),
    (
        "TRADEPLANE_BINANCE_API_SECRET",
        "exchanges.binance.api_secret",
    ),
    ("TRADEPLANE_SHUTDOWN_TIMEOUT", "shutdown_timeout"),
    ("TRADEPLANE_DRAIN_DELAY", "drain_delay"),
    ("TRADEPLANE_LOG_FORMAT", "log.format"),
    ("TRADEPLANE_LOG_LEVEL", "log.level"),
];

impl Config {
    /// Builds the configuration from every layer. `env` is the process
    /// environment (passed in so tests can use their own).
    pub fn load(flags: &FlagOverrides, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut table =
            toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Invalid {
                key: "(defaults)".into(),
                origin: "defaults".into(),
                message: e.to_string(),
            })?;
        let mut origins: HashMap<String, String> = HashMap::new();

        let config_path = flags
            .config
            .clone()
            .or_else(|| env.get("TRADEPLANE_CONFIG").map(PathBuf::from));
        if let Some(path) = config_path {
            let file = read_file_layer(&path)?;
            let origin = format!("config file {}", path.display());
            merge_table(&mut table, file, "", &origin, &mut origins);
        }

        for (name, value) in env {
            let key = ENV_ALIASES
                .iter()
                .find(|(alias, _)| alias == name)
                .map(|(_, key)| (*key).to_string())
                .or_else(|| {
                    let rest = name.strip_prefix("TRADEPLANE_")?;
                    rest.contains("__")
                        .then(|| rest.to_lowercase().replace("__", "."))
                });
            if let Some(key) = key {
                set_key(&mut table, &key, scalar(value));
                origins.insert(key, format!("environment variable {name}"));
            }
        }

        let flag_values = [
            ("grpc_listen", "--grpc-listen", &flags.grpc_listen),
            ("http_listen", "--http-listen", &flags.http_listen),
            ("data_dir", "--data-dir", &flags.data_dir),
            ("database_url", "--database-url", &flags.database_url),
            ("log.format", "--log-format", &flags.log_format),
            ("log.level", "--log-level", &flags.log_level),
        ];
        for (key, flag, value) in flag_values {
            if let Some(value) = value {
                set_key(&mut table, key, toml::Value::String(value.clone()));
                origins.insert(key.to_string(), format!("flag {flag}"));
            }
        }

        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|err| {
                let key = err.path().to_string();
                let origin = origin_of(&origins, &key);
                ConfigError::Invalid {
                    key,
                    origin,
                    message: err.into_inner().to_string(),
                }
            })?;
        if let Err((key, message)) = config.exchanges.load_credentials() {
            let origin = origin_of(&origins, &key);
            return Err(ConfigError::Invalid {
                key,
                origin,
                message,
            });
        }
        config.validate(&origins)?;
        Ok(config)
    }

    fn validate(&self, origins: &HashMap<String, String>) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            origin: origin_of(origins, key),
            message,
        };
        if self.store.max_batch == 0 {
            return Err(invalid("store.max_batch", "must be at least 1".into()));
        }
        if self.store.read_connections == 0 {
            return Err(invalid(
                "store.read_connections",
                "must be at least 1".into(),
            ));
        }
        if self.store.pool_size == 0 {
            return Err(invalid("store.pool_size", "must be at least 1".into()));
        }
        if self.store.statement_timeout.is_zero() {
            return Err(invalid(
                "store.statement_timeout",
                "must be longer than 0s".into(),
            ));
        }
        if self.store.reload_every.is_zero() {
            return Err(invalid(
                "store.reload_every",
                "must be longer than 0s".into(),
            ));
        }
        if self.webhook.body_limit_bytes < 256 {
            return Err(invalid(
                "webhook.body_limit_bytes",
                "must be at least 256".into(),
            ));
        }
        if self.signals.min_confidence > rust_decimal::Decimal::ONE
            || self.signals.min_confidence.is_sign_negative()
        {
            return Err(invalid(
                "signals.min_confidence",
                "must be between 0 and 1".into(),
            ));
        }
        if !self.database_url.is_empty() {
            crate::store::Backend::of(&self.database_url)
                .map_err(|err| invalid("database_url", err.to_string()))?;
        }
        if let Err((key, message)) = self.tls.validate() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.limits.validate() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.exchanges.validate() {
            return Err(invalid(&key, message));
        }
        for (key, limit) in [
            (
                "security.rate_limits.per_api_key",
                self.security.rate_limits.per_api_key,
            ),
            (
                "security.rate_limits.per_client_ip",
                self.security.rate_limits.per_client_ip,
            ),
        ] {
            limit.validate().map_err(|message| invalid(key, message))?;
        }
        let breaker = &self.exchanges.breaker;
        if breaker.consecutive_failures == 0 {
            return Err(invalid(
                "exchanges.breaker.consecutive_failures",
                "must be at least 1".into(),
            ));
        }
        if !(breaker.failure_ratio > 0.0 && breaker.failure_ratio <= 1.0) {
            return Err(invalid(
                "exchanges.breaker.failure_ratio",
                "must be above 0 and at most 1".into(),
            ));
        }
        if self.pipelines.max_pipelines == 0 {
            return Err(invalid(
                "pipelines.max_pipelines",
                "must be at least 1".into(),
            ));
        }
        if self.pipelines.lease < Duration::from_secs(1) {
            return Err(invalid("pipelines.lease", "must be at least 1s".into()));
        }
        if self.security.auth_failure_audit_window.is_zero() {
            return Err(invalid(
                "security.auth_failure_audit_window",
                "must be positive".into(),
            ));
        }
        for (raw, canonical) in &self.signals.symbol_map {
            if let Err(err) = crate::market::symbol::parse_canonical(canonical) {
                let key = format!("signals.symbol_map.{raw}");
                return Err(invalid(&key, err));
            }
        }
        Ok(())
    }

    /// A copy safe to print: secrets that are set read `<redacted>`.
    pub fn redacted(&self) -> Self {
        let hide = |secret: &str| {
            if secret.is_empty() {
                String::new()
            } else {
                "<redacted>".into()
            }
        };
        let mut copy = self.clone();
        copy.webhook.passphrase = hide(&self.webhook.passphrase);
        copy.webhook.hmac_secret = hide(&self.webhook.hmac_secret);
        copy.security.admin_key = hide(&self.security.admin_key);
        copy.exchanges.binance = self.exchanges.binance.redacted(hide);
        copy.exchanges.binance_usdm = self.exchanges.binance_usdm.redacted(hide);
        copy.exchanges.okx = self.exchanges.okx.redacted(hide);
        copy.exchanges.bybit = self.exchanges.bybit.redacted(hide);
        copy.exchanges.alpaca = self.exchanges.alpaca.redacted(hide);
        copy.database_url = redact_password(&self.database_url);
        copy
    }

    /// The URL of the database the store opens: `database_url`, or the
    /// SQLite file in `data_dir` when it is empty.
    pub fn store_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("tradeplane.db").display())
        } else {
            self.database_url.clone()
        }
    }
}

/// `url` with the password it carries (`postgres://user:secret@host/db`)
/// replaced by `<redacted>`.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // A URL with a password has a host, so this cannot fail.
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn read_file_layer(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Interprets an environment value as a TOML scalar when it is one
/// (`5`, `true`, `0.5`, `["a"]`), else as a string.
fn scalar(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}

fn set_key(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(last.to_string(), value);
}

fn merge_table(
    base: &mut toml::Table,
    overlay: toml::Table,
    prefix: &str,
    origin: &str,
    origins: &mut HashMap<String, String>,
) {
    for (key, value) in overlay {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            // Maps that are data, not structure, are replaced whole.
            (Some(toml::Value::Table(inner)), toml::Value::Table(over))
                if !path.ends_with("symbol_map") && !path.ends_with("balances") =>
            {
                merge_table(inner, over, &path, origin, origins);
            }
            (_, value) => {
                origins.insert(path, origin.to_string());
                base.insert(key, value);
            }
        }
    }
}

fn origin_of(origins: &HashMap<String, String>, key: &str) -> String {
    let mut candidate = key;
    loop {
        if let Some(origin) = origins.get(candidate) {
            return origin.clone();
        }
        match candidate.rfind('.') {
            Some(i) => candidate = &candidate[..i],
            None => return "defaults".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_postgres_url_is_accepted_and_printed_without_its_password() {
        let url = "postgres://trader:s3cret@db.internal:5432/tradeplane";
        let config = Config::load(
            &FlagOverrides::default(),
            &env(&[("TRADEPLANE_DATABASE_URL", url)]),
        )
        .unwrap();
        assert_eq!(config.store_url(), url);
        let printed = toml::to_string(&config.redacted()).unwrap();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(
            printed.contains("postgres://trader:%3Credacted%3E@db.internal:5432/tradeplane"),
            "{printed}"
        );
        let err = Config::load(
            &FlagOverrides::default(),
            &env(&[("TRADEPLANE_DATABASE_URL", "mysql://db/tradeplane")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::load(&FlagOverrides::default(), &HashMap::new()).unwrap();
        assert_eq!(config.grpc_listen.to_string(), "127.0.0.1:50051");
        assert_eq!(config.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn layers_override_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tp.toml");
        std::fs::write(
            &path,
            "grpc_listen = \"127.0.0.1:1\"\nhttp_listen = \"127.0.0.1:2\"\n[signals]\nmax_age = \"10m\"\n",
        )
        .unwrap();
        let flags = FlagOverrides {
            config: Some(path),
            grpc_listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
        let config = Config::load(
            &flags,
            &env(&[
                ("TRADEPLANE_HTTP_LISTEN", "127.0.0.1:4"),
                ("TRADEPLANE_GRPC_LISTEN", "127.0.0.1:5"),
            ]),
        )
        .unwrap();
        assert_eq!(config.grpc_listen.port(), 3, "flag beats env and file");
        assert_eq!(config.http_listen.port(), 4, "env beats file");
        assert_eq!(
            config.signals.max_age,
            Duration::from_secs(600),
            "file beats defaults"
        );
    }

    #[test]
    fn nested_env_keys_use_double_underscore() {
        let config = Config::load(
            &FlagOverrides::default(),
            &env(&[
                ("TRADEPLANE_SIGNALS__MAX_QUANTITY", "5"),
                ("TRADEPLANE_REQUIRE_EXTERNAL", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.signals.max_quantity, rust_decimal::Decimal::from(5));
    }

    #[test]
    fn top_level_durations_have_short_environment_names() {
        let config = Config::load(
            &FlagOverrides::default(),
            &env(&[
                ("TRADEPLANE_DRAIN_DELAY", "5s"),
                ("TRADEPLANE_SHUTDOWN_TIMEOUT", "30s"),
            ]),
        )
        .unwrap();
        assert_eq!(config.drain_delay, Duration::from_secs(5));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_values_name_the_key_and_origin() {
        let err = Config::load(
            &FlagOverrides {
                grpc_listen: Some("nonsense".into()),
                ..Default::default()
            },
            &HashMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`grpc_listen`") && err.contains("--grpc-listen"),
            "{err}"
        );

        let err = Config::load(
            &FlagOverrides::default(),
            &env(&[("TRADEPLANE_SIGNALS__MAX_AGE", "soon")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`signals.max_age`") && err.contains("TRADEPLANE_SIGNALS__MAX_AGE"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tp.toml");
        std::fs::write(&path, "[webhook]\npassfrase = \"x\"\n").unwrap();
        let err = Config::load(
            &FlagOverrides {
                config: Some(path),
                ..Default::default()
            },
            &HashMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("webhook") && err.contains("passfrase"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_symbol_map_target_is_named() {
        let err = Config::load(
            &FlagOverrides::default(),
            &env(&[(
                "TRADEPLANE_SIGNALS__SYMBOL_MAP",
                "{ \"NQ1!\" = \"nonsense\" }",
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("signals.symbol_map.NQ1!"), "{err}");
    }
}
