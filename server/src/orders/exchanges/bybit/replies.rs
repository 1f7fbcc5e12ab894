//! Bybit's v5 JSON answers (the `result` of an envelope) and how they
//! become tradeplane's views. Bybit sends numbers as strings; an empty
//! string means "none".

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::{
    model::order::OrderStatus,
    orders::exchanges::{ExchangeOrder, Fill, InstrumentRules},
};

/// A paged list: `{"list": [...]}`.
#[derive(Deserialize)]
pub(super) struct Listed<T> {
    pub(super) list: Vec<T>,
}

/// An order from `/v5/order/realtime` or `/v5/order/history`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderReply {
    pub(super) order_id: String,
    pub(super) order_status: String,
    #[serde(deserialize_with = "decimal_or_zero")]
    pub(super) cum_exec_qty: Decimal,
    #[serde(default)]
    pub(super) reject_reason: String,
    /// `Buy` or `Sell`.
    #[serde(default)]
    pub(super) side: String,
    /// What made a conditional order: `TakeProfit` / `StopLoss` for the
    /// close Bybit places when a position's TP/SL triggers.
    #[serde(default)]
    pub(super) stop_order_type: String,
    #[serde(default)]
    pub(super) position_idx: i64,
    #[serde(default, deserialize_with = "number_text")]
    pub(super) created_time: i64,
}

impl OrderReply {
    /// The order without its fills.
    pub(super) fn view(&self) -> ExchangeOrder {
        let (status, reason) = match self.order_status.as_str() {
            "New" | "Untriggered" | "Triggered" | "Created" => (OrderStatus::Submitted, ""),
            "PartiallyFilled" | "Active" => (OrderStatus::PartiallyFilled, ""),
            "Filled" => (OrderStatus::Filled, ""),
            "Cancelled" | "PartiallyFilledCanceled" => (OrderStatus::Canceled, ""),
            "Deactivated" => (OrderStatus::Canceled, "deactivated at Bybit"),
            "Rejected" => (OrderStatus::Rejected, "rejected by Bybit"),
            _ => (OrderStatus::Unknown, "Bybit reported an unfamiliar status"),
        };
        let reason = if status == OrderStatus::Rejected && !self.reject_reason.is_empty() {
            format!("rejected by Bybit: {}", self.reject_reason)
        } else if status == OrderStatus::Unknown {
            format!("{reason}: {}", self.order_status)
        } else {
            reason.to_string()
        };
        ExchangeOrder {
            exchange_order_id: self.order_id.clone(),
            status,
            fills: Vec::new(),
            reason,
        }
    }
}

/// A fill from `/v5/execution/list`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExecutionReply {
    pub(super) exec_id: String,
    pub(super) exec_price: Decimal,
    pub(super) exec_qty: Decimal,
    #[serde(deserialize_with = "decimal_or_zero")]
    pub(super) exec_fee: Decimal,
    #[serde(default)]
    pub(super) fee_currency: String,
    #[serde(deserialize_with = "number_text")]
    pub(super) exec_time: i64,
}

impl ExecutionReply {
    /// The fill; `settle_coin` is the fee asset when Bybit names none (a
    /// perpetual's fees are in its settle coin).
    pub(super) fn fill(self, settle_coin: Option<&str>) -> Result<Fill, String> {
        let fee_asset = match (self.fee_currency.is_empty(), settle_coin) {
            (false, _) => self.fee_currency,
            (true, Some(coin)) => coin.to_string(),
            (true, None) => {
                return Err(format!(
                    "Bybit named no fee currency for fill {}",
                    self.exec_id
                ));
            }
        };
        Ok(Fill {
            trade_id: self.exec_id,
            quantity: self.exec_qty,
            price: self.exec_price,
            fee: self.exec_fee,
            fee_asset,
            time_ms: self.exec_time,
        })
    }
}

/// `/v5/account/wallet-balance`: one entry per account type.
#[derive(Deserialize)]
pub(super) struct WalletReply {
    pub(super) coin: Vec<CoinReply>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CoinReply {
    pub(super) coin: String,
    pub(super) wallet_balance: Decimal,
    #[serde(deserialize_with = "decimal_or_zero")]
    pub(super) locked: Decimal,
}

/// `/v5/market/tickers`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TickerReply {
    pub(super) last_price: Decimal,
}

