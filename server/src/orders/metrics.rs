//! Order metrics: orders by exchange, side, type and status; latency from
//! submit to exchange acknowledgement and to fill; notional, slippage
//! against the reference price, and fees.

use std::time::{Duration, Instant};

use crate::{
    market::side::Side,
    model::order::{Order, OrderStatus},
    observe::SECONDS_BUCKETS,
    proto_time::now_ms,
};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};
use rust_decimal::{Decimal, prelude::ToPrimitive};

/// The order instruments.
pub struct OrderMetrics {
    orders: Counter<u64>,
    ack_latency: Histogram<f64>,
    fill_latency: Histogram<f64>,
    notional: Histogram<f64>,
    slippage: Histogram<f64>,
    fees: Counter<f64>,
}

impl OrderMetrics {
    /// Registers the instruments.
    pub fn new(meter: &Meter) -> Self {
        Self {
            orders: meter
                .u64_counter("tradeplane.orders")
                .with_description("Orders reaching each status, by exchange, side and type")
                .build(),
            ack_latency: meter
                .f64_histogram("tradeplane.order.ack.duration")
                .with_unit("s")
                .with_description("From PlaceOrder to the exchange's answer")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            fill_latency: meter
                .f64_histogram("tradeplane.order.fill.duration")
                .with_unit("s")
                .with_description("From PlaceOrder to the order being filled")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            notional: meter
                .f64_histogram("tradeplane.order.notional")
                .with_description("Filled notional per order, in the quote asset")
                .with_boundaries(vec![10.0, 100.0, 1e3, 1e4, 1e5, 1e6])
                .build(),
            slippage: meter
                .f64_histogram("tradeplane.order.slippage")
                .with_description("Average fill price against the reference price, in basis points (positive: worse for us)")
                .with_boundaries(vec![-50.0, -10.0, -5.0, -1.0, 0.0, 1.0, 5.0, 10.0, 50.0, 100.0])
                .build(),
            fees: meter
                .f64_counter("tradeplane.order.fees")
                .with_description("Fees paid, by exchange and fee asset")
                .build(),
        }
    }

    /// Time from PlaceOrder to the exchange's answer.
    pub fn ack_latency(&self, exchange: &str, elapsed: Duration) {
        self.ack_latency.record(
            elapsed.as_secs_f64(),
            &[KeyValue::new("exchange", exchange.to_string())],
        );
    }

    /// Counts an order's new status; a fill adds notional, slippage, fees
    /// and fill latency.
    pub fn observe(&self, order: &Order, placed: Option<Instant>) {
        let exchange = KeyValue::new("exchange", order.exchange.clone());
        self.orders.add(
            1,
            &[
                exchange.clone(),
                KeyValue::new("side", order.side.word()),
                KeyValue::new("type", order.order_type.word()),
                KeyValue::new("status", order.status.word()),
            ],
        );
        if order.status != OrderStatus::Filled {
            return;
        }
        let elapsed = match placed {
            Some(placed) => placed.elapsed().as_secs_f64(),
            None => (now_ms() - order.create_time_ms).max(0) as f64 / 1000.0,
        };
        self.fill_latency
            .record(elapsed, std::slice::from_ref(&exchange));
        let filled = order.filled_quantity;
        let Some(average) = order.average_fill_price else {
            return;
        };
        if let Some(notional) = (filled * average).to_f64() {
            self.notional
                .record(notional, std::slice::from_ref(&exchange));
        }
        if let Some(reference) = order.reference_price.filter(|r| !r.is_zero()) {
            let worse = if order.side == Side::Buy {
                average - reference
            } else {
                reference - average
            };
            if let Some(bps) = (worse / reference * Decimal::from(10_000)).to_f64() {
                self.slippage.record(bps, std::slice::from_ref(&exchange));
            }
        }
        if let Some(fee) = order.fee_total.to_f64() {
            self.fees.add(
                fee,
                &[exchange, KeyValue::new("asset", order.fee_asset.clone())],
            );
        }
    }
}
