//! Notifications: traders subscribe channels (Telegram, Discord, Slack,
//! e-mail, signed outbound webhooks) to events, and each event is
//! delivered once per subscription, with retries, off the order path.

pub mod channel;
pub mod channels;
pub mod config;
pub mod dispatcher;
pub mod event;
pub mod metrics;
pub mod registry;
pub mod service;
pub mod subscription;
pub mod subscriptions;
pub mod telegram_commands;
mod telegram_reports;
pub mod webhook_post;
pub mod wire;
