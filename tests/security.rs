//! Security end to end: the role × RPC matrix, API key life cycle, rate
//! limits on both surfaces (and their memory bound), allowlists, webhook
//! secret rotation, the trading halt, the audit chain and TLS / mTLS.

use std::time::Duration;

use futures::StreamExt;
use prost::Message;
use prost_types::FileDescriptorSet;
use tonic::{Code, Status, codec::Streaming, transport::Channel};
use tonic_types::StatusExt;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    ADMIN_KEY, PASSPHRASE, TestServer, audit_events, bad_request_field, binary,
    error_reason as reason, halt_trading, post_webhook, refusal, reset_breaker, resume_trading,
};

/// Every method of the four tradeplane services: (path, client streaming,
/// server streaming).
fn contract_methods() -> Vec<(String, bool, bool)> {
    let set = FileDescriptorSet::decode(tradeplane_api::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods.push((
                    format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    method.client_streaming(),
                    method.server_streaming(),
                ));
            }
        }
    }
    methods
}

fn authorized<T>(mut request: tonic::Request<T>, key: Option<&str>) -> tonic::Request<T> {
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    request
}

/// Calls `path` with an empty message (valid for every request type) and
/// returns the status the call ended with before any message.
async fn call_empty(
    channel: Channel,
    key: Option<&str>,
    path: &str,
    client_streaming: bool,
    server_streaming: bool,
) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path: http::uri::PathAndQuery = path.parse().unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    match (client_streaming, server_streaming) {
        (false, false) => grpc
            .unary(authorized(tonic::Request::new(()), key), path, codec)
            .await
            .map(|_| ()),
        (false, true) => {
            let response = grpc
                .server_streaming(authorized(tonic::Request::new(()), key), path, codec)
                .await?;
            drop::<Streaming<()>>(response.into_inner());
            Ok(())
        }
        _ => {
            let request = authorized(tonic::Request::new(futures::stream::empty::<()>()), key);
            let response = grpc.streaming(request, path, codec).await?;
            let mut stream = response.into_inner();
            while let Some(item) = stream.next().await {
                item?;
            }
            Ok(())
        }
    }
}

/// Lists signals as `client`: a call every role may make, so the answer
/// says whether the key itself is let in.
async fn list_as(client: &Client) -> Result<(), Status> {
    client
        .signals()
        .list_signals(ListSignalsRequest::default())
        .await
        .map(drop)
}

/// Creates an API key as `admin`; a refusal comes back as the error.
async fn create_api_key(
    admin: &Client,
    request: CreateApiKeyRequest,
) -> Result<CreateApiKeyResponse, Status> {
    admin
        .security()
        .create_api_key(request)
        .await
        .map(tonic::Response::into_inner)
}

/// A viewer key named `name`, retried under `request_id` when not empty.
fn viewer_key(request_id: &str, name: &str) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        request_id: request_id.into(),
        name: name.into(),
        role: Role::Viewer as i32,
        ..Default::default()
    }
}

