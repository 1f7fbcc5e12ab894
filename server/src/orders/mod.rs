//! Orders and exchanges: the exchange connectors, the order desk every
//! order passes, circuit breakers, and `tradeplane.v1.OrderService`.

pub mod config;
pub mod desk;
pub mod error;
pub mod exchanges;
mod metrics;
mod service;

pub use service::OrderGrpc;
