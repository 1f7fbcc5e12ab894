//! A corpus of hostile requests for every RPC the server serves,
//! generated from the descriptor sets (tradeplane's, and the health and
//! reflection services tonic generates): for each method an empty
//! request, one with every field at its largest, one with every field out
//! of range, and bytes that do not decode. The hostile-input test and the
//! memory bench walk it.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, Value,
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;
use tradeplane_api::codec::call_raw;

use crate::ADMIN_KEY;

/// How long a streaming answer may stay silent before the call counts as
/// accepted (a watch waiting for events).
const SILENT_STREAM: Duration = Duration::from_millis(300);
/// Characters in a string at its largest (the whole message stays under
/// the 4 MiB default limit).
const LONG_STRING: usize = 16 * 1024;
/// Entries in a repeated or map field at its largest.
const MANY: usize = 64;
/// How deep nested messages are filled in.
const DEPTH: usize = 3;

/// Every service the server answers: tradeplane's, health and reflection.
pub fn served_services() -> Vec<DescriptorPool> {
    [
        tradeplane_api::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ]
    .map(|set| DescriptorPool::decode(set).expect("a valid descriptor set"))
    .to_vec()
}

/// Sends the whole corpus to every served RPC `rounds` times; returns how
/// many calls were made and the bad answers (see [`check`]).
pub async fn walk(channel: &Channel, rounds: usize) -> (usize, Vec<String>) {
    let pools = served_services();
    let mut calls = 0;
    let mut failures = Vec::new();
    for _ in 0..rounds {
        for service in pools.iter().flat_map(DescriptorPool::services) {
            for method in service.methods() {
                for (case, body) in corpus(&method.input()) {
                    calls += 1;
                    if let Err(why) = check(call(channel, &method, body).await) {
                        failures.push(format!("{}: {case}: {why}", method.full_name()));
                    }
                }
            }
        }
    }
    (calls, failures)
}

/// The cases for one request type: (name, encoded body).
pub fn corpus(input: &MessageDescriptor) -> Vec<(&'static str, Bytes)> {
    let encode = |message: DynamicMessage| Bytes::from(message.encode_to_vec());
    vec![
        ("empty", Bytes::new()),
        ("blank", encode(filled(input, Extreme::Blank, DEPTH))),
        ("largest", encode(filled(input, Extreme::Largest, DEPTH))),
        (
            "out of range",
            encode(filled(input, Extreme::OutOfRange, DEPTH)),
        ),
        // Field 1 as a string of invalid UTF-8 (every request's field 1 is
        // a string, a message or a number; each must be refused cleanly).
        (
            "invalid utf-8",
            Bytes::from_static(&[0x0a, 0x02, 0xff, 0xfe]),
        ),
        ("truncated length", Bytes::from_static(&[0x0a, 0x7f, b'a'])),
        (
            "11-byte varint",
            Bytes::from_static(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ]),
        ),
        ("wire type 7", Bytes::from_static(&[0x0f, 0x00])),
        ("tag 0", Bytes::from_static(&[0x00, 0x00])),
    ]
}

#[derive(Clone, Copy)]
enum Extreme {
    /// Every message present, every list holding one item, every string
    /// empty and every number zero.
    Blank,
    /// Every string long, every list full, every number at its maximum.
    Largest,
    /// Numbers, enums, timestamps and durations no valid request has.
    OutOfRange,
}

/// A message of type `descriptor` with every field set to `extreme`.
fn filled(descriptor: &MessageDescriptor, extreme: Extreme, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth == 0 {
        return message;
    }
    match descriptor.full_name() {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" => {
            let (seconds, nanos) = match extreme {
                Extreme::Blank => (0, 0),
                Extreme::Largest => (i64::MAX, i32::MAX),
                Extreme::OutOfRange => (i64::MIN, -2_000_000_000),
            };
            message.set_field_by_name("seconds", Value::I64(seconds));
            message.set_field_by_name("nanos", Value::I32(nanos));
            return message;
        }
        _ => {}
    }
    for field in descriptor.fields() {
        let value = if field.is_map() {
            map_value(&field, extreme, depth)
        } else if field.is_list() {
            let items = if matches!(extreme, Extreme::Blank) {
                1
            } else {
                MANY / 4
            };
            Value::List(vec![scalar(&field, extreme, depth); items])
        } else {
            scalar(&field, extreme, depth)
        };
        message.set_field(&field, value);
    }
    message
}

fn map_value(field: &FieldDescriptor, extreme: Extreme, depth: usize) -> Value {
    let Kind::Message(entry) = field.kind() else {
        unreachable!("a map field is a message of entries")
    };
    let value_field = entry.map_entry_value_field();
    let entries = (0..MANY)
        .map(|i| {
            let key = match entry.map_entry_key_field().kind() {
                Kind::String => MapKey::String(format!("{i:0>256}")),
                _ => MapKey::I64(i as i64),
            };
            (key, scalar(&value_field, extreme, depth))
        })
        .collect();
    Value::Map(entries)
}

fn scalar(field: &FieldDescriptor, extreme: Extreme, depth: usize) -> Value {
    let largest = matches!(extreme, Extreme::Largest);
    match field.kind() {
        Kind::Message(inner) => Value::Message(filled(&inner, extreme, depth - 1)),
        _ if matches!(extreme, Extreme::Blank) => Value::default_value(&field.kind()),
        Kind::String if largest => Value::String("x".repeat(LONG_STRING)),
        Kind::String => Value::String("-1e999999".into()),
        Kind::Bytes => Value::Bytes(Bytes::from(vec![
            0xff;
            if largest { LONG_STRING } else { 1 }
        ])),
        Kind::Bool => Value::Bool(true),
        Kind::Enum(_) => Value::EnumNumber(if largest { i32::MAX } else { 999 }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(if largest { i32::MAX } else { i32::MIN })
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(if largest { i64::MAX } else { i64::MIN })
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::MAX),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::MAX),
        Kind::Float => Value::F32(if largest { f32::MAX } else { f32::NAN }),
        Kind::Double => Value::F64(if largest { f64::MAX } else { f64::NAN }),
    }
}

/// Calls `method` with `body` as its one request message; `Ok(None)` when
/// a stream was accepted and stayed silent.
pub async fn call(
    channel: &Channel,
    method: &MethodDescriptor,
    body: Bytes,
) -> Result<Option<Bytes>, Status> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let mut stream = call_raw(channel.clone(), &path, ADMIN_KEY, body).await?;
    match tokio::time::timeout(SILENT_STREAM, stream.message()).await {
        Ok(answer) => answer,
        Err(_) => Ok(None),
    }
}

/// Whether an answer to hostile input is acceptable.
pub fn check(answer: Result<Option<Bytes>, Status>) -> Result<(), String> {
    let Err(status) = answer else { return Ok(()) };
    match status.code() {
        Code::Internal | Code::Unknown => Err(format!("{status:?}")),
        Code::InvalidArgument => {
            let details = status.get_error_details();
            let names_field = details.bad_request().is_some_and(|b| {
                !b.field_violations.is_empty()
                    && b.field_violations.iter().all(|v| !v.field.is_empty())
            });
            let names_reason = details.error_info().is_some_and(|i| !i.reason.is_empty());
            if names_field || names_reason {
                Ok(())
            } else {
                Err(format!(
                    "INVALID_ARGUMENT naming no field and no reason: {status:?}"
                ))
            }
        }
        _ => Ok(()),
    }
}