/// `/v5/market/instruments-info`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstrumentReply {
    pub(super) status: String,
    pub(super) base_coin: String,
    pub(super) quote_coin: String,
    price_filter: PriceFilter,
    lot_size_filter: LotSizeFilter,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceFilter {
    tick_size: Decimal,
}

/// Spot lists `basePrecision` and `minOrderAmt`; linear `qtyStep` and
/// `minNotionalValue`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LotSizeFilter {
    min_order_qty: Decimal,
    base_precision: Option<Decimal>,
    qty_step: Option<Decimal>,
    min_order_amt: Option<Decimal>,
    min_notional_value: Option<Decimal>,
}

impl InstrumentReply {
    /// The instrument's rules; an answer without a lot step is unusable.
    pub(super) fn rules(&self) -> Result<InstrumentRules, String> {
        let lot = &self.lot_size_filter;
        let lot_size = lot
            .base_precision
            .or(lot.qty_step)
            .ok_or("Bybit listed no basePrecision or qtyStep")?;
        Ok(InstrumentRules {
            tick_size: self.price_filter.tick_size,
            lot_size,
            min_quantity: lot.min_order_qty,
            min_notional: lot
                .min_order_amt
                .or(lot.min_notional_value)
                .unwrap_or(Decimal::ZERO),
        })
    }
}

/// A position from `/v5/position/list`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PositionReply {
    pub(super) symbol: String,
    pub(super) side: String,
    pub(super) size: Decimal,
    #[serde(deserialize_with = "decimal_or_zero")]
    pub(super) avg_price: Decimal,
    #[serde(deserialize_with = "optional_decimal")]
    pub(super) mark_price: Option<Decimal>,
    #[serde(deserialize_with = "decimal_or_zero")]
    pub(super) unrealised_pnl: Decimal,
    #[serde(deserialize_with = "decimal_or_zero")]
    pub(super) cum_realised_pnl: Decimal,
    pub(super) leverage: Decimal,
    #[serde(rename = "positionIM", deserialize_with = "decimal_or_zero")]
    pub(super) position_im: Decimal,
    #[serde(deserialize_with = "optional_decimal")]
    pub(super) liq_price: Option<Decimal>,
    pub(super) trade_mode: i64,
    /// 0 one-way; in hedge mode 1 the long side, 2 the short.
    #[serde(default)]
    pub(super) position_idx: i64,
    /// The position's TP/SL; `""` or `0` when none is set.
    #[serde(default, deserialize_with = "optional_decimal")]
    pub(super) take_profit: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub(super) stop_loss: Option<Decimal>,
}

/// A decimal sent as text, `""` for none.
fn optional_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// A decimal sent as text, `""` meaning zero (a quantity or fee not yet
/// accrued).
fn decimal_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    Ok(optional_decimal(d)?.unwrap_or(Decimal::ZERO))
}

/// An integer sent as text (Bybit's millisecond times).
fn number_text<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    String::deserialize(d)?
        .parse()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_and_linear_filters_become_rules() {
        let spot: InstrumentReply = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT",
                "lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.00000001","minOrderQty":"0.000048","maxOrderQty":"71","minOrderAmt":"1","maxOrderAmt":"2000000"},
                "priceFilter":{"tickSize":"0.01"}}"#,
        )
        .expect("parses");
        let rules = spot.rules().expect("rules");
        assert_eq!(rules.lot_size, Decimal::new(1, 6));
        assert_eq!(rules.min_notional, Decimal::ONE);
        let linear: InstrumentReply = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT",
                "lotSizeFilter":{"maxOrderQty":"1190","minOrderQty":"0.001","qtyStep":"0.001","minNotionalValue":"5"},
                "priceFilter":{"minPrice":"0.10","maxPrice":"199999.80","tickSize":"0.10"}}"#,
        )
        .expect("parses");
        let rules = linear.rules().expect("rules");
        assert_eq!(
            (rules.lot_size, rules.tick_size),
            (Decimal::new(1, 3), Decimal::new(1, 1))
        );
        assert_eq!(rules.min_notional, Decimal::from(5));
    }

    #[test]
    fn an_unfamiliar_status_is_unknown_not_a_guess() {
        let order: OrderReply =
            serde_json::from_str(r#"{"orderId":"1","orderStatus":"Frozen","cumExecQty":""}"#)
                .expect("parses");
        assert_eq!(order.view().status, OrderStatus::Unknown);
        assert!(order.view().reason.contains("Frozen"));
    }
}
