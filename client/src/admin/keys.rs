//! `tpctl admin key …` and `rotate-webhook-secret`: API keys and the
//! webhook passphrase.

use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, object_table, print, time_text},
};

use crate::cli_error::CliError;

/// `tpctl admin key …`.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Creates a key and prints its token (shown only this once).
    Create {
        /// Key name, unique among active keys; the audit log names it as the actor.
        #[arg(long)]
        name: String,
        /// viewer (read only), submitter (+ signals), trader (+ orders, pipelines,
        /// breaker trips, halts) or admin (everything).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Lifetime, e.g. `90d`; none means no expiry.
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<Duration>,
        /// Idempotency key: a repeat with the same id fails (ALREADY_EXISTS) instead of
        /// creating a second key.
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Lists keys (never their tokens).
    List {
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revokes a key at once.
    Revoke {
        /// Key id, as `admin key list` prints it.
        id: String,
    },
}

/// A role as a command-line word.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Submitter,
    Trader,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Submitter => Role::Submitter,
            RoleArg::Trader => Role::Trader,
            RoleArg::Admin => Role::Admin,
        }
    }
}

fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id, "name": key.name, "role": Role::word_of(key.role), "prefix": key.prefix,
        "create_time": time_text(key.create_time.as_ref()),
        "expire_time": time_text(key.expire_time.as_ref()),
        "last_used_time": time_text(key.last_used_time.as_ref()),
        "revoked": key.revoked,
    })
}

/// Runs one `admin key` command.
pub(super) async fn run(
    client: &Client,
    command: KeyCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    match command {
        KeyCommand::Create {
            name,
            role,
            ttl,
            request_id,
        } => {
            let response = admin
                .create_api_key(CreateApiKeyRequest {
                    request_id,
                    name,
                    role: Role::from(role) as i32,
                    ttl: ttl.and_then(|t| prost_types::Duration::try_from(t).ok()),
                })
                .await?
                .into_inner();
            let key = response.api_key.clone().unwrap_or_default();
            print(
                output,
                &response,
                json!({ "api_key": key_json(&key), "token": response.token }),
                || {
                    format!(
                        "{}\n(key {} `{}`; the token is shown only once)",
                        response.token, key.id, key.name
                    )
                },
            );
        }
        KeyCommand::List { all } => {
            let response = admin
                .list_api_keys(ListApiKeysRequest {
                    include_revoked: all,
                    page_size: 1000,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let keys: Vec<Value> = response.api_keys.iter().map(key_json).collect();
            print(output, &response, json!({ "api_keys": keys }), || {
                object_table(
                    &keys,
                    &[
                        "id",
                        "name",
                        "role",
                        "prefix",
                        "last_used_time",
                        "expire_time",
                        "revoked",
                    ],
                )
            });
        }
        KeyCommand::Revoke { id } => {
            let response = admin
                .revoke_api_key(RevokeApiKeyRequest {
                    id,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let key = response.api_key.clone().unwrap_or_default();
            print(output, &response, key_json(&key), || {
                format!("revoked {} `{}`", key.id, key.name)
            });
        }
    }
    Ok(())
}

/// Replaces the webhook passphrase; the old one works for `grace`.
pub(super) async fn rotate_webhook_secret(
    client: &Client,
    grace: Duration,
    request_id: String,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    let response = admin
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            request_id,
            grace: prost_types::Duration::try_from(grace).ok(),
        })
        .await?
        .into_inner();
    let until = time_text(response.previous_expire_time.as_ref());
    print(
        output,
        &response,
        json!({ "secret": response.secret, "previous_expire_time": until }),
        || {
            format!(
                "{}\n(the previous passphrase works until {until})",
                response.secret
            )
        },
    );
    Ok(())
}
