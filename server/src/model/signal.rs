//! A signal as the domain sees it: who sent it and when, and either what
//! it asks for ([`Intent`]) or why it was refused.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::{market::instrument::Instrument, model::order::OrderType, words::word_enum};

word_enum! {
    /// What a signal asks a pipeline to do.
    pub enum SignalAction {
        Buy => "buy",
        Sell => "sell",
        /// Close the position.
        Exit => "exit",
        /// Trade to the signal's target position.
        TargetPosition => "target_position",
        /// Cancel the pipeline's resting orders in the symbol; no new order.
        Cancel => "cancel",
        /// Add to the open position, in its direction.
        Add => "add",
        /// Close the position and open one the other way.
        Reverse => "reverse",
        /// Close a long position only.
        CloseLong => "close_long",
        /// Close a short position only.
        CloseShort => "close_short",
    }
}

word_enum! {
    /// The position a strategy says it holds after its order
    /// (TradingView's `{{strategy.market_position}}`).
    pub enum MarketPosition {
        Long => "long",
        Short => "short",
        Flat => "flat",
    }
}

word_enum! {
    /// What intake made of a signal.
    pub enum SignalOutcome {
        Accepted => "accepted",
        /// The same signal was accepted before: the answer is the first.
        Duplicate => "duplicate",
        Rejected => "rejected",
    }
}

impl SignalAction {
    /// The action a strategy's word names, in any case: the words
    /// (`buy`, `target_position`, `close_long`, …) and the usual aliases
    /// (`long`, `short`, `flat`, `close`, `target`).
    pub fn named(word: &str) -> Option<Self> {
        let word = word.trim().to_ascii_lowercase();
        match word.as_str() {
            "long" => Some(SignalAction::Buy),
            "short" => Some(SignalAction::Sell),
            "flat" | "close" => Some(SignalAction::Exit),
            "target" => Some(SignalAction::TargetPosition),
            other => Self::from_word(other),
        }
    }

    /// Every word and alias [`named`](Self::named) understands, for
    /// messages.
    pub const WORDS: &'static str =
        "buy, sell, exit, flat, close, target, cancel, add, reverse, close_long, close_short";
}

impl MarketPosition {
    /// The position a word names, in any case; Pine's sentiment words
    /// `bullish` and `bearish` mean long and short.
    pub fn named(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "bullish" => Some(MarketPosition::Long),
            "bearish" => Some(MarketPosition::Short),
            other => Self::from_word(other),
        }
    }
}

/// The position a strategy stated with its signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StrategyPosition {
    pub market_position: MarketPosition,
    /// `{{strategy.position_size}}` as sent (it may be signed); `None`
    /// when the strategy sent no size.
    pub size: Option<Decimal>,
}

impl StrategyPosition {
    /// The signed position it states (long > 0, short < 0, flat = 0);
    /// `None` for long or short without a size.
    pub fn target(&self) -> Option<Decimal> {
        match self.market_position {
            MarketPosition::Flat => Some(Decimal::ZERO),
            MarketPosition::Long => self.size.map(|s| s.abs()),
            MarketPosition::Short => self.size.map(|s| -s.abs()),
        }
    }
}

/// What an accepted signal asks for, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub instrument: Instrument,
    pub action: SignalAction,
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    pub confidence: Option<Decimal>,
    pub target_position: Option<Decimal>,
    /// The position the strategy says it holds after this signal.
    pub strategy_position: Option<StrategyPosition>,
    /// When the strategy says it happened (ms since the epoch).
    pub event_time_ms: Option<i64>,
    /// For exit, close_long and close_short: the share of the position to
    /// close, in (0, 100]; `None` closes all of it.
    pub exit_percent: Option<Decimal>,
    /// What the alert overrides of the pipeline's order.
    pub overrides: Overrides,
}

/// What an alert overrides of its pipeline's order (entry actions only).
/// Intake checks them: prices are positive, a limit order type comes with
/// a limit price and a limit price with a limit order type.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Market or limit, instead of the pipeline's order type.
    pub order_type: Option<OrderType>,
    /// The entry's limit price.
    pub limit_price: Option<Decimal>,
    /// The stop-loss price, instead of the pipeline's stop and trailing stop.
    pub stop_loss: Option<Decimal>,
    /// One take-profit price for the whole quantity, instead of the
    /// pipeline's take-profits.
    pub take_profit: Option<Decimal>,
}

impl Overrides {
    /// The alert field names of the overrides it carries, in field order.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("order_type", self.order_type.is_some()),
            ("limit_price", self.limit_price.is_some()),
            ("stop_loss", self.stop_loss.is_some()),
            ("take_profit", self.take_profit.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// One field of a refused signal, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
    /// A word of the closed reason set, e.g. `bad_symbol`.
    pub reason: String,
}

/// A recorded signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// UUIDv7; its time is the receive time.
    pub id: String,
    pub source: String,
    pub strategy: String,
    /// The symbol as sent.
    pub raw_symbol: String,
    /// The action as sent.
    pub raw_action: String,
    pub strategy_order_id: String,
    pub comment: String,
    pub interval: String,
    pub receive_time_ms: i64,
    pub tags: BTreeMap<String, String>,
    pub trace_id: String,
    pub idempotency_key: String,
    pub outcome: SignalOutcome,
    /// What it asks for; `None` when it was rejected.
    pub intent: Option<Intent>,
    /// The first violation's reason, when rejected.
    pub reject_reason: String,
    pub field_violations: Vec<FieldViolation>,
}

impl Signal {
    /// A signal received at `receive_time_ms` from `source`, accepted,
    /// with every text field empty and no intent yet.
    pub fn received(id: String, source: &str, receive_time_ms: i64) -> Self {
        Self {
            id,
            source: source.to_string(),
            strategy: String::new(),
            raw_symbol: String::new(),
            raw_action: String::new(),
            strategy_order_id: String::new(),
            comment: String::new(),
            interval: String::new(),
            receive_time_ms,
            tags: BTreeMap::new(),
            trace_id: String::new(),
            idempotency_key: String::new(),
            outcome: SignalOutcome::Accepted,
            intent: None,
            reject_reason: String::new(),
            field_violations: Vec::new(),
        }
    }

    /// The canonical symbol of an accepted signal (empty otherwise).
    pub fn symbol(&self) -> &str {
        self.intent
            .as_ref()
            .map(|i| i.instrument.symbol.as_str())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_by_word_or_alias_in_any_case() {
        for action in SignalAction::ALL {
            assert_eq!(SignalAction::named(action.word()), Some(*action));
        }
        assert_eq!(SignalAction::named(" Long "), Some(SignalAction::Buy));
        assert_eq!(SignalAction::named("FLAT"), Some(SignalAction::Exit));
        assert_eq!(
            SignalAction::named("target"),
            Some(SignalAction::TargetPosition)
        );
        assert_eq!(
            SignalAction::named("Close_Short"),
            Some(SignalAction::CloseShort)
        );
        assert_eq!(SignalAction::named("hold"), None);
        assert_eq!(
            MarketPosition::named("Bearish"),
            Some(MarketPosition::Short)
        );
        assert_eq!(MarketPosition::named("sideways"), None);
    }
}
