//! Signals: parse, normalize, validate, deduplicate and durably record
//! trading signals from every surface, then announce them to watchers.

pub mod config;
mod dedupe;
mod intake;
mod metrics;
pub mod overrides;
mod service;
pub mod strategy;
pub mod validate;
pub mod violation;

pub use intake::{ExecutionPlanner, SignalIntake, Submission, SubmitError};
pub use service::{SignalGrpc, rejection_error};
