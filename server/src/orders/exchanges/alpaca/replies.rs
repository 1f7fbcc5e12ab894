//! Alpaca's JSON answers (decimals arrive as strings, `null` when unset;
//! times as RFC 3339) and how they become tradeplane's views. Every order
//! status Alpaca documents maps explicitly; an unfamiliar one is an error.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, de::Error};

use crate::{
    model::order::OrderStatus,
    orders::exchanges::{ExchangeOrder, Fill, InstrumentRules},
};

/// Fractional shares trade in steps of this many when an asset says none.
const FRACTION_STEP: Decimal = Decimal::from_parts(1, 0, 0, false, 9);
/// The smallest notional of a fractional order, in USD.
const FRACTION_MIN_NOTIONAL: Decimal = Decimal::ONE;
/// Price tick of a stock at or above $1.
const TICK: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
/// Price tick of a stock below $1.
const SUB_DOLLAR_TICK: Decimal = Decimal::from_parts(1, 0, 0, false, 4);

/// An order of `/v2/orders`; a one-cancels-the-other parent (the
/// take-profit limit) carries its stop leg in `legs`, a bracket's entry
/// its take-profit and stop-loss legs (when looked up nested).
#[derive(Debug, Deserialize)]
pub(super) struct OrderReply {
    pub(super) id: String,
    pub(super) client_order_id: String,
    pub(super) status: String,
    /// `market`, `limit`, `stop`, `stop_limit` or `trailing_stop`.
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(deserialize_with = "decimal_or_zero", default)]
    pub(super) filled_qty: Decimal,
    #[serde(default)]
    pub(super) legs: Option<Vec<OrderReply>>,
}

impl OrderReply {
    /// The order's status; an unfamiliar one is an error, not a guess.
    pub(super) fn status(&self) -> Result<(OrderStatus, &'static str), String> {
        Ok(match self.status.as_str() {
            // Received, routed, or held until the market opens.
            "new"
            | "accepted"
            | "pending_new"
            | "accepted_for_bidding"
            | "held"
            | "calculated"
            | "pending_cancel"
            | "pending_replace"
            | "suspended" => (self.working(), ""),
            "partially_filled" => (OrderStatus::PartiallyFilled, ""),
            "filled" => (OrderStatus::Filled, ""),
            // A day order's session ended, partly filled: it fills no more.
            "done_for_day" => (OrderStatus::Canceled, "done for the day at Alpaca"),
            "canceled" => (OrderStatus::Canceled, ""),
            "expired" => (OrderStatus::Canceled, "expired at Alpaca"),
            "replaced" => (OrderStatus::Canceled, "replaced at Alpaca"),
            "stopped" => (self.working(), ""),
            "rejected" => (OrderStatus::Rejected, "rejected by Alpaca"),
            other => {
                return Err(format!(
                    "Alpaca reported the unfamiliar order status `{other}`"
                ));
            }
        })
    }

    /// Submitted, or partly filled once anything has filled.
    fn working(&self) -> OrderStatus {
        if self.filled_qty > Decimal::ZERO {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::Submitted
        }
    }

    /// The view, with the fills read separately.
    pub(super) fn view(&self, fills: Vec<Fill>) -> Result<ExchangeOrder, String> {
        let (status, reason) = self.status()?;
        Ok(ExchangeOrder {
            exchange_order_id: self.id.clone(),
            status,
            fills,
            reason: reason.to_string(),
        })
    }
}

/// One fill of `/v2/account/activities/FILL`.
#[derive(Deserialize)]
pub(super) struct FillReply {
    pub(super) id: String,
    pub(super) order_id: String,
    price: Decimal,
    qty: Decimal,
    #[serde(deserialize_with = "rfc3339_ms")]
    transaction_time: i64,
}

impl FillReply {
    /// The fill: Alpaca charges no commission on stocks.
    pub(super) fn fill(self) -> Fill {
        Fill {
            trade_id: self.id,
            quantity: self.qty,
            price: self.price,
            fee: Decimal::ZERO,
            fee_asset: "USD".into(),
            time_ms: self.transaction_time,
        }
    }
}

/// `/v2/account`.
#[derive(Deserialize)]
pub(super) struct AccountReply {
    pub(super) cash: Decimal,
    pub(super) buying_power: Decimal,
}

/// One holding of `/v2/positions`.
#[derive(Deserialize)]
pub(super) struct PositionReply {
    pub(super) symbol: String,
    pub(super) qty: Decimal,
    /// Shares not held by open sell orders.
    #[serde(deserialize_with = "decimal_or_zero", default)]
    pub(super) qty_available: Decimal,
}

/// `/v2/assets/{symbol}`.
#[derive(Deserialize)]
pub(super) struct AssetReply {
    pub(super) symbol: String,
    pub(super) status: String,
    pub(super) tradable: bool,
    pub(super) fractionable: bool,
    #[serde(deserialize_with = "optional", default)]
    min_order_size: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    min_trade_increment: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    price_increment: Option<Decimal>,
}

