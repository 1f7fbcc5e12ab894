//! Hot paths of signal intake: symbol normalization, validation, the
//! TradingView body parser, and durable group commit in SQLite.
//!
//! Run: `cargo bench -p tradeplane-server --bench signal_intake`

use std::{hint::black_box, sync::Arc, time::Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use tradeplane_server::{
    market::{instrument::Instrument, symbol::SymbolNormalizer},
    model::signal::{Intent, Overrides, Signal, SignalAction},
    signals::{config::SignalsConfig, validate::validate},
    store::{DedupeKey, SignalWrite, SqliteStore, Store, StoreConfig},
    webhook::tradingview::parse_body,
};

const BODY: &[u8] = br#"{"passphrase":"s3cret","strategy":"ema-cross","ticker":"BINANCE:BTCUSDT","exchange":"BINANCE",
"action":"buy","contracts":"0.0015","price":"65000.10","position_size":"0.0015","market_position":"long",
"order_id":"Long Entry","comment":"","interval":"15","time":"2026-05-01T12:00:00Z"}"#;

fn parsing(c: &mut Criterion) {
    let normalizer = SymbolNormalizer::default();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("normalize_symbol", |b| {
        b.iter(|| {
            normalizer
                .normalize(black_box("BINANCE:BTCUSDT.P"), "")
                .expect("the symbol normalizes")
        })
    });
    group.bench_function("tradingview_body", |b| {
        b.iter(|| parse_body(black_box(BODY)).expect("the template parses"))
    });
    let raw = parse_body(BODY).expect("the template parses").signal;
    let config = SignalsConfig::default();
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-01T12:00:01Z")
        .expect("a valid time")
        .to_utc();
    group.bench_function("validate", |b| {
        b.iter(|| {
            validate(black_box(&raw), &normalizer, &config, now, |_| None)
                .expect("the template is valid")
        })
    });
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let meter = opentelemetry::global::meter("bench");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(
        runtime
            .block_on(SqliteStore::open(
                &url,
                &StoreConfig {
                    max_batch: 512,
                    read_connections: 2,
                    ..StoreConfig::default()
                },
                &meter,
            ))
            .expect("the store opens"),
    );

    let mut group = c.benchmark_group("store");
    for concurrency in [1usize, 64] {
        group.throughput(Throughput::Elements(concurrency as u64));
        group.bench_function(format!("record_signal_x{concurrency}"), |b| {
            b.iter_custom(|iterations| {
                let store = store.clone();
                runtime.block_on(async move {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let writes = (0..concurrency).map(|_| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                store
                                    .record_signal(write())
                                    .await
                                    .expect("the write commits")
                            })
                        });
                        for write in writes.collect::<Vec<_>>() {
                            write.await.expect("the write task finishes");
                        }
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn write() -> SignalWrite {
    let id = uuid::Uuid::now_v7().to_string();
    let dedupe = DedupeKey {
        key: format!("r:{id}"),
        expires_ms: i64::MAX,
        earlier: None,
    };
    let signal = Signal {
        strategy: "bench".into(),
        raw_symbol: "BINANCE:BTCUSDT".into(),
        intent: Some(Intent {
            instrument: Instrument::spot("BTC", "USDT"),
            action: SignalAction::Buy,
            quantity: Some(Decimal::new(15, 4)),
            price: Some(Decimal::new(650001, 1)),
            confidence: None,
            target_position: None,
            strategy_position: None,
            event_time_ms: None,
            exit_percent: None,
            overrides: Overrides::default(),
        }),
        ..Signal::received(id, "bench", 0)
    };
    SignalWrite::new(&signal, Some(dedupe))
}

criterion_group!(benches, parsing, group_commit);
criterion_main!(benches);
