//! Signals: parse, normalize, validate, deduplicate and durably record
//! trading signals from every surface, then announce them to watchers.

pub mod decimal;
mod intake;
mod metrics;
mod service;
pub mod symbol;
pub mod validate;

pub use intake::{SignalIntake, Submission, SubmitError};
pub use service::{SignalGrpc, rejection_error};
