//! Canonical proto3 JSON, for `--output proto-json`: a response as grpcurl
//! and protobuf's own libraries print it (lowerCamelCase names, enum
//! names, 64-bit integers as strings, RFC 3339 times, default values left
//! out), so that one `jq` filter works on both.

use std::sync::OnceLock;

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::Value;

/// A response message tpctl can print as proto3 JSON.
pub trait ProtoMessage: Message + Name {}

impl<M: Message + Name> ProtoMessage for M {}

/// The descriptors of every tradeplane message, decoded once.
pub(crate) fn pool() -> Result<&'static DescriptorPool, String> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(tradeplane_api::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// `message` as canonical proto3 JSON.
pub fn proto_json<M: ProtoMessage>(message: &M) -> Result<Value, String> {
    let name = M::full_name();
    let descriptor = pool()?
        .get_message_by_name(&name)
        .ok_or_else(|| format!("no descriptor for {name}"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| format!("{name}: {e}"))?;
    serde_json::to_value(&dynamic).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeplane_api::{Order, OrderStatus, Side};

    #[test]
    fn names_are_camel_case_enums_are_names_and_defaults_are_left_out() {
        let order = Order {
            id: "o-1".into(),
            side: Side::Buy as i32,
            status: OrderStatus::Filled as i32,
            filled_quantity: "0.02".into(),
            ..Default::default()
        };
        let json = proto_json(&order).expect("renders");
        assert_eq!(
            json,
            serde_json::json!({
                "id": "o-1",
                "side": "SIDE_BUY",
                "status": "ORDER_STATUS_FILLED",
                "filledQuantity": "0.02",
            })
        );
    }
}
