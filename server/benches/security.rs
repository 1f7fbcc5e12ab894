//! Hot paths of the gRPC auth layer that every call pays: the policy
//! lookup, the API key check (SHA-256 and a map lookup), and a token from
//! the rate limiter.
//!
//! Run: `cargo bench -p tradeplane-server --bench security`

use std::{hint::black_box, net::IpAddr, time::Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tradeplane_server::{
    audit::AuditEntry,
    security::{
        keys::{ApiKeys, NewKey},
        policy,
        rate_limit::{Client, Limits, RateLimiter},
    },
    store::{self, StoreConfig},
};

fn auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let meter = opentelemetry::global::meter("bench");
    let (keys, token) = runtime.block_on(async {
        let config = StoreConfig {
            max_batch: 64,
            read_connections: 1,
            ..StoreConfig::default()
        };
        let store = store::open(&url, &config, &meter)
            .await
            .expect("the store opens");
        let keys = ApiKeys::load(store).await.expect("keys load");
        let (_, token, _) = keys
            .create(
                NewKey {
                    name: "bench".into(),
                    role: tradeplane_api::Role::Submitter,
                    ttl: None,
                    request_id: None,
                },
                0,
                AuditEntry::system(),
            )
            .await
            .expect("a key");
        (keys, token)
    });
    let mut group = c.benchmark_group("auth");
    group.throughput(Throughput::Elements(1));
    group.bench_function("policy_lookup", |b| {
        b.iter(|| policy::access(black_box("/tradeplane.v1.SignalService/SubmitSignal")))
    });
    group.bench_function("authenticate_key", |b| {
        b.iter(|| {
            keys.authenticate(black_box(Some(token.as_str())), 1)
                .expect("the key is valid")
        })
    });
    let limiter = RateLimiter::new(Limits::default());
    let mut limits = Limits::default();
    limits.per_api_key.rate_per_second = 1e12;
    limiter.set_limits(limits);
    let client = Client::ApiKey {
        id: "id".into(),
        name: "bench".into(),
    };
    group.bench_function("rate_limit_token", |b| {
        b.iter(|| {
            limiter
                .check(black_box(&client), Instant::now(), 0)
                .expect("within the limit")
        })
    });
    let ips = RateLimiter::new(Limits::default());
    let mut n = 0u32;
    group.bench_function("rate_limit_new_address_flood", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let _ = ips.check(
                &Client::ClientIp(IpAddr::from(n.to_be_bytes())),
                Instant::now(),
                0,
            );
        })
    });
    group.finish();
}

criterion_group!(benches, auth);
criterion_main!(benches);
