//! The domain models: plain Rust types with enums and exact decimals.
//! Protobuf never appears here; `codec/` converts at the edges (the gRPC
//! services and the store).

pub mod approval;
pub mod attachment;
pub mod execution;
pub mod order;
pub mod signal;
