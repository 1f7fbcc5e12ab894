//! Loopback mocks of the notification receivers: each verifies what the
//! real one verifies and records what it received.

pub mod discord;
pub mod slack;
pub mod smtp;
pub mod telegram;
pub mod webhook;
