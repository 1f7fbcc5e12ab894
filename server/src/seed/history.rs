//! The made-up history `tradeplane seed` writes: row `i` of each kind,
//! built from `i` alone so that signals, executions and orders of the same
//! index link up. Everything is finished: no order is open, no execution
//! waits, and each filled buy has a sell of the same size and price after
//! it, so that replaying the fills leaves paper balances as they were.

use rust_decimal::Decimal;
use uuid::{NoContext, Timestamp, Uuid};

use crate::{
    market::{instrument::Instrument, side::Side},
    model::{
        execution::{Execution, ExecutionStatus},
        order::{Fill, Order, OrderOrigin, OrderStatus, OrderType, TimeInForce, Transition},
        signal::{Intent, Overrides, Signal, SignalAction, SignalOutcome},
    },
};

/// The exchange seeded orders are on.
pub const EXCHANGE: &str = "paper";

/// Signal sources, strategies and symbols, picked by index.
pub const SOURCES: [&str; 2] = ["tradingview", "grpc"];
pub const STRATEGIES: [&str; 5] = ["momentum", "mean-revert", "breakout", "grid", "trend"];
pub const SYMBOLS: [(&str, &str, &str); 6] = [
    ("BTC", "USDT", "50000"),
    ("ETH", "USDT", "3000"),
    ("SOL", "USDT", "150"),
    ("XRP", "USDT", "0.5"),
    ("DOGE", "USDT", "0.1"),
    ("ADA", "USDT", "0.4"),
];

/// Orders are spread over the first this many of [`SYMBOLS`].
pub const ORDER_SYMBOLS: usize = 3;

/// Synthetic pipelines the executions belong to.
pub const PIPELINES: usize = 8;

/// The ids and time of index `i`: signal, then execution a millisecond
/// later, then order.
pub struct Slot {
    pub index: u64,
    pub time_ms: i64,
    pub signal_id: String,
    pub execution_id: String,
    pub order_id: String,
}

impl Slot {
    /// Index `index` at `time_ms`.
    pub fn new(index: u64, time_ms: i64) -> Self {
        Self {
            index,
            time_ms,
            signal_id: uuid_v7_at(time_ms),
            execution_id: uuid_v7_at(time_ms + 1),
            order_id: uuid_v7_at(time_ms + 2),
        }
    }

    /// What happened to this index's trade: orders come in buy/sell pairs
    /// that share it, so that a filled buy always has its filled sell.
    fn fate(&self) -> Fate {
        match (self.index / 2) % 10 {
            0..=6 => Fate::Filled,
            7 => Fate::Canceled,
            8 => Fate::Rejected,
            _ => Fate::Skipped,
        }
    }

    fn symbol(&self, among: usize) -> (&'static str, &'static str, &'static str) {
        SYMBOLS[((self.index / 2) % among as u64) as usize]
    }
}

enum Fate {
    Filled,
    Canceled,
    Rejected,
    Skipped,
}

