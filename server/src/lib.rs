//! tradeplane, the control plane for automated trading: signals in from
//! TradingView webhooks and gRPC, checked, normalized and stored durably;
//! orders out to exchanges. This crate is the server; `main.rs` is the
//! `tradeplane` binary.

pub mod api_error;
pub mod app;
pub mod audit;
pub mod codec;
pub mod config;
pub mod controls;
pub mod duty;
pub mod edge;
pub mod listing;
pub mod market;
pub mod model;
pub mod notify;
pub mod observe;
pub mod orders;
pub mod pipelines;
pub mod proto_time;
pub mod replication;
pub mod security;
pub mod seed;
pub mod settings;
pub mod signals;
pub mod store;
pub mod telemetry;
pub mod webhook;
mod words;