/// Replaces the allowlist of `surface` as `admin`; a refusal comes back as
/// the error.
async fn update_allowlist(
    admin: &Client,
    surface: Surface,
    cidrs: &[&str],
    include_tradingview_preset: bool,
) -> Result<Allowlist, Status> {
    admin
        .security()
        .update_allowlist(UpdateAllowlistRequest {
            allowlist: Some(Allowlist {
                surface: surface as i32,
                cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            }),
            include_tradingview_preset,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().allowlist.expect("an allowlist"))
}

/// Every exchange's circuit breaker.
async fn breakers(admin: &Client) -> Vec<CircuitBreaker> {
    admin
        .security()
        .list_circuit_breakers(ListCircuitBreakersRequest {})
        .await
        .expect("ListCircuitBreakers answers")
        .into_inner()
        .breakers
}

/// The audit chain check.
async fn verify_audit_log(admin: &Client) -> VerifyAuditLogResponse {
    admin
        .security()
        .verify_audit_log(VerifyAuditLogRequest {})
        .await
        .expect("VerifyAuditLog answers")
        .into_inner()
}

/// One page of three audit events, newest first, from `page_token`.
async fn audit_page(admin: &Client, page_token: String) -> ListAuditEventsResponse {
    admin
        .security()
        .list_audit_events(ListAuditEventsRequest {
            page_size: 3,
            page_token,
            ..Default::default()
        })
        .await
        .expect("ListAuditEvents answers")
        .into_inner()
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_table_allows() {
    let server = TestServer::start().await;
    let mut keys = vec![
        (None, Role::Unspecified, "no key"),
        (
            Some("tpk_not_a_real_key".to_string()),
            Role::Unspecified,
            "bad key",
        ),
    ];
    for role in [Role::Viewer, Role::Submitter, Role::Trader, Role::Admin] {
        let token = server.create_key(role.as_str_name(), role).await;
        keys.push((Some(token), role, role.as_str_name()));
    }
    let channel = server.channel().await;
    let methods = contract_methods();
    assert!(methods.len() >= 40, "{methods:?}");
    let mut cells = 0;
    for (path, client_streaming, server_streaming) in &methods {
        let needed = tradeplane_server::security::policy::POLICY
            .iter()
            .find(|(method, _)| format!("/{method}") == *path)
            .map(|(_, role)| *role)
            .unwrap_or_else(|| panic!("{path} is not in the policy table"));
        for (key, role, label) in &keys {
            let result = call_empty(
                channel.clone(),
                key.as_deref(),
                path,
                *client_streaming,
                *server_streaming,
            )
            .await;
            let refused = result
                .as_ref()
                .err()
                .filter(|s| matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied));
            if key.is_none() || *role == Role::Unspecified {
                let status = refused.unwrap_or_else(|| panic!("{path} with {label}: {result:?}"));
                assert_eq!(status.code(), Code::Unauthenticated, "{path} with {label}");
                let expected = if key.is_none() {
                    "MISSING_API_KEY"
                } else {
                    "INVALID_API_KEY"
                };
                assert_eq!(reason(status), expected, "{path} with {label}");
            } else if (*role as i32) < (needed as i32) {
                let status = refused
                    .unwrap_or_else(|| panic!("{path} with {label} should be denied: {result:?}"));
                assert_eq!(status.code(), Code::PermissionDenied, "{path} with {label}");
                assert_eq!(reason(status), "ROLE_TOO_LOW");
                assert_eq!(
                    status.get_details_error_info().unwrap().domain,
                    "tradeplane"
                );
            } else {
                assert!(
                    refused.is_none(),
                    "{path} with {label} should be allowed: {result:?}"
                );
            }
            cells += 1;
        }
    }
    assert_eq!(cells, methods.len() * 6);

    // Health and reflection need no key.
    let client = server.client_with_key(None).await;
    assert_eq!(client.check("").await.unwrap().status, 1);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_auth_failures_total{reason="role_too_low",surface="grpc"}"#),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn api_keys_are_shown_once_expire_revoke_and_survive_restarts() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let created = create_api_key(&admin, viewer_key("create-bot", "bot"))
        .await
        .unwrap();
    let token = created.token.clone();
    let key = created.api_key.unwrap();
    assert!(token.starts_with("tpk_") && token.len() == 68);
    assert!(token.starts_with(&key.prefix) && key.prefix.len() == 12);

    // A retried create makes no second key and cannot show the token again.
    let retry = create_api_key(&admin, viewer_key("create-bot", "bot"))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&retry),
        (Code::AlreadyExists, "ALREADY_EXISTS".into())
    );
    let bad = create_api_key(
        &admin,
        CreateApiKeyRequest {
            name: "no role".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_field(&bad), "name");
    let unknown_role = create_api_key(
        &admin,
        CreateApiKeyRequest {
            name: "future-bot".into(),
            role: 999,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        (unknown_role.code(), bad_request_field(&unknown_role)),
        (Code::InvalidArgument, "role".into()),
        "a role number no role has is refused, not read as no role"
    );

    let bot = server.client_with_key(Some(&token)).await;
    list_as(&bot).await.unwrap();
    let listed = admin
        .security()
        .list_api_keys(ListApiKeysRequest::default())
        .await
        .unwrap()
        .into_inner();
    let listed_bot = listed.api_keys.iter().find(|k| k.id == key.id).unwrap();
    assert!(listed_bot.last_used_time.is_some(), "use is recorded");
    assert!(
        !format!("{listed:?}").contains(&token),
        "tokens are never listed"
    );

    // Keys outlive a restart; last use is saved at shutdown.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let bot = server.client_with_key(Some(&token)).await;
    list_as(&bot).await.unwrap();
    let admin = server.client().await;

    let short = create_api_key(
        &admin,
        CreateApiKeyRequest {
            ttl: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            ..viewer_key("", "short")
        },
    )
    .await
    .unwrap()
    .token;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = list_as(&server.client_with_key(Some(&short)).await)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&expired),
        (Code::Unauthenticated, "EXPIRED_API_KEY".into())
    );

    admin
        .security()
        .revoke_api_key(RevokeApiKeyRequest {
            id: key.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let revoked = list_as(&bot).await.unwrap_err();
    assert_eq!(
        refusal(&revoked),
        (Code::Unauthenticated, "INVALID_API_KEY".into())
    );
    let all = admin
        .security()
        .list_api_keys(ListApiKeysRequest {
            include_revoked: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(all.api_keys.iter().any(|k| k.id == key.id && k.revoked));
    server.stop().await;
}

fn tight_limits() -> RateLimits {
    RateLimits {
        per_api_key: Some(RateLimit {
            rate_per_second: 1.0,
            burst: 3,
        }),
        per_client_ip: Some(RateLimit {
            rate_per_second: 1.0,
            burst: 3,
        }),
    }
}

fn tradingview_body(passphrase: &str) -> String {
    // A fresh order id each time, so that no post is a duplicate delivery.
    serde_json::json!({
        "passphrase": passphrase, "ticker": "BTCUSDT", "action": "buy",
        "order_id": uuid::Uuid::now_v7().to_string(),
    })
    .to_string()
}

/// The status of a TradingView post with `passphrase`.
async fn webhook_status(server: &TestServer, passphrase: &str) -> reqwest::StatusCode {
    post_webhook(&server.webhook_url(), tradingview_body(passphrase), &[])
        .await
        .status()
}

#[tokio::test]
async fn rate_limits_refuse_with_retry_hints_on_both_surfaces() {
    let server = TestServer::start().await;
    let token = server.create_key("busy-bot", Role::Submitter).await;
    let admin = server.client().await;
    let limits = admin
        .security()
        .update_rate_limits(UpdateRateLimitsRequest {
            limits: Some(tight_limits()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .limits
        .unwrap();
    assert_eq!(limits.per_api_key.unwrap().burst, 3);

    let bot = server.client_with_key(Some(&token)).await;
    for _ in 0..3 {
        list_as(&bot).await.unwrap();
    }
    let limited = list_as(&bot).await.unwrap_err();
    assert_eq!(
        refusal(&limited),
        (Code::ResourceExhausted, "RATE_LIMITED".into())
    );
    let delay = limited
        .get_details_retry_info()
        .unwrap()
        .retry_delay
        .unwrap();
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );

    for _ in 0..3 {
        assert_eq!(webhook_status(&server, PASSPHRASE).await, 202);
    }
    let refused = post_webhook(&server.webhook_url(), tradingview_body(PASSPHRASE), &[]).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");

    let top = admin
        .security()
        .list_rate_limited(ListRateLimitedRequest { limit: 10 })
        .await
        .unwrap()
        .into_inner()
        .clients;
    assert!(
        top.iter()
            .any(|c| c.scope == "api_key" && c.client == "busy-bot" && c.rejected == 1),
        "{top:?}"
    );
    assert!(
        top.iter()
            .any(|c| c.scope == "client_ip" && c.client == "127.0.0.1"),
        "{top:?}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_rate_limited_total{scope="api_key",surface="grpc"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tradeplane_rate_limited_total{scope="client_ip",surface="webhook"} 1"#)
    );
    assert!(
        !metrics.contains("127.0.0.1"),
        "client addresses are never metric labels"
    );

    // The change is persisted: a restart keeps the tight limits.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let limits = server
        .client()
        .await
        .security()
        .get_rate_limits(GetRateLimitsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        limits
            .limits
            .unwrap()
            .per_client_ip
            .unwrap()
            .rate_per_second,
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn bucket_memory_stays_bounded_under_100k_distinct_addresses() {
    let server = TestServer::start_with(|config| {
        config.webhook.trust_forwarded_for = true;
        config.security.rate_limits.per_client_ip.rate_per_second = 0.1;
        config.security.rate_limits.per_client_ip.burst = 1;
    })
    .await;
    let client = reqwest::Client::new();
    let url = server.http_url("/webhooks/tradingview");
    let statuses = futures::stream::iter(0u32..100_000)
        .map(|n| {
            let request = client
                .post(&url)
                .header(
                    "x-forwarded-for",
                    std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string(),
                )
                .header("content-type", "application/json")
                .body("{}");
            async move { request.send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(400) | Ok(401))),
        "every new address gets its one token"
    );
    let metrics = server.metrics().await;
    let buckets: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tradeplane_rate_limit_buckets "))
        .expect("bucket gauge")
        .parse()
        .unwrap();
    assert!(
        buckets > 0.0 && buckets <= tradeplane_server::security::rate_limit::MAX_BUCKETS as f64,
        "{buckets}"
    );
    // One address sending twice is still limited after the flood.
    let again = post_webhook(
        &server.webhook_url(),
        tradingview_body(PASSPHRASE),
        &[("x-forwarded-for", "10.0.0.1")],
    )
    .await;
    assert!(
        matches!(again.status().as_u16(), 429 | 202),
        "{}",
        again.status()
    );
    server.stop().await;
}

#[tokio::test]
async fn allowlists_guard_both_surfaces_and_ignore_a_forged_forwarded_for() {
    let server = TestServer::start_with(|config| {
        config.webhook.allowlist = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    // The peer is 127.0.0.1; a forged header claiming 10.x changes nothing.
    let forged = post_webhook(
        &server.webhook_url(),
        tradingview_body(PASSPHRASE),
        &[("x-forwarded-for", "10.1.2.3")],
    )
    .await;
    assert_eq!(forged.status(), 403);
    let admin = server.client().await;
    let updated = update_allowlist(&admin, Surface::Webhook, &["127.0.0.1"], true)
        .await
        .unwrap();
    assert!(
        updated.cidrs.contains(&"127.0.0.1/32".to_string())
            && updated.cidrs.contains(&"52.89.214.238/32".to_string())
    );
    assert_eq!(webhook_status(&server, PASSPHRASE).await, 202);

    let bad = update_allowlist(&admin, Surface::Grpc, &["10.0.0.0/8", "not-a-cidr"], false)
        .await
        .unwrap_err();
    assert_eq!(bad_request_field(&bad), "allowlist.cidrs[1]");
    let lockout = update_allowlist(&admin, Surface::Grpc, &["10.0.0.0/8"], false)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&lockout),
        (Code::FailedPrecondition, "WOULD_LOCK_OUT_CALLER".into())
    );
    server.stop().await;

    // A gRPC allowlist from configuration: calls are refused, health is not.
    let server = TestServer::start_with(|config| {
        config.security.grpc_allowlist = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let client = server.client().await;
    let denied = list_as(&client).await.unwrap_err();
    assert_eq!(
        refusal(&denied),
        (Code::PermissionDenied, "IP_NOT_ALLOWED".into())
    );
    assert_eq!(client.check("readiness").await.unwrap().status, 1);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_allowlist_rejections_total{surface="grpc"} 1"#),
        "{metrics}"
    );
    server.stop().await;

    // Behind a trusted proxy, the forwarded address is the client's.
    let server = TestServer::start_with(|config| {
        config.webhook.allowlist = vec!["10.0.0.0/8".parse().unwrap()];
        config.webhook.trust_forwarded_for = true;
    })
    .await;
    for (address, status) in [("10.1.2.3", 202), ("192.0.2.1", 403)] {
        let reply = post_webhook(
            &server.webhook_url(),
            tradingview_body(PASSPHRASE),
            &[("x-forwarded-for", address)],
        )
        .await;
        assert_eq!(reply.status(), status, "forwarded for {address}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_webhook_secret_keeps_the_old_one_for_the_grace_window() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let rotate = |request_id: &str| RotateWebhookSecretRequest {
        request_id: request_id.into(),
        grace: Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
    };
    let rotated = admin
        .security()
        .rotate_webhook_secret(rotate("rotate-1"))
        .await
        .unwrap()
        .into_inner();
    let retried = admin
        .security()
        .rotate_webhook_secret(rotate("rotate-1"))
        .await
        .unwrap_err();
    assert_eq!(
        retried.code(),
        Code::AlreadyExists,
        "a retry does not rotate twice"
    );

    assert_eq!(webhook_status(&server, &rotated.secret).await, 202);
    assert_eq!(
        webhook_status(&server, PASSPHRASE).await,
        202,
        "old one in grace"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        webhook_status(&server, PASSPHRASE).await,
        401,
        "grace is over"
    );

    // The new secret outlives a restart, whatever the configuration says.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(webhook_status(&server, &rotated.secret).await, 202);
    assert_eq!(webhook_status(&server, PASSPHRASE).await, 401);
    let events = audit_events(&server.client().await, "webhook_secret.").await;
    assert_eq!(events.len(), 1);
    assert!(!events[0].detail.contains(&rotated.secret));
    server.stop().await;
}

/// Whether the server's halted gauge reads `value`.
async fn halted_gauge_reads(server: &TestServer, value: u8) -> bool {
    server
        .metrics()
        .await
        .contains(&format!("tradeplane_trading_halted {value}"))
}

#[tokio::test]
async fn halt_and_resume_are_persisted_metered_and_audited() {
    let server = TestServer::start().await;
    let trader = server
        .client_with_key(Some(&server.create_key("desk", Role::Trader).await))
        .await;
    let mut watch = server
        .client()
        .await
        .security()
        .watch_audit_events(WatchAuditEventsRequest {
            filter: Some(AuditFilter {
                action: "trading.".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();

    let halted = trader
        .security()
        .halt_trading(HaltTradingRequest {
            reason: "exchange incident".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(halted.halted && halted.actor == "desk" && halted.reason == "exchange incident");
    assert!(halted_gauge_reads(&server, 1).await);
    let denied = trader
        .security()
        .resume_trading(ResumeTradingRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        denied.code(),
        Code::PermissionDenied,
        "only an admin resumes"
    );
    let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.event.unwrap().action, "trading.halt");

    // Still halted after a restart.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let admin = server.client().await;
    let status = admin
        .security()
        .get_trading_status(GetTradingStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(status.halted && status.actor == "desk");
    assert!(halted_gauge_reads(&server, 1).await);
    let resumed = admin
        .security()
        .resume_trading(ResumeTradingRequest {
            reason: "all clear".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(!resumed.halted && resumed.actor == "admin");
    assert!(halted_gauge_reads(&server, 0).await);

    let events = audit_events(&server.client().await, "trading.").await;
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            ("trading.resume", "admin", AuditOutcome::Success as i32),
            ("trading.halt", "desk", AuditOutcome::Success as i32)
        ]
    );
    assert!(
        events.iter().all(|e| e.source_address == "127.0.0.1"),
        "{events:?}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            r#"tradeplane_audit_events_total{action="trading.resume",outcome="success"} 1"#
        ),
        "{metrics}"
    );
    let by_desk = admin
        .security()
        .list_audit_events(ListAuditEventsRequest {
            filter: Some(AuditFilter {
                actor: "desk".into(),
                outcome: AuditOutcome::Success as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(by_desk.len(), 1);
    assert_eq!(by_desk[0].action, "trading.halt");
    server.stop().await;
}

#[tokio::test]
async fn breakers_are_tripped_and_reset_through_the_admin_api() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let listed = breakers(&admin).await;
    assert_eq!(listed[0].exchange, "paper");
    assert_eq!(listed[0].state, CircuitBreakerState::Closed as i32);
    let tripped = admin
        .security()
        .trip_circuit_breaker(TripCircuitBreakerRequest {
            exchange: "paper".into(),
            reason: "maintenance".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .breaker
        .unwrap();
    assert_eq!(tripped.state, CircuitBreakerState::Open as i32);
    assert_eq!(tripped.reason, "manual trip: maintenance");
    let unknown = admin
        .security()
        .trip_circuit_breaker(TripCircuitBreakerRequest {
            exchange: "nowhere".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(server.metrics().await.contains(
        r#"tradeplane_circuit_breaker_state{account="default",exchange="paper",state="open"} 1"#
    ));

    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let admin = server.client().await;
    let listed = breakers(&admin).await;
    assert_eq!(
        listed[0].state,
        CircuitBreakerState::Open as i32,
        "a manual trip survives a restart"
    );
    reset_breaker(&admin, "paper").await;
    let actions: Vec<_> = audit_events(&server.client().await, "circuit_breaker.")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["circuit_breaker.reset", "circuit_breaker.trip"]);
    server.stop().await;
}

#[tokio::test]
async fn authentication_failures_are_audited_in_aggregate() {
    let server = TestServer::start_with(|config| {
        config.security.auth_failure_audit_window = Duration::from_millis(200);
    })
    .await;
    let intruder = server.client_with_key(Some("tpk_guess")).await;
    for _ in 0..50 {
        list_as(&intruder).await.unwrap_err();
    }
    for _ in 0..5 {
        assert_eq!(webhook_status(&server, "wrong").await, 401);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let events = audit_events(&server.client().await, "auth.failure").await;
    let details: Vec<_> = events
        .iter()
        .map(|e| (e.target.as_str(), e.detail.as_str()))
        .collect();
    // One event per surface, reason and actor each window: a loaded box
    // may split a burst across two windows, never the counts.
    let counted = |surface: &str, suffix: &str| -> (usize, u32) {
        let matching: Vec<u32> = details
            .iter()
            .filter(|(target, _)| *target == surface)
            .filter_map(|(_, detail)| detail.strip_suffix(suffix)?.parse().ok())
            .collect();
        (matching.len(), matching.iter().sum())
    };
    let (grpc_events, grpc_failures) = counted("grpc", " invalid_api_key from 127.0.0.1");
    let (webhook_events, webhook_failures) = counted("webhook", " bad_passphrase from 127.0.0.1");
    assert_eq!((grpc_failures, webhook_failures), (50, 5), "{details:?}");
    assert_eq!(
        grpc_events + webhook_events,
        events.len(),
        "nothing else: {details:?}"
    );
    assert!(
        grpc_events <= 2 && webhook_events <= 2,
        "aggregated, not one event per failure: {details:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e.outcome == AuditOutcome::Denied as i32)
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            r#"tradeplane_auth_failures_total{reason="invalid_api_key",surface="grpc"} 50"#
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn the_audit_chain_catches_a_row_edited_in_sqlite() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    for name in ["a", "b", "c"] {
        server.create_key(name, Role::Viewer).await;
    }
    halt_trading(&admin).await;
    resume_trading(&admin).await;

    // Paging, newest first.
    let first = audit_page(&admin, String::new()).await;
    let sequences: Vec<u64> = first.events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [5, 4, 3]);
    let second = audit_page(&admin, first.next_page_token).await;
    assert_eq!(
        second.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [2, 1]
    );
    assert!(second.next_page_token.is_empty());
    assert_eq!(second.events[1].previous_hash, "");
    assert_eq!(second.events[0].previous_hash, second.events[1].hash);

    let intact = verify_audit_log(&admin).await;
    assert!(intact.intact && intact.events_checked == 5, "{intact:?}");

    // The table refuses edits; someone with the file drops the guard and
    // rewrites history anyway.
    let dir = server.stop().await;
    let db = rusqlite::Connection::open(dir.path().join("tradeplane.db")).unwrap();
    let refused = db.execute(
        "UPDATE audit_events SET actor = 'nobody' WHERE sequence = 2",
        [],
    );
    assert!(refused.is_err(), "the audit table is append-only");
    db.execute_batch(
        "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET detail = 'name=b role=admin' WHERE sequence = 2;",
    )
    .unwrap();
    drop(db);

    let server = TestServer::start_in(dir, |_| {}).await;
    let broken = verify_audit_log(&server.client().await).await;
    assert!(!broken.intact);
    assert_eq!(broken.first_broken_sequence, 2, "{broken:?}");

    let out = tokio::process::Command::new(binary("tpctl"))
        .args([
            "--server",
            &server.grpc_url(),
            "--api-key",
            ADMIN_KEY,
            "admin",
            "audit",
            "verify",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN at sequence 2"));
    server.stop().await;
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as
/// PEM files in `dir`.
fn make_certificates(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["tpctl".into()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", server_cert.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.pem", client_cert.pem()),
        ("client.key", client_key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
}

async fn https_get(port: u16, ca_pem: &[u8], path: &str) -> String {
    use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn tls_and_mtls_serve_verified_clients_and_refuse_others() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let path = |name: &str| certs.path().join(name);
    let server = TestServer::start_with(|config| {
        config.tls.cert_path = path("server.pem");
        config.tls.key_path = path("server.key");
        config.tls.client_ca_path = path("ca.pem");
    })
    .await;
    let url = format!("https://{}", server.grpc_addr);
    let read = |name: &str| std::fs::read(path(name)).unwrap();
    let with_identity = tradeplane_client::TlsOptions {
        ca_cert: Some(read("ca.pem")),
        identity: Some((read("client.pem"), read("client.key"))),
    };
    let client = tradeplane_client::Client::connect_tls(&url, Some(ADMIN_KEY), &with_identity)
        .await
        .unwrap();
    assert_eq!(client.check("readiness").await.unwrap().status, 1);
    list_as(&client).await.unwrap();

    // No client certificate: the handshake fails, nothing is served.
    let without_identity = tradeplane_client::TlsOptions {
        ca_cert: Some(read("ca.pem")),
        identity: None,
    };
    let refused = match tradeplane_client::Client::connect_tls(
        &url,
        Some(ADMIN_KEY),
        &without_identity,
    )
    .await
    {
        Err(_) => true,
        Ok(client) => client.check("").await.is_err(),
    };
    assert!(refused, "a client without a certificate is refused");
    // Plain text to a TLS port fails too.
    let plain = tradeplane_client::Client::connect(&server.grpc_url(), Some(ADMIN_KEY)).await;
    assert!(plain.is_err() || plain.unwrap().check("").await.is_err());

    // HTTPS on the HTTP port.
    let response = https_get(server.http_addr.port(), &read("ca.pem"), "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // tpctl over mTLS.
    let out = tokio::process::Command::new(binary("tpctl"))
        .args(["--server", &url, "--api-key", ADMIN_KEY, "admin", "status"])
        .arg("--ca-cert")
        .arg(path("ca.pem"))
        .arg("--client-cert")
        .arg(path("client.pem"))
        .arg("--client-key")
        .arg(path("client.key"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("trading"));
    // A host:port address is plaintext unless --tls: to a TLS port that
    // fails with a hint, and --tls speaks TLS.
    let host_port = server.grpc_addr.to_string();
    let tpctl_to = |tls: bool| {
        let mut command = tokio::process::Command::new(binary("tpctl"));
        command
            .args([
                "--server",
                &host_port,
                "--api-key",
                ADMIN_KEY,
                "admin",
                "status",
            ])
            .arg("--ca-cert")
            .arg(path("ca.pem"))
            .arg("--client-cert")
            .arg(path("client.pem"))
            .arg("--client-key")
            .arg(path("client.key"));
        if tls {
            command.arg("--tls");
        }
        command.output()
    };
    let out = tpctl_to(false).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "plaintext to a TLS port fails");
    assert!(err.contains("https:// address or --tls"), "{err}");
    let out = tpctl_to(true).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;

    // TLS without a client CA accepts clients that only trust the server.
    let server = TestServer::start_with(|config| {
        config.tls.cert_path = path("server.pem");
        config.tls.key_path = path("server.key");
    })
    .await;
    let url = format!("https://{}", server.grpc_addr);
    let client = tradeplane_client::Client::connect_tls(&url, Some(ADMIN_KEY), &without_identity)
        .await
        .unwrap();
    list_as(&client).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn tpctl_takes_its_key_from_the_flag_then_the_environment_then_its_config_file() {
    let server = TestServer::start().await;
    let viewer = server.create_key("reader", Role::Viewer).await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("tpctl.toml");
    std::fs::write(&config, format!("api_key = \"{viewer}\"\n")).unwrap();
    let run = |flag: Option<&str>, env: Option<&str>| {
        let mut command = tokio::process::Command::new(binary("tpctl"));
        command
            .args(["--server", &server.grpc_url(), "--config"])
            .arg(&config)
            .env_remove("TRADEPLANE_API_KEY");
        if let Some(flag) = flag {
            command.args(["--api-key", flag]);
        }
        if let Some(env) = env {
            command.env("TRADEPLANE_API_KEY", env);
        }
        command.args(["admin", "key", "list"]);
        async move {
            let out = command.output().await.unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        }
    };
    let (ok, err) = run(None, None).await;
    assert!(
        !ok && err.contains("ROLE_TOO_LOW"),
        "the file's viewer key: {err}"
    );
    let (ok, err) = run(None, Some(ADMIN_KEY)).await;
    assert!(ok, "the environment beats the file: {err}");
    let (ok, err) = run(Some("tpk_wrong"), Some(ADMIN_KEY)).await;
    assert!(
        !ok && err.contains("INVALID_API_KEY"),
        "the flag beats the environment: {err}"
    );
    server.stop().await;
}