/// A UUIDv7 of millisecond `ms` with random low bits.
fn uuid_v7_at(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    let at = Timestamp::from_unix(NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
    Uuid::new_v7(at).to_string()
}

/// The signal of `slot`: one in ten rejected.
pub fn signal(slot: &Slot) -> Signal {
    let i = slot.index as usize;
    let symbol = slot.symbol(SYMBOLS.len());
    let rejected = i % 10 == 9;
    let intent = Intent {
        instrument: Instrument::spot(symbol.0, symbol.1),
        action: if i.is_multiple_of(2) {
            SignalAction::Buy
        } else {
            SignalAction::Sell
        },
        quantity: Some(Decimal::new(1, 3)),
        price: symbol.2.parse().ok(),
        confidence: None,
        target_position: None,
        strategy_position: None,
        event_time_ms: Some(slot.time_ms),
        exit_percent: None,
        overrides: Overrides::default(),
    };
    Signal {
        strategy: STRATEGIES[(i / 2) % STRATEGIES.len()].into(),
        raw_symbol: format!("{}{}", symbol.0, symbol.1),
        outcome: if rejected {
            SignalOutcome::Rejected
        } else {
            SignalOutcome::Accepted
        },
        intent: (!rejected).then_some(intent),
        reject_reason: if rejected {
            "seeded rejection".into()
        } else {
            String::new()
        },
        ..Signal::received(
            slot.signal_id.clone(),
            SOURCES[i % SOURCES.len()],
            slot.time_ms,
        )
    }
}

/// The execution of `slot`, of one of `pipelines`, for its signal; it
/// placed the slot's order unless it was skipped.
pub fn execution(slot: &Slot, pipelines: &[String], with_order: bool) -> Execution {
    let pipeline = (slot.index as usize) % pipelines.len();
    let (status, skip_reason, error) = match slot.fate() {
        Fate::Filled | Fate::Canceled => (ExecutionStatus::Succeeded, "", ""),
        Fate::Rejected => (
            ExecutionStatus::Failed,
            "",
            "the exchange rejected the order",
        ),
        Fate::Skipped => (ExecutionStatus::Skipped, "pipeline busy", ""),
    };
    let placed = with_order && !matches!(slot.fate(), Fate::Skipped);
    Execution {
        status,
        skip_reason: skip_reason.into(),
        error: error.into(),
        order_ids: if placed {
            vec![slot.order_id.clone()]
        } else {
            Vec::new()
        },
        fees: Some(Decimal::ZERO),
        attempt: 1,
        start_time_ms: Some(slot.time_ms + 1),
        end_time_ms: Some(slot.time_ms + 3),
        ..Execution::pending(
            slot.execution_id.clone(),
            pipelines[pipeline].clone(),
            format!("seed-{pipeline}"),
            slot.signal_id.clone(),
            slot.time_ms + 1,
        )
    }
}

/// The finished paper order of `slot`, placed by `execution_id` (empty
/// for a manual order; a skipped execution placed none, so the order of
/// its slot is a manual one).
pub fn order(slot: &Slot, execution_id: &str) -> Order {
    let execution_id = match slot.fate() {
        Fate::Skipped => "",
        _ => execution_id,
    };
    let symbol = slot.symbol(ORDER_SYMBOLS);
    let side = if slot.index.is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    };
    let (status, note) = match slot.fate() {
        Fate::Filled => (OrderStatus::Filled, "filled"),
        Fate::Canceled | Fate::Skipped => (OrderStatus::Canceled, "canceled by the trader"),
        Fate::Rejected => (OrderStatus::Rejected, "insufficient balance"),
    };
    let filled = matches!(status, OrderStatus::Filled);
    let at = |offset: i64| slot.time_ms + offset;
    let quantity = Decimal::new(1, 3);
    let price: Decimal = symbol.2.parse().unwrap_or_default();
    let transition = |status, offset, note: &str| Transition {
        status,
        time_ms: at(offset),
        note: note.into(),
    };
    let mut transitions = vec![transition(OrderStatus::New, 2, "")];
    if !matches!(status, OrderStatus::Rejected) {
        transitions.push(transition(OrderStatus::Submitted, 3, ""));
    }
    transitions.push(transition(status, 4, note));
    Order {
        id: slot.order_id.clone(),
        client_order_id: format!("seed-{}", slot.order_id),
        exchange: EXCHANGE.into(),
        account: crate::market::account::DEFAULT_ACCOUNT.into(),
        exchange_order_id: format!("paper-seed-{}", slot.index),
        instrument: Instrument {
            venue: EXCHANGE.into(),
            ..Instrument::spot(symbol.0, symbol.1)
        },
        side,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Gtc,
        quantity,
        price: None,
        stop_price: None,
        reference_price: Some(price),
        trailing_delta_bips: None,
        reduce_only: false,
        status,
        filled_quantity: if filled { quantity } else { Decimal::ZERO },
        average_fill_price: filled.then_some(price),
        fee_total: Decimal::ZERO,
        fee_asset: symbol.1.into(),
        origin: OrderOrigin {
            pipeline_id: String::new(),
            execution_id: execution_id.into(),
            signal_id: if execution_id.is_empty() {
                String::new()
            } else {
                slot.signal_id.clone()
            },
            ..Default::default()
        },
        fills: if filled {
            vec![Fill {
                trade_id: format!("seed-{}", slot.index),
                quantity,
                price,
                fee: Decimal::ZERO,
                fee_asset: symbol.1.into(),
                time_ms: at(4),
            }]
        } else {
            Vec::new()
        },
        transitions,
        status_reason: if matches!(status, OrderStatus::Rejected) {
            note.into()
        } else {
            String::new()
        },
        create_time_ms: at(2),
        update_time_ms: at(4),
        attachment: None,
    }
}
