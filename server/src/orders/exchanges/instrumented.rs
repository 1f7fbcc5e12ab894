//! The one wrapper every connector goes through: requests by exchange,
//! account, endpoint and outcome (the error class), their durations, and the
//! venue's rate-limit use.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};
use rust_decimal::Decimal;
use tracing::Instrument;

use super::{
    Exchange, ExchangeError, ExchangeOrder, InstrumentRules, MarketHours, OrderTicket, PerpPosition,
};
use crate::{
    market::{instrument::InstrumentKind, margin::Leverage},
    observe::SECONDS_BUCKETS,
};

/// A connector with metrics.
pub struct Instrumented {
    inner: Arc<dyn Exchange>,
    requests: Counter<u64>,
    duration: Histogram<f64>,
}

impl Instrumented {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Exchange>, meter: &Meter) -> Self {
        Self {
            inner,
            requests: meter
                .u64_counter("tradeplane.exchange.requests")
                .with_description("Exchange requests, by exchange, endpoint and outcome")
                .build(),
            duration: meter
                .f64_histogram("tradeplane.exchange.request.duration")
                .with_unit("s")
                .with_description("Exchange request durations, by exchange and endpoint")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
        }
    }

    /// The span of one request to the exchange.
    fn span(&self, endpoint: &'static str) -> tracing::Span {
        tracing::info_span!(
            "exchange.request",
            otel.name = %format!("exchange {endpoint}"),
            otel.kind = "client",
            exchange = %self.inner.name(),
            account = %self.inner.account(),
            endpoint,
        )
    }

    fn observe<T>(
        &self,
        endpoint: &'static str,
        started: Instant,
        result: &Result<T, ExchangeError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(ExchangeError::Rejected(_)) => "rejected",
            Err(ExchangeError::Unknown(_)) => "unknown",
            Err(ExchangeError::Unavailable(_)) => "unavailable",
            Err(ExchangeError::Banned(_)) => "banned",
            Err(ExchangeError::NotFound) => "not_found",
            Err(ExchangeError::UnknownSymbol(_)) => "unknown_symbol",
        };
        let [exchange, account] = labels(&*self.inner);
        let endpoint = KeyValue::new("endpoint", endpoint);
        self.duration.record(
            started.elapsed().as_secs_f64(),
            &[exchange.clone(), account.clone(), endpoint.clone()],
        );
        self.requests.add(
            1,
            &[
                exchange,
                account,
                endpoint,
                KeyValue::new("outcome", outcome),
            ],
        );
    }
}

#[async_trait]
impl Exchange for Instrumented {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn account(&self) -> &str {
        self.inner.account()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn live(&self) -> bool {
        self.inner.live()
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .place(ticket)
            .instrument(self.span("place"))
            .await;
        self.observe("place", started, &result);
        result
    }

    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .place_oco(stop, target)
            .instrument(self.span("place_oco"))
            .await;
        self.observe("place_oco", started, &result);
        result
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .cancel(client_order_id, symbol)
            .instrument(self.span("cancel"))
            .await;
        self.observe("cancel", started, &result);
        result
    }

    async fn fetch(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .fetch(client_order_id, symbol)
            .instrument(self.span("fetch"))
            .await;
        self.observe("fetch", started, &result);
        result
    }

    async fn fetch_sent(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .fetch_sent(ticket)
            .instrument(self.span("fetch"))
            .await;
        self.observe("fetch", started, &result);
        result
    }

    async fn cancel_sent(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .cancel_sent(ticket)
            .instrument(self.span("cancel"))
            .await;
        self.observe("cancel", started, &result);
        result
    }

    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .balances()
            .instrument(self.span("balances"))
            .await;
        self.observe("balances", started, &result);
        result
    }

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .rules(symbol)
            .instrument(self.span("rules"))
            .await;
        self.observe("rules", started, &result);
        result
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .last_price(symbol)
            .instrument(self.span("last_price"))
            .await;
        self.observe("last_price", started, &result);
        result
    }

    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        self.inner.instrument_kinds()
    }

    async fn set_leverage(&self, symbol: &str, leverage: Leverage) -> Result<(), ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .set_leverage(symbol, leverage)
            .instrument(self.span("set_leverage"))
            .await;
        self.observe("set_leverage", started, &result);
        result
    }

    async fn positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .positions()
            .instrument(self.span("positions"))
            .await;
        self.observe("positions", started, &result);
        result
    }

    fn rate_limit(&self) -> Option<(u64, u64)> {
        self.inner.rate_limit()
    }

    fn native_trailing(&self) -> Option<super::NativeTrailing> {
        self.inner.native_trailing()
    }

    fn acceptance_window(&self) -> Duration {
        self.inner.acceptance_window()
    }

    fn attaches_exits(&self, kind: InstrumentKind) -> bool {
        self.inner.attaches_exits(kind)
    }

    fn triggers_take_profits(&self) -> bool {
        self.inner.triggers_take_profits()
    }

    async fn market_hours(&self, symbol: &str) -> Result<MarketHours, ExchangeError> {
        let started = Instant::now();
        let result = self
            .inner
            .market_hours(symbol)
            .instrument(self.span("market_hours"))
            .await;
        self.observe("market_hours", started, &result);
        result
    }
}

/// The `exchange` and `account` labels of a connector's metrics (both
/// bounded by the configuration).
pub fn labels(exchange: &dyn Exchange) -> [KeyValue; 2] {
    [
        KeyValue::new("exchange", exchange.name().to_string()),
        KeyValue::new("account", exchange.account().to_string()),
    ]
}

/// Gauges of each exchange's request-weight use and cap, read at scrape
/// time.
pub fn observe_rate_limits(exchanges: Vec<Arc<dyn Exchange>>, meter: &Meter) {
    let used = exchanges.clone();
    meter
        .u64_observable_gauge("tradeplane.exchange.rate_limit.used")
        .with_description("Request weight used in the exchange's current window")
        .with_callback(move |gauge| {
            for exchange in &used {
                if let Some((used, _)) = exchange.rate_limit() {
                    gauge.observe(used, &labels(&**exchange));
                }
            }
        })
        .build();
    meter
        .u64_observable_gauge("tradeplane.exchange.rate_limit.limit")
        .with_description("Request weight the exchange allows per window")
        .with_callback(move |gauge| {
            for exchange in &exchanges {
                if let Some((_, limit)) = exchange.rate_limit() {
                    gauge.observe(limit, &labels(&**exchange));
                }
            }
        })
        .build();
}
