//! Hostile input on every RPC, generated from the descriptor set so that a
//! new RPC is covered without editing this file: for each method, an empty
//! request, one with every field at its largest, one with every field out
//! of range, and bytes that do not decode. No answer may be INTERNAL or
//! UNKNOWN; every INVALID_ARGUMENT names a field or a reason; lists stay
//! valid for proto3-JSON clients; and the server is healthy afterwards.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, Value,
};
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_types::StatusExt;
use tradeplane_api::{
    CreateApiKeyRequest, OrderSettings, OrderType, PlaceOrderRequest, RiskRules, Role, Schedule,
    Side, SignalFilter, SubmitSignalRequest, Trigger, codec::call_raw, schedule, trigger,
};
use tradeplane_e2e::{
    ADMIN_KEY, TestServer, any_signal_pipeline, bad_request_field, error_reason, list_signals,
    place_order_refused, try_create_pipeline,
};

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

#[tokio::test]
async fn no_rpc_answers_hostile_input_with_an_internal_error() {
    let server = TestServer::start().await;
    let channel = Channel::from_shared(server.grpc_url())
        .expect("valid url")
        .connect()
        .await
        .expect("connect");
    let pool = DescriptorPool::decode(tradeplane_api::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut calls = 0;
    let mut failures = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            for (case, body) in corpus(&method.input()) {
                calls += 1;
                if let Err(why) = check(call(&channel, &method, body).await) {
                    failures.push(format!("{}: {case}: {why}", method.full_name()));
                }
            }
        }
    }
    assert!(calls > 300, "the corpus covers every RPC ({calls} calls)");
    assert!(
        failures.is_empty(),
        "{} bad answers:\n{}",
        failures.len(),
        failures.join("\n")
    );

    for method in pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
    {
        if method.name().starts_with("List") {
            let reply = call(&channel, &method, Bytes::new()).await;
            let answer =
                reply.unwrap_or_else(|s| panic!("{} fails afterwards: {s:?}", method.name()));
            if let Some(bytes) = answer {
                let message = DynamicMessage::decode(method.output(), bytes).expect("decodes");
                if let Some(bad) = invalid_well_known(&message) {
                    panic!("{} answers an invalid {bad}", method.name());
                }
            }
        }
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
}

