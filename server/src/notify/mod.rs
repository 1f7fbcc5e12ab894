//! Notifications: traders subscribe channels (Telegram, Discord, Slack,
//! e-mail, signed outbound webhooks) to events, and each event is
//! delivered once per subscription, with retries, off the order path.

pub mod channel;
pub mod channels;
pub mod config;
mod daily_pnl;
pub mod daily_summary;
pub mod dispatcher;
pub mod event;
pub mod metrics;
pub mod registry;
pub mod service;
pub mod subscription;
pub mod subscriptions;
mod telegram_api;
pub mod telegram_commands;
mod telegram_poll;
mod telegram_reports;
mod telegram_updates;
pub mod telegram_webhook;
pub mod webhook_post;
pub mod wire;
