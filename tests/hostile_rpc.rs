//! Hostile input on every RPC, generated from the descriptor sets so that
//! a new RPC is covered without editing this file (the corpus is
//! `support/hostile.rs`). No answer may be INTERNAL or
//! UNKNOWN; every INVALID_ARGUMENT names a field or a reason; lists stay
//! valid for proto3-JSON clients; and the server is healthy afterwards.

use bytes::Bytes;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tradeplane_api::{
    CreateApiKeyRequest, OrderSettings, OrderType, PlaceOrderRequest, RiskRules, Role, Schedule,
    Side, SignalFilter, SubmitSignalRequest, Trigger, schedule, trigger,
};
use tradeplane_e2e::{
    TestServer, any_signal_pipeline, bad_request_field, error_reason, hostile, list_signals,
    place_order_refused, try_create_pipeline,
};

#[tokio::test]
async fn no_rpc_answers_hostile_input_with_an_internal_error() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let (calls, failures) = hostile::walk(&channel, 1).await;
    assert!(calls > 300, "the corpus covers every RPC ({calls} calls)");
    assert!(
        failures.is_empty(),
        "{} bad answers:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let pool = DescriptorPool::decode(tradeplane_api::FILE_DESCRIPTOR_SET).expect("descriptor set");
    for method in pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
    {
        if method.name().starts_with("List") {
            let reply = hostile::call(&channel, &method, Bytes::new()).await;
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
    let channel = server.channel().await;
    let pool = DescriptorPool::decode(tradeplane_api::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let submit = pool
        .get_service_by_name("tradeplane.v1.SignalService")
        .and_then(|s| s.methods().find(|m| m.name() == "SubmitSignal"))
        .expect("SubmitSignal");

    // Undecodable: the sender's error, metered as such.
    let wire_type_7 = Bytes::from_static(&[0x0f, 0x00]);
    let status = hostile::call(&channel, &submit, wire_type_7)
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