/// The cases for one request type: (name, encoded body).
fn corpus(input: &MessageDescriptor) -> Vec<(&'static str, Bytes)> {
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
async fn call(
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
fn check(answer: Result<Option<Bytes>, Status>) -> Result<(), String> {
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

/// The first Timestamp or Duration in `message` that proto3-JSON cannot
/// print: seconds outside 0001–9999 (±10,000 years for a duration) or
/// nanos outside their range.
fn invalid_well_known(message: &DynamicMessage) -> Option<String> {
    const YEAR_1: i64 = -62_135_596_800;
    const YEAR_10000: i64 = 253_402_300_800;
    const TEN_THOUSAND_YEARS: i64 = 315_576_000_000;
    let number = |name: &str| {
        message
            .get_field_by_name(name)
            .and_then(|v| v.as_i64().or(v.as_i32().map(i64::from)))
    };
    match prost_reflect::ReflectMessage::descriptor(message).full_name() {
        "google.protobuf.Timestamp" => {
            let (seconds, nanos) = (number("seconds")?, number("nanos")?);
            let valid =
                (YEAR_1..YEAR_10000).contains(&seconds) && (0..1_000_000_000).contains(&nanos);
            return (!valid).then(|| format!("Timestamp {seconds}s {nanos}ns"));
        }
        "google.protobuf.Duration" => {
            let (seconds, nanos) = (number("seconds")?, number("nanos")?);
            let valid = seconds.abs() <= TEN_THOUSAND_YEARS && nanos.abs() < 1_000_000_000;
            return (!valid).then(|| format!("Duration {seconds}s {nanos}ns"));
        }
        _ => {}
    }
    message.fields().find_map(|(_, value)| invalid_in(value))
}

fn invalid_in(value: &Value) -> Option<String> {
    match value {
        Value::Message(inner) => invalid_well_known(inner),
        Value::List(items) => items.iter().find_map(invalid_in),
        Value::Map(entries) => entries.values().find_map(invalid_in),
        _ => None,
    }
}

#[tokio::test]
async fn each_class_of_hostile_input_is_refused_by_name() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let channel = Channel::from_shared(server.grpc_url())
        .expect("valid url")
        .connect()
        .await
        .expect("connect");
    let pool = DescriptorPool::decode(tradeplane_api::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let submit = pool
        .get_service_by_name("tradeplane.v1.SignalService")
        .and_then(|s| s.methods().find(|m| m.name() == "SubmitSignal"))
        .expect("SubmitSignal");

    // Undecodable: the sender's error, metered as such.
    let wire_type_7 = Bytes::from_static(&[0x0f, 0x00]);
    let status = call(&channel, &submit, wire_type_7)
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(error_reason(&status), "MALFORMED_REQUEST");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"rpc_method="tradeplane.v1.SignalService/SubmitSignal",rpc_response_status_code="INVALID_ARGUMENT""#),
        "a client error in the metrics"
    );

    // Over a size limit: refused by field, nothing stored.
    let request = SubmitSignalRequest {
        request_id: "r".repeat(1 << 20),
        symbol: "BTCUSDT".into(),
        action: "buy".into(),
        ..Default::default()
    };
    let status = client
        .signals()
        .submit_signal(request)
        .await
        .expect_err("refused");
    assert_eq!(
        (error_reason(&status), bad_request_field(&status)),
        ("FIELD_LIMIT".to_string(), "request_id".to_string())
    );
    assert!(
        list_signals(&client, SignalFilter::default())
            .await
            .is_empty(),
        "nothing stored"
    );

    // Out-of-range durations and unknown enums, by field.
    let mut negative_cooldown = any_signal_pipeline("negative-cooldown");
    negative_cooldown.risk = Some(RiskRules {
        cooldown: Some(prost_types::Duration {
            seconds: -1,
            nanos: 0,
        }),
        ..Default::default()
    });
    let mut endless_interval = any_signal_pipeline("endless-interval");
    endless_interval.trigger = Some(Trigger {
        kind: Some(trigger::Kind::Schedule(Schedule {
            spec: Some(schedule::Spec::Interval(prost_types::Duration {
                seconds: i64::MAX,
                nanos: 2_000_000_000,
            })),
            symbol: "BTCUSDT".into(),
            action: "buy".into(),
        })),
    });
    let mut unknown_type = any_signal_pipeline("unknown-type");
    unknown_type.order = Some(OrderSettings {
        r#type: 999,
        ..Default::default()
    });
    for (pipeline, field) in [
        (negative_cooldown, "pipeline.risk.cooldown"),
        (endless_interval, "pipeline.trigger.schedule.interval"),
        (unknown_type, "pipeline.order.type"),
    ] {
        let status = try_create_pipeline(&client, pipeline)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(bad_request_field(&status), field);
    }
    let ttl_past_9999 = CreateApiKeyRequest {
        name: "forever".into(),
        role: Role::Viewer as i32,
        ttl: Some(prost_types::Duration {
            seconds: 300_000_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let status = client
        .security()
        .create_api_key(ttl_past_9999)
        .await
        .expect_err("refused");
    assert_eq!(bad_request_field(&status), "ttl");
    let status = place_order_refused(
        &client,
        PlaceOrderRequest {
            exchange: "paper".into(),
            symbol: "BTC/USDT".into(),
            side: Side::Buy as i32,
            r#type: OrderType::Market as i32,
            quantity: "0.01".into(),
            time_in_force: 999,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(bad_request_field(&status), "time_in_force");
}
