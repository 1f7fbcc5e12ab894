//! `tpctl notify …`: notification subscriptions (create from a file,
//! list, get, delete, test) and the outbox's deliveries.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, object_table, print, time_text},
    notify_file,
};

use crate::cli_error::CliError;

/// Notification commands.
#[derive(Subcommand)]
pub enum NotifyCommand {
    /// Creates a subscription from a TOML (.toml) or YAML file shaped like
    /// one `[[notify.subscriptions]]` entry.
    Create {
        /// Subscription file: TOML if it ends in .toml, else YAML.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Idempotency key: a retry returns the first subscription.
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Every subscription, of the configuration and of the API (secrets
    /// redacted).
    List,
    /// One subscription, by name.
    Get {
        /// Subscription name.
        name: String,
    },
    /// Deletes a subscription made through the API.
    Delete {
        /// Subscription name.
        name: String,
    },
    /// The outbox's deliveries of one state, newest first.
    Deliveries {
        /// Which deliveries.
        #[arg(long, value_enum, default_value_t = StateArg::Pending)]
        state: StateArg,
        /// Only this subscription's.
        #[arg(long, default_value = "")]
        subscription: String,
        /// Most deliveries to list (the server caps it at 1000).
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Sends a test message through a subscription's channel now; fails
    /// when it is not delivered.
    Test {
        /// Subscription name.
        name: String,
    },
}

/// A delivery state.
#[derive(Clone, Copy, ValueEnum)]
pub enum StateArg {
    Pending,
    Delivered,
    Dead,
}

const SUBSCRIPTION_COLUMNS: [&str; 6] =
    ["name", "source", "channel", "to", "events", "min_severity"];
const DELIVERY_COLUMNS: [&str; 7] = [
    "sequence",
    "subscription",
    "event_kind",
    "attempts",
    "next_attempt",
    "last_error",
    "event_id",
];

/// A subscription for people: where its channel sends, by type (the
/// server shows secrets redacted).
fn subscription_json(s: &Subscription) -> Value {
    use subscription::Channel;
    let (channel, to) = match &s.channel {
        Some(Channel::Telegram(c)) => ("telegram", c.chat_id.clone()),
        Some(Channel::Discord(c)) => ("discord", c.webhook_url.clone()),
        Some(Channel::Slack(c)) => ("slack", c.webhook_url.clone()),
        Some(Channel::Email(c)) => ("email", c.to.join(",")),
        Some(Channel::Webhook(c)) => ("webhook", c.url.clone()),
        None => ("", String::new()),
    };
    json!({
        "name": s.name,
        "source": SubscriptionSource::word_of(s.source),
        "channel": channel, "to": to,
        "events": s.events.join(","),
        "pipelines": s.pipelines.join(","),
        "accounts": s.accounts.join(","),
        "min_severity": NotificationSeverity::word_of(s.min_severity),
        "template": s.template,
        "create_time": time_text(s.create_time.as_ref()),
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "sequence": d.sequence, "subscription": d.subscription,
        "state": DeliveryState::word_of(d.state),
        "event_kind": d.event_kind, "event_id": d.event_id,
        "attempts": d.attempts, "last_error": d.last_error,
        "next_attempt": time_text(d.next_attempt_time.as_ref()),
        "create_time": time_text(d.create_time.as_ref()),
    })
}

/// Prints a subscription answer.
fn print_subscription(output: Output, subscription: Option<Subscription>) {
    let subscription = subscription.unwrap_or_default();
    let value = subscription_json(&subscription);
    let answer = GetSubscriptionResponse {
        subscription: Some(subscription),
    };
    print(output, &answer, value.clone(), || {
        object_table(&[value], &SUBSCRIPTION_COLUMNS)
    });
}

/// Runs a notify command.
pub async fn run(client: &Client, command: NotifyCommand, output: Output) -> Result<(), CliError> {
    let mut notifications = client.notifications();
    match command {
        NotifyCommand::Create { file, request_id } => {
            let subscription = notify_file::read(&file)?;
            let created = notifications
                .create_subscription(CreateSubscriptionRequest {
                    request_id,
                    subscription: Some(subscription),
                })
                .await?
                .into_inner();
            print_subscription(output, created.subscription);
        }
        NotifyCommand::Get { name } => {
            let got = notifications
                .get_subscription(GetSubscriptionRequest { name })
                .await?
                .into_inner();
            print_subscription(output, got.subscription);
        }
        NotifyCommand::List => {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = notifications
                    .list_subscriptions(ListSubscriptionsRequest {
                        page_size: 1000,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                all.extend(page.subscriptions);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let values: Vec<Value> = all.iter().map(subscription_json).collect();
            let answer = ListSubscriptionsResponse {
                subscriptions: all,
                ..Default::default()
            };
            print(output, &answer, json!({ "subscriptions": values }), || {
                object_table(&values, &SUBSCRIPTION_COLUMNS)
            });
        }
        NotifyCommand::Delete { name } => {
            let answer = notifications
                .delete_subscription(DeleteSubscriptionRequest { name: name.clone() })
                .await?
                .into_inner();
            print(output, &answer, json!({ "deleted": name }), || {
                format!("deleted {name}")
            });
        }
        NotifyCommand::Deliveries {
            state,
            subscription,
            limit,
        } => {
            let state = match state {
                StateArg::Pending => DeliveryState::Pending,
                StateArg::Delivered => DeliveryState::Delivered,
                StateArg::Dead => DeliveryState::Dead,
            };
            let response = notifications
                .list_deliveries(ListDeliveriesRequest {
                    page_size: limit,
                    state: state as i32,
                    subscription,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let values: Vec<Value> = response.deliveries.iter().map(delivery_json).collect();
            print(output, &response, json!({ "deliveries": values }), || {
                object_table(&values, &DELIVERY_COLUMNS)
            });
        }
        NotifyCommand::Test { name } => {
            let answer = notifications
                .test_subscription(TestSubscriptionRequest { name: name.clone() })
                .await?
                .into_inner();
            if !answer.delivered {
                return Err(format!(
                    "the test message to `{name}` was not delivered: {}",
                    answer.error
                )
                .into());
            }
            print(output, &answer, json!({ "delivered": name }), || {
                format!("delivered a test message to {name}")
            });
        }
    }
    Ok(())
}