impl AssetReply {
    /// The asset's rules at `last_price`: whole shares unless fractionable,
    /// a tick of 0.01 from $1 up and 0.0001 below unless the asset names
    /// its own, and $1 the least a fractional order may be worth.
    pub(super) fn rules(&self, last_price: Option<Decimal>) -> InstrumentRules {
        let lot_size = if self.fractionable {
            self.min_trade_increment.unwrap_or(FRACTION_STEP)
        } else {
            Decimal::ONE
        };
        let tick_size = self.price_increment.unwrap_or(match last_price {
            Some(price) if price < Decimal::ONE => SUB_DOLLAR_TICK,
            _ => TICK,
        });
        InstrumentRules {
            tick_size,
            lot_size,
            min_quantity: self.min_order_size.unwrap_or(lot_size),
            min_notional: if self.fractionable {
                FRACTION_MIN_NOTIONAL
            } else {
                Decimal::ZERO
            },
        }
    }
}

/// `/v2/clock`.
#[derive(Deserialize)]
pub(super) struct ClockReply {
    pub(super) is_open: bool,
    #[serde(deserialize_with = "rfc3339_ms")]
    pub(super) next_open: i64,
    #[serde(deserialize_with = "rfc3339_ms")]
    pub(super) next_close: i64,
}

/// `/v2/stocks/{symbol}/trades/latest`.
#[derive(Deserialize)]
pub(super) struct LatestTradeReply {
    pub(super) trade: TradeReply,
}

#[derive(Deserialize)]
pub(super) struct TradeReply {
    #[serde(rename = "p")]
    pub(super) price: Decimal,
}

/// A decimal sent as a string, or `null`.
fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|e| D::Error::custom(format!("`{text}` is not a decimal: {e}"))),
    }
}

/// A decimal sent as a string, `null` meaning zero.
fn decimal_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    Ok(optional(d)?.unwrap_or(Decimal::ZERO))
}

/// An RFC 3339 time as milliseconds since the epoch.
fn rfc3339_ms<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| D::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str, filled: &str) -> OrderReply {
        serde_json::from_value(serde_json::json!({
            "id": "o-1", "client_order_id": "tp-1", "status": status, "filled_qty": filled,
        }))
        .expect("parses")
    }

    #[test]
    fn every_documented_status_maps_and_an_unfamiliar_one_is_an_error() {
        for (status, filled, expected) in [
            ("new", "0", OrderStatus::Submitted),
            ("accepted", "0", OrderStatus::Submitted),
            ("pending_new", "0", OrderStatus::Submitted),
            ("accepted_for_bidding", "0", OrderStatus::Submitted),
            ("held", "0", OrderStatus::Submitted),
            ("calculated", "1", OrderStatus::PartiallyFilled),
            ("pending_cancel", "0", OrderStatus::Submitted),
            ("pending_replace", "0", OrderStatus::Submitted),
            ("suspended", "0", OrderStatus::Submitted),
            ("stopped", "0", OrderStatus::Submitted),
            ("partially_filled", "1", OrderStatus::PartiallyFilled),
            ("filled", "2", OrderStatus::Filled),
            ("done_for_day", "1", OrderStatus::Canceled),
            ("canceled", "0", OrderStatus::Canceled),
            ("expired", "0", OrderStatus::Canceled),
            ("replaced", "0", OrderStatus::Canceled),
            ("rejected", "0", OrderStatus::Rejected),
        ] {
            assert_eq!(
                order(status, filled).status().map(|s| s.0),
                Ok(expected),
                "{status}"
            );
        }
        let unfamiliar = order("frozen", "0").status();
        assert!(
            matches!(unfamiliar, Err(ref m) if m.contains("frozen")),
            "{unfamiliar:?}"
        );
    }

    #[test]
    fn rules_follow_the_asset_and_the_price() {
        let asset: AssetReply = serde_json::from_value(serde_json::json!({
            "symbol": "AAPL", "status": "active", "tradable": true, "fractionable": true,
        }))
        .expect("parses");
        let rules = asset.rules(Some(Decimal::from(190)));
        assert_eq!((rules.tick_size, rules.lot_size), (TICK, FRACTION_STEP));
        assert_eq!(rules.min_notional, Decimal::ONE);
        assert_eq!(
            asset.rules(Some(Decimal::new(5, 1))).tick_size,
            SUB_DOLLAR_TICK
        );
        let whole: AssetReply = serde_json::from_value(serde_json::json!({
            "symbol": "XYZ", "status": "active", "tradable": true, "fractionable": false,
            "price_increment": "0.05",
        }))
        .expect("parses");
        let rules = whole.rules(None);
        assert_eq!(
            (rules.tick_size, rules.lot_size),
            (Decimal::new(5, 2), Decimal::ONE)
        );
    }
}
