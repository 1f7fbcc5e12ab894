//! Binance's JSON answers and how they become tradeplane's views.

use crate::model::order::OrderStatus;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::orders::exchanges::{ExchangeOrder, Fill, InstrumentRules};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderReply {
    pub(super) order_id: i64,
    pub(super) status: String,
    pub(super) executed_qty: Decimal,
    #[serde(default)]
    pub(super) fills: Vec<FillReply>,
    #[serde(default)]
    pub(super) transact_time: i64,
    #[serde(default)]
    pub(super) update_time: i64,
}

impl OrderReply {
    pub(super) fn view(&self) -> ExchangeOrder {
        let (status, reason) = match self.status.as_str() {
            "NEW" | "PENDING_NEW" | "PENDING_CANCEL" => (OrderStatus::Submitted, ""),
            "PARTIALLY_FILLED" => (OrderStatus::PartiallyFilled, ""),
            "FILLED" => (OrderStatus::Filled, ""),
            "CANCELED" => (OrderStatus::Canceled, ""),
            "EXPIRED" | "EXPIRED_IN_MATCH" => (OrderStatus::Canceled, "expired at Binance"),
            "REJECTED" => (OrderStatus::Rejected, "rejected by Binance"),
            _ => (
                OrderStatus::Unknown,
                "Binance reported an unfamiliar status",
            ),
        };
        let time_ms = self.transact_time.max(self.update_time);
        ExchangeOrder {
            exchange_order_id: self.order_id.to_string(),
            status,
            fills: self
                .fills
                .iter()
                .map(|f| Fill {
                    trade_id: f.trade_id.to_string(),
                    quantity: f.qty,
                    price: f.price,
                    fee: f.commission,
                    fee_asset: f.commission_asset.clone(),
                    time_ms,
                })
                .collect(),
            reason: reason.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FillReply {
    pub(super) price: Decimal,
    pub(super) qty: Decimal,
    pub(super) commission: Decimal,
    pub(super) commission_asset: String,
    pub(super) trade_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TradeReply {
    pub(super) id: i64,
    pub(super) price: Decimal,
    pub(super) qty: Decimal,
    pub(super) commission: Decimal,
    pub(super) commission_asset: String,
    pub(super) time: i64,
}

impl TradeReply {
    pub(super) fn fill(self) -> Fill {
        Fill {
            trade_id: self.id.to_string(),
            quantity: self.qty,
            price: self.price,
            fee: self.commission,
            fee_asset: self.commission_asset,
            time_ms: self.time,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct AccountReply {
    pub(super) balances: Vec<BalanceReply>,
}

#[derive(Deserialize)]
pub(super) struct BalanceReply {
    pub(super) asset: String,
    pub(super) free: Decimal,
    pub(super) locked: Decimal,
}

#[derive(Deserialize)]
pub(super) struct TickerReply {
    pub(super) price: Decimal,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExchangeInfoReply {
    #[serde(default)]
    pub(super) rate_limits: Vec<RateLimitReply>,
    pub(super) symbols: Vec<SymbolReply>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RateLimitReply {
    pub(super) rate_limit_type: String,
    pub(super) interval: String,
    pub(super) interval_num: u64,
    pub(super) limit: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SymbolReply {
    pub(super) symbol: String,
    pub(super) status: String,
    pub(super) base_asset: String,
    pub(super) quote_asset: String,
    filters: Vec<FilterReply>,
}

impl SymbolReply {
    pub(super) fn rules(&self) -> InstrumentRules {
        let mut rules = InstrumentRules {
            tick_size: Decimal::ZERO,
            lot_size: Decimal::ZERO,
            min_quantity: Decimal::ZERO,
            min_notional: Decimal::ZERO,
        };
        for filter in &self.filters {
            match filter {
                FilterReply::PriceFilter { tick_size } => rules.tick_size = *tick_size,
                FilterReply::LotSize { step_size, min_qty } => {
                    rules.lot_size = *step_size;
                    rules.min_quantity = *min_qty;
                }
                FilterReply::Notional { min_notional }
                | FilterReply::MinNotional { min_notional } => {
                    rules.min_notional = *min_notional;
                }
                FilterReply::Other => {}
            }
        }
        rules
    }
}

#[derive(Deserialize)]
#[serde(tag = "filterType")]
enum FilterReply {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    PriceFilter { tick_size: Decimal },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        step_size: Decimal,
        min_qty: Decimal,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional { min_notional: Decimal },
    /// Spot's older filter calls it `minNotional`, USDⓈ-M's `notional`.
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        #[serde(alias = "notional")]
        min_notional: Decimal,
    },
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_rules() {
        let info: ExchangeInfoReply = serde_json::from_str(
            r#"{"rateLimits":[],"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[
                {"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"1000000","tickSize":"0.01"},
                {"filterType":"LOT_SIZE","minQty":"0.00001","maxQty":"9000","stepSize":"0.00001"},
                {"filterType":"ICEBERG_PARTS","limit":10},
                {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true}]}]}"#,
        )
        .expect("parses");
        let rules = info.symbols[0].rules();
        assert_eq!(rules.tick_size, Decimal::new(1, 2));
        assert_eq!(rules.lot_size, Decimal::new(1, 5));
        assert_eq!(rules.min_quantity, Decimal::new(1, 5));
        assert_eq!(rules.min_notional, Decimal::from(5));
    }
}
