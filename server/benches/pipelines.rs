//! Matching one accepted signal against 100 enabled pipelines: what the
//! intake pays per signal before it stores the signal and its executions.
//!
//! Run: `cargo bench -p tradeplane-server --bench pipelines`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tradeplane_api::{
    Instrument, InstrumentKind, Pipeline, Signal as WireSignal, SignalAction, SignalMatch,
    SignalOutcome, Sizing, Trigger, sizing, trigger,
};
use tradeplane_server::{
    model::signal::Signal,
    pipelines::spec::{Compiled, compile},
};

fn pipelines(c: &mut Criterion) {
    let compiled: Vec<Compiled> = (0..100)
        .map(|i| {
            compile(Pipeline {
                name: format!("p{i}"),
                trigger: Some(Trigger {
                    kind: Some(trigger::Kind::Signal(SignalMatch {
                        source: "tradingview".into(),
                        symbol_glob: if i % 2 == 0 {
                            "BTC/*".into()
                        } else {
                            "*/USDT".into()
                        },
                        actions: vec!["buy".into(), "exit".into()],
                        strategy: format!("s{}", i % 10),
                        min_confidence: "0.5".into(),
                    })),
                }),
                sizing: Some(Sizing {
                    method: Some(sizing::Method::FixedQuoteAmount("100".into())),
                }),
                ..Default::default()
            })
            .expect("a valid pipeline")
        })
        .collect();
    let signal = Signal::try_from(WireSignal {
        source: "tradingview".into(),
        strategy: "s3".into(),
        action: SignalAction::Buy as i32,
        confidence: "0.7".into(),
        outcome: SignalOutcome::Accepted as i32,
        instrument: Some(Instrument {
            symbol: "BTC/USDT".into(),
            kind: InstrumentKind::Spot as i32,
            ..Default::default()
        }),
        ..Default::default()
    })
    .expect("a readable signal");
    let mut group = c.benchmark_group("pipelines");
    group.throughput(Throughput::Elements(1));
    group.bench_function("match_100", |b| {
        b.iter(|| {
            compiled
                .iter()
                .filter(|p| p.matcher.as_ref().is_some_and(|m| m.matches(&signal)))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, pipelines);
criterion_main!(benches);
