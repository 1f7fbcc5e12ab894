//! tradeplane's API contract: the protobuf messages and tonic services
//! generated from `proto/tradeplane/v1`, plus the encoded descriptor set that
//! server reflection serves, and the enums as lowercase words.

/// Package `tradeplane.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("tradeplane.v1");
}

/// Encoded `FileDescriptorSet` of every tradeplane proto and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tradeplane_descriptor.bin"));

pub use v1::*;

pub mod codec;
mod enums;
pub mod limits;

pub use enums::{ProtoEnum, UnknownEnum};
