//! tradeplane's API contract: the protobuf messages and tonic services
//! generated from `proto/tradeplane/v1`, plus the encoded descriptor set that
//! server reflection serves.

/// Package `tradeplane.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("tradeplane.v1");
}

/// Encoded `FileDescriptorSet` of every tradeplane proto and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tradeplane_descriptor.bin"));

pub use v1::*;

impl SignalAction {
    /// The lowercase word used on the wire and in metric labels.
    pub fn word(self) -> &'static str {
        match self {
            SignalAction::Unspecified => "unspecified",
            SignalAction::Buy => "buy",
            SignalAction::Sell => "sell",
            SignalAction::Exit => "exit",
            SignalAction::TargetPosition => "target",
        }
    }
}
