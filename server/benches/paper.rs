//! The paper exchange's order path in-process: a market order priced,
//! checked against the instrument rules and balances, filled and settled.
//!
//! Run: `cargo bench -p tradeplane-server --bench paper`

use std::collections::BTreeMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use tradeplane_server::{
    market::side::Side,
    model::order::OrderTicket,
    orders::exchanges::{
        Exchange,
        paper::{PaperConfig, PaperExchange},
    },
};

fn paper(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let exchange = PaperExchange::new(PaperConfig {
        balances: BTreeMap::from([("USDT".into(), Decimal::from(1_000_000_000_000u64))]),
        ..Default::default()
    });
    let mut ticket = OrderTicket {
        reference_price: Some(Decimal::from(65_000)),
        ..OrderTicket::market(Side::Buy, "BTC", "USDT", Decimal::new(1, 3))
    };
    let mut n = 0u64;
    let mut group = c.benchmark_group("paper");
    group.throughput(Throughput::Elements(1));
    group.bench_function("market_order", |b| {
        b.iter(|| {
            n += 1;
            ticket.client_order_id = format!("bench-{n}");
            runtime
                .block_on(exchange.place(&ticket))
                .expect("the order fills")
        })
    });
    group.finish();
}

criterion_group!(benches, paper);
criterion_main!(benches);
